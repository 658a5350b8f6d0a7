from __future__ import annotations

import hashlib
import json

import pytest
import structlog

from creditscore.config import load_settings
from creditscore.logs import configure_logging, mask_pii, pseudonym


def test_json_lines_never_carry_raw_ids_emails_or_phones(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings({"CREDITSCORE_LOG_FORMAT": "json"}))
    structlog.get_logger().info(
        "customer 001085012345 scored", email="an.nguyen12@gmail.com", phone="0912345678", rows=123456789012
    )
    line = capsys.readouterr().err.strip()
    record = json.loads(line)
    assert record["event"] == "customer <redacted> scored"
    assert record["email"] == record["phone"] == "<redacted>"
    assert record["rows"] == 123456789012, "numbers are not identifiers and stay as they are"
    assert record["level"] == "info" and "timestamp" in record


def test_mask_and_pseudonym() -> None:
    assert mask_pii("id 123456789 and +84912345678, 12 rows") == "id <redacted> and <redacted>, 12 rows"
    assert mask_pii("id=079123456789;") == "id=<redacted>;"
    request_id = "60da2399bca123456789d62ed16baaaf"  # a uuid4 hex holding a 9-digit run
    assert mask_pii(f"request_id={request_id}") == f"request_id={request_id}"
    key = b"a" * 32
    assert pseudonym("001085012345", key) == pseudonym("001085012345", key) != pseudonym("001085012346", key)
    assert "001085012345" not in pseudonym("001085012345", key)


def test_a_pseudonym_cannot_be_undone_without_the_key() -> None:
    """Hashing every 9-digit ID undoes an unkeyed hash in minutes; the HMAC's key is what stops it."""
    national_id = "001085012345"
    tag = pseudonym(national_id, b"the service's secret, 32 chars.")
    for guess_key in (b"", b"0" * 32, b"the service's secret, 32 chars!"):
        assert pseudonym(national_id, guess_key) != tag
    assert hashlib.sha256(national_id.encode()).hexdigest()[: len(tag)] != tag
