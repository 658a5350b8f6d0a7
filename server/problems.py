"""Error answers as ``application/problem+json`` (RFC 9457): one exception type, raised anywhere in a
handler and rendered by the error middleware, so every refusal has the same shape and a request id.

Messages name the field and what it must look like; they never echo the value sent, which may be a
national ID, an email or a phone number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from server.batching import UnscorableRows
from server.schemas import FORMATS, FieldProblem, Problem

CONTENT_TYPE: Final = "application/problem+json"
TYPE_BASE: Final = "https://creditscore.local/problems/"
#: Field problems listed in one answer, and fields named in its detail: a body of 1,000 bad rows gets a
#: short answer (the rest are counted in ``more_errors``), whatever it costs to find them.
MAX_LISTED: Final = 50
MAX_NAMED: Final = 10

TITLES: Final = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class ProblemError(Exception):
    """An answer other than success; ``slug`` becomes the problem ``type``."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        errors: Sequence[FieldProblem] = (),
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = list(errors[:MAX_LISTED])
        self.headers = headers or {}
        self.extra = extra

    def response(self, request_id: str) -> web.Response:
        problem = Problem(
            type=TYPE_BASE + self.slug,
            title=TITLES.get(self.status, "Error"),
            status=self.status,
            detail=self.detail,
            request_id=request_id,
            errors=self.errors,
            **self.extra,
        )
        return web.Response(
            status=self.status,
            body=json.dumps(problem.model_dump(mode="json", exclude_none=True)).encode(),
            content_type=CONTENT_TYPE,
            headers=self.headers,
        )


def _field(location: Sequence[int | str]) -> str:
    """``('rows', 3, 'income')`` → ``rows[3].income``; the whole body is ``body``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _message(error: Any) -> str:
    field = error["loc"][-1] if error["loc"] else None
    if error["type"] == "string_pattern_mismatch" and field in FORMATS:
        return f"must be {FORMATS[field]}"
    if error["type"] == "extra_forbidden":
        return "is not a field of this request"
    if error["type"] == "missing":
        return "is required"
    return str(error["msg"])


def invalid(error: ValidationError, where: str = "request body") -> ProblemError:
    """A 422 naming the bad fields of a pydantic validation failure (the first :data:`MAX_LISTED`)."""
    listed = error.errors(include_url=False, include_context=False, include_input=False)[:MAX_LISTED]
    problems = [FieldProblem(field=_field(e["loc"]), message=_message(e)) for e in listed]
    return invalid_fields(problems, error.error_count(), where)


def invalid_fields(problems: Sequence[FieldProblem], total: int, where: str) -> ProblemError:
    """A 422 listing ``problems``, the first of ``total``; its detail names the first few fields."""
    fields = list(dict.fromkeys(p.field for p in problems))
    named = ", ".join(fields[:MAX_NAMED])
    if total > MAX_NAMED:
        named += f" and {total - min(len(fields), MAX_NAMED)} more"
    more = total - len(problems[:MAX_LISTED]) if total > MAX_LISTED else None
    detail = f"The {where} has invalid fields: {named}"
    return ProblemError(422, "invalid-input", detail, problems, more_errors=more)


def unscorable(error: UnscorableRows, field: str | None = None) -> ProblemError:
    """A 422 for rows a model cannot score (``field`` names the one row of a form, else rows[i])."""
    problems = [
        FieldProblem(field=field or f"rows[{row}]", message=f"cannot be scored: {error.why}")
        for row in error.rows
    ]
    return invalid_fields(problems, len(problems), "request body")
