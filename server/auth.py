"""API keys: made by ``creditscore apikey new``, configured as sha256 hashes, checked in constant time.

The service never holds a key, only its sha256 (``CREDITSCORE_API_KEYS``), so a leaked configuration or
log grants nothing. A presented key is hashed and compared with every configured hash with
``hmac.compare_digest`` — all of them, whatever matches — so timing tells nothing about which or how much.
Keys are 256 random bits: a plain hash is enough, no password stretching needed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Final

from creditscore.config import SCOPES, ApiKey

KEY_PREFIX: Final = "cs_"
_BEARER: Final = "bearer "


def new_key(scopes: Iterable[str], name: str = "") -> tuple[str, str]:
    """A fresh key and its ``CREDITSCORE_API_KEYS`` entry (``sha256hex:scope[+scope][:name]``)."""
    chosen = sorted(set(scopes))
    unknown = set(chosen) - set(SCOPES)
    if not chosen or unknown:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(chosen) or 'none'}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    entry = f"{hash_key(key)}:{'+'.join(chosen)}"
    return key, f"{entry}:{name}" if name else entry


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def presented_key(api_key_header: str | None, authorization: str | None) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer <key>``, if either is there."""
    if api_key_header:
        return api_key_header.strip()
    if authorization and authorization[: len(_BEARER)].lower() == _BEARER:
        return authorization[len(_BEARER) :].strip()
    return None


def entry_of(key: str, keys: Iterable[ApiKey]) -> ApiKey | None:
    """The configured entry of ``key`` (its scopes and id), or None when ``key`` is not one of them."""
    digest = hash_key(key).encode()
    found: ApiKey | None = None
    for entry in keys:
        if hmac.compare_digest(digest, entry.sha256.encode()):
            found = entry
    return found
