"""``models challenge`` and ``models compare``: a model's challenger set, cleared, promoted and judged.

The figures ``compare`` prints are read back from the score-history table, where the service records a
shadow challenger's score beside the champion's (``challengers``) and names the version that decided a split
customer's score (``models.{model}.role``): the same comparison the service's metrics count
(:class:`creditscore.domain.challenger.Agreement`), over every host, for any past window.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from creditscore import aws
from creditscore.config import Settings
from creditscore.console import print_table
from creditscore.domain.challenger import CHALLENGER, Agreement
from creditscore.domain.identity import RESERVED_PREFIX
from creditscore.domain.storage import HISTORY_SORT_KEY
from creditscore.errors import JobError

if TYPE_CHECKING:
    from plugins.registry import Registry

_DESERIALIZER = TypeDeserializer()


@dataclass
class Comparison:
    """One challenger version's record over the window: shadow agreement and split answers."""

    shadow: Agreement = field(default_factory=Agreement)
    split_answers: int = 0


def cmd_models_challenge(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Registry

    registry = Registry.from_settings(settings)
    if (args.clear or args.promote) and (args.version, args.share, args.mode) != (None, None, None):
        raise JobError("--clear and --promote take the MODEL only (no VERSION, --mode or --share)")
    if args.clear:
        cleared = registry.clear_challenger(args.model)
        print(f"{args.model}: " + (f"challenger {cleared.version} cleared" if cleared else "no challenger"))
        return 0
    if args.promote:
        return _promote(registry, args, settings)
    if args.version is None:
        current = registry.challenger(args.model)
        if current is None:
            print(f"{args.model}: no challenger")
        else:
            print(f"{args.model}: challenger {current.version}, {_mode(current.mode, current.share)}")
        return 0
    record = registry.set_challenger(args.model, args.version, args.mode or "shadow", args.share)
    print(
        f"{args.model}: challenger {record.version}, {_mode(record.mode, record.share)}; the service picks "
        f"it up within CREDITSCORE_MODEL_POLL_SECONDS (or POST /admin/models/reload)"
    )
    return 0


def _promote(registry: Registry, args: argparse.Namespace, settings: Settings) -> int:
    challenger = registry.challenger(args.model)
    if challenger is None:
        raise JobError(f"{args.model} has no challenger to promote")
    # The figures the decision was taken on are recorded with it; a history that cannot be read (yet)
    # does not stop a promotion, it is recorded as such.
    figures: dict[str, Any]
    try:
        found = compare(settings, args.model, args.hours).get(str(challenger.version), Comparison())
        figures = {
            "hours": args.hours,
            **found.shadow.figures(),
            "split_answers": found.split_answers,
        }
    except JobError as error:
        figures = {"hours": args.hours, "unavailable": str(error)}
        print(f"warning: promoting without figures: {error}", file=sys.stderr)
    decision = registry.promote_challenger(args.model, args.by or getpass.getuser(), figures)
    print(
        f"{args.model}: challenger {decision.promoted} promoted to current "
        f"(was {decision.replaced or 'none'}), by {decision.by}; recorded in "
        f"s3://{settings.models_bucket}/{args.model}/decisions/. "
        f"To undo: creditscore models rollback {args.model}"
    )
    return 0


def _mode(mode: str, share: float) -> str:
    return "shadow (scores every request beside the champion)" if mode == "shadow" else f"split {share:g}"


def cmd_models_compare(args: argparse.Namespace, settings: Settings) -> int:
    found = compare(settings, args.model, args.hours)
    if not found:
        print(f"{args.model}: no score records with a challenger in the last {args.hours} h")
        return 0
    rows = [
        (
            args.model,
            version,
            str(c.shadow.compared),
            _percent(c.shadow.band_agreement),
            _number(c.shadow.mean_difference, "{:.1f}"),
            _number(None if c.shadow.mean_latency is None else c.shadow.mean_latency * 1000, "{:.2f}"),
            str(c.split_answers),
        )
        for version, c in sorted(found.items())
    ]
    print_table(
        [
            "model",
            "challenger",
            "compared (shadow)",
            "band agreement",
            "mean |score diff|",
            "challenger ms",
            "split answers",
        ],
        rows,
    )
    return 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)


def compare(settings: Settings, model: str, hours: int) -> dict[str, Comparison]:
    """``model``'s challengers over the last ``hours`` of score records, by challenger version."""
    found: dict[str, Comparison] = defaultdict(Comparison)
    for item in _records(settings, model, hours):
        champion = (item.get("models") or {}).get(model) or {}
        if champion.get("role") == CHALLENGER:
            found[str(champion.get("version"))].split_answers += 1
        shadow = (item.get("challengers") or {}).get(model)
        if shadow and "score" in champion and champion.get("role") != CHALLENGER:
            seconds = shadow.get("seconds")
            found[str(shadow.get("version"))].shadow.add(
                float(champion["score"]),
                float(shadow["score"]),
                None if seconds is None else float(seconds),
            )
    return dict(found)


def _records(settings: Settings, model: str, hours: int) -> Iterator[Mapping[str, Any]]:
    """Score records of the window in which ``model`` had a challenger: a filtered Scan, fine for an
    operator's command (the service never scans)."""
    since = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="seconds").replace("+00:00", "Z")
    dynamodb = aws.client("dynamodb", settings)
    request: dict[str, Any] = {
        "TableName": settings.score_history_table,
        "FilterExpression": (
            "NOT begins_with(national_id, :reserved) AND #sk >= :since "
            "AND (attribute_exists(challengers.#model) OR models.#model.#role = :challenger)"
        ),
        "ExpressionAttributeNames": {"#sk": HISTORY_SORT_KEY, "#model": model, "#role": "role"},
        "ExpressionAttributeValues": {
            ":reserved": {"S": RESERVED_PREFIX},
            ":since": {"S": since},
            ":challenger": {"S": CHALLENGER},
        },
        "ProjectionExpression": "models.#model, challengers.#model",
    }
    try:
        for page in dynamodb.get_paginator("scan").paginate(**request):
            for item in page.get("Items", []):
                yield {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}
    except (ClientError, BotoCoreError) as error:
        raise JobError(f"cannot read the score history {settings.score_history_table}: {error}") from None
