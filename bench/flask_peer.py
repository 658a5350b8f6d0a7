"""The peer the benchmark measures the service against: the seed's design, a Flask app with boto3 under
gunicorn's sync workers, serving the same two seed endpoints on the same tables with the same models.

    gunicorn bench.flask_peer:app -w 2 -b 127.0.0.1:PORT      # started by bench.service --peer

The seed's logic, nothing more: read the customer, predict, write the customer. It keeps no history, claims
no contacts, validates little and runs one request per worker at a time, so it does less work per request
than the service: the ratio it gives is the service's advantage net of everything the service does more.
Models come from the models bucket through the same verified loader the service uses, so the peer scores
with the very same versions. Settings come from the same ``CREDITSCORE_*`` variables.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import boto3
import numpy as np
from flask import Flask, jsonify, request

from creditscore import aws
from creditscore.config import load_settings
from creditscore.domain import storage
from creditscore.domain.features import GROUPS, application_features
from creditscore.domain.scores import Scaling, band, combine
from creditscore.plugin import Model
from plugins.manager import installed
from plugins.registry import Registry

FORM_FLAGS: Final = {
    "has_dependents": "cat_dependents",
    "has_mortgage": "cat_mortgage",
    "has_savings_account": "cat_savings_account",
    "has_credit_card": "cat_credit_card",
}

settings = load_settings()
table = boto3.resource("dynamodb", **aws.client_kwargs(settings, "dynamodb")).Table(settings.customers_table)


def _load(name: str) -> tuple[Model, tuple[str, ...], Scaling]:
    manifest, model = Registry.from_settings(settings).load(installed()[name])
    return model, manifest.features, manifest.scaling or Scaling.from_settings(settings)


models = {name: _load(name) for name in settings.models}
app = Flask(__name__)


def _score(name: str, row: dict[str, float]) -> int:
    model, features, scaling = models[name]
    return scaling.score(float(model.predict_pd(np.array([[row[f] for f in features]], dtype=np.float64))[0]))


def _flag(value: Any) -> float:
    return 1.0 if value in (True, "Yes", "yes") else 0.0


@app.get("/health")
def health() -> Any:
    return jsonify({"status": "ok"})


@app.post("/api/v1/predict-new-customer")
def predict_new_customer() -> Any:
    form = request.get_json()
    if table.get_item(Key={"national_id": form["national_id"]}).get("Item"):
        return jsonify({"error": "customer exists"}), 409
    fields: dict[str, Any] = {name: [float(form[name])] for name in ("income", "savings", "debt")}
    fields |= {feature: [_flag(form.get(field))] for feature, field in FORM_FLAGS.items()}
    row = {name: float(values[0]) for name, values in application_features(fields).items()}
    score = _score(settings.new_customer_model, row)
    item = {
        **{name: form[name] for name in ("national_id", "full_name", "email", "phone_number")},
        "application": {name: Decimal(repr(value)) for name, value in row.items()},
        "last_score": score,
    }
    table.put_item(Item=item)
    return jsonify({"predicted_score": score, "predicted_group": band(score)})


@app.post("/api/v1/predict-existing-customer")
def predict_existing_customer() -> Any:
    body = request.get_json()
    if "national_id" in body:
        item = table.get_item(Key={"national_id": body["national_id"]}).get("Item")
    else:
        field = "email" if "email" in body else "phone_number"
        index = storage.EMAIL_INDEX if field == "email" else storage.PHONE_INDEX
        found = table.query(IndexName=index, KeyConditionExpression=f"{field} = :v",
                            ExpressionAttributeValues={":v": body[field]})["Items"]  # fmt: skip
        item = found[0] if found else None
    if item is None:
        return jsonify({"error": "not found"}), 404
    row = {name: float(value) for group in GROUPS for name, value in (item.get(group) or {}).items()}
    scores = {name: _score(name, row) for name, _ in settings.existing_customer_models}
    score = combine(scores, dict(settings.existing_customer_models))
    table.update_item(
        Key={"national_id": item["national_id"]},
        UpdateExpression="SET last_score = :score",
        ExpressionAttributeValues={":score": score},
    )
    return jsonify({"predicted_score": score, "predicted_group": band(score), "model_scores": scores})
