"""structlog, configured in one place: JSON lines in production, a readable console locally.

A last-line-of-defence processor masks anything shaped like a national ID, email address or phone number
in string values, so a careless log call cannot leak personal data; code should still log
:func:`pseudonym` values rather than raw identifiers.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

from creditscore.config import Settings

_EMAIL_RE: Final = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# 9- or 12-digit national IDs and 10/11-digit phone numbers (with or without +84): any long digit run
# standing on its own. Digits inside a hex token (a request id) are not an identifier and stay readable.
_DIGITS_RE: Final = re.compile(r"(?<![\dA-Za-z])\+?\d{9,12}(?![\dA-Za-z])")


def pseudonym(value: str, key: bytes) -> str:
    """A stable tag for an identifier, safe to log and to correlate log lines by: an HMAC under a secret
    ``key`` (``CREDITSCORE_PSEUDONYM_KEY``), since a plain hash of a 9- or 12-digit national ID is undone by
    hashing every possible ID."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def mask_pii(text: str) -> str:
    return _DIGITS_RE.sub("<redacted>", _EMAIL_RE.sub("<redacted>", text))


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = mask_pii(value)
    return event_dict


def _stderr_logger(*_: Any) -> structlog.PrintLogger:
    # sys.stderr is looked up per logger, not once: test runners and daemons swap it after configuration.
    return structlog.PrintLogger(sys.stderr)


def configure_logging(settings: Settings) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, settings.log_level)),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
