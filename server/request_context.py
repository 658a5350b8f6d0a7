"""What the middleware and the handlers leave on a request for each other: which client asked (for the
records the request writes) and which customer it is about (for its log line)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from creditscore.logs import pseudonym
from server.service import service

#: Where :func:`server.middleware.authenticate` leaves the accepted key's id for the records written.
API_KEY_ID: Final = "api_key_id"


def log_customer(request: web.Request, national_id: str) -> None:
    """The request's log line names the customer by keyed pseudonym, never by national ID."""
    request["customer"] = pseudonym(national_id, service(request).settings.pseudonym_key)
