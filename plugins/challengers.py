"""``{model}/challenger.json`` and ``{model}/decisions/``: a model's challenger as the registry stores it.

Beside the current-version pointer (the champion), a model may name one challenger version::

    s3://{models}/{model}/challenger.json        {"version", "mode", "share", "updated_at"}
    s3://{models}/{model}/decisions/{time}.json  one promotion: who, when, from, to, the figures

Clearing writes the record with ``"version": null`` rather than deleting it, so clearing goes through the
same compare-and-swap as setting and two operators can never silently undo each other. A decision is
written once (``If-None-Match: *``) and never changed: the audit trail of who promoted what on which figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from creditscore.domain.challenger import MODES, Mode
from plugins.artifacts import VERSION_RE, ArtifactError

CHALLENGER_FILE: Final = "challenger.json"
DECISIONS_FOLDER: Final = "decisions"


@dataclass(frozen=True)
class Challenger:
    """A model's challenger: ``version`` None when cleared. ``share`` is the split's share of customers
    (1.0 in shadow mode, where every request is scored by both)."""

    version: str | None
    mode: Mode
    share: float
    updated_at: str

    def to_json(self) -> bytes:
        document = {
            "version": self.version,
            "mode": self.mode,
            "share": self.share,
            "updated_at": self.updated_at,
        }
        return json.dumps(document, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str = CHALLENGER_FILE) -> Challenger:
        try:
            document = json.loads(data)
            version, mode, share = document["version"], document["mode"], float(document["share"])
            updated_at = str(document["updated_at"])
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
            raise ArtifactError(f"{where} is malformed: {error!r}") from None
        if version is not None and not (isinstance(version, str) and VERSION_RE.match(version)):
            raise ArtifactError(f"{where} names a malformed version: {version!r}")
        if mode not in MODES or not 0 < share <= 1:
            raise ArtifactError(f"{where}: mode must be one of {MODES} and share in (0, 1]; got {document!r}")
        return cls(version, cast(Mode, mode), share, updated_at)


@dataclass(frozen=True)
class Decision:
    """One promotion of a challenger, as recorded."""

    model: str
    promoted: str
    replaced: str | None
    mode: Mode
    by: str
    at: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        document = {
            "model": self.model,
            "promoted": self.promoted,
            "replaced": self.replaced,
            "mode": self.mode,
            "by": self.by,
            "at": self.at,
            "figures": dict(self.figures),
        }
        return json.dumps(document, indent=2).encode()


def challenger_key(model: str) -> str:
    return f"{model}/{CHALLENGER_FILE}"


def decision_key(model: str, at: str, version: str) -> str:
    # The time first, so a listing reads oldest first; the version makes two promotions in a second distinct.
    return f"{model}/{DECISIONS_FOLDER}/{at}-{version}.json"
