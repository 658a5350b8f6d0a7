"""Strict JSON parsing for what clients send: RFC 8259 JSON, and nothing the standard library lets through.

``json.loads`` accepts ``NaN`` and ``Infinity``, keeps the last of repeated keys (so two readers of one body
can disagree on its meaning) and lets a document nested a few thousand levels deep end in a RecursionError.
:func:`parse` refuses all three with :class:`MalformedJson`, whose message says what was wrong without
echoing what was sent.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

# A key is named in the message only when it looks like a field name: anything else the client typed may
# be personal data.
_FIELD_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class MalformedJson(ValueError):
    """The body is not strict JSON; the message says why, never echoing a value."""


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return document


def _no_constant(name: str) -> Any:
    raise MalformedJson(f"it holds {name}, which is not a JSON number")


def parse(raw: bytes | str) -> Any:
    try:
        return json.loads(raw, object_pairs_hook=_unique, parse_constant=_no_constant)
    except _RepeatedKey as repeated:
        named = f"the key {repeated.key!r}" if _FIELD_NAME.match(repeated.key) else "a key"
        raise MalformedJson(f"an object repeats {named}") from None
    except RecursionError:
        raise MalformedJson("it is nested too deeply") from None
    except MalformedJson:
        raise
    except (ValueError, UnicodeDecodeError):
        raise MalformedJson("it is not valid JSON") from None
