"""The OpenAPI 3.1 document, generated from the route table and the pydantic schemas.

OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what pydantic emits, so the request and response
models are the documentation: they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.problems import CONTENT_TYPE as PROBLEM_TYPE
from server.problems import TITLES
from server.routes import METRICS_SCOPE, Route
from server.schemas import Problem

_REF: Final = "#/components/schemas/{model}"


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_TYPE: {"schema": {"$ref": _ref(Problem)}}}}


def _ref(model: type[BaseModel]) -> str:
    return _REF.format(model=model.__name__)


def _operation(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if route.response is not None:
        content = {"application/json": {"schema": {"$ref": _ref(route.response)}}}
        responses["200"] = {"description": "Success", "content": content}
    else:
        # A JSON answer without a model is a document of its own (this one); every other is text.
        schema = {"type": "object"} if route.produces == "application/json" else {"type": "string"}
        responses["200"] = {"description": "Success", "content": {route.produces: {"schema": schema}}}
    errors = route.statuses()
    errors[500] = "Unexpected error; the answer carries the request id, never details"
    for status, description in sorted(errors.items()):
        responses[str(status)] = _problem(f"{TITLES.get(status, 'Error')}: {description}")
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": route.handler.__name__,
        "parameters": list(route.parameters),
        "responses": responses,
    }
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _ref(route.request)}}},
        }
    if route.scope == METRICS_SCOPE:
        operation["security"] = [{}, {"apiKey": []}, {"bearer": []}]
        operation["description"] = (
            "Open unless CREDITSCORE_METRICS_PUBLIC=false, then the metrics (or admin) scope."
        )
    elif route.scope is not None:
        operation["security"] = [{"apiKey": []}, {"bearer": []}]
        operation["description"] = f"Needs an API key with the `{route.scope}` scope."
    else:
        operation["security"] = []
    return operation


def document(routes: Sequence[Route], version: str) -> dict[str, Any]:
    models = {Problem} | {m for r in routes for m in (r.request, r.response) if m is not None}
    _, schemas = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)], ref_template=_REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "creditscore scoring service",
            "version": version,
            "description": "Credit scores (300-850) with their FICO band for new applicants and existing "
            "customers. Errors are application/problem+json (RFC 9457) naming every bad field.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
