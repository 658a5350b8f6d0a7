from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from creditscore import aws
from creditscore.cli import main
from creditscore.config import Settings, endpoint_environment
from etl import ingest
from etl.sources import CUSTOMERS, DIRTY_ROWS_FILE, SOCIAL, SOURCES, TRANSACTIONS
from etl.synthetic import generate

DAY = date(2026, 11, 2)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    generate(out, customers=300, seed=7, progress=False)
    return out


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in endpoint_environment(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CREDITSCORE_PROJECT", settings.project)
    monkeypatch.setenv("CREDITSCORE_ENV", settings.env)


def _object(settings: Settings, key: str) -> bytes:
    body: bytes = aws.client("s3", settings).get_object(Bucket=settings.raw_bucket, Key=key)["Body"].read()
    return body


def test_ingest_round_trips_byte_identical_objects_under_the_documented_keys(
    generated: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, settings)
    assert main(["ingest", str(generated), "--ingest-date", DAY.isoformat()]) == 0
    for source in SOURCES:
        key = f"{source.name}/ingest_date=2026-11-02/{source.file_name}"
        assert _object(settings, key) == (generated / source.file_name).read_bytes()
    keys = [key for key, _ in ingest.list_objects(aws.client("s3", settings), settings.raw_bucket)]
    assert len(keys) == 3, "metadata files such as the dirty-row sidecar are not ingested"
    assert capsys.readouterr().out.count("uploaded") == 3

    assert main(["ingest", str(generated), "--ingest-date", DAY.isoformat()]) == 0
    assert capsys.readouterr().out.count("unchanged") == 3


def test_a_changed_file_replaces_the_object(tmp_path: Path, generated: Path, settings: Settings) -> None:
    s3 = aws.client("s3", settings)
    path = tmp_path / SOCIAL.file_name
    path.write_bytes((generated / SOCIAL.file_name).read_bytes())
    first = ingest.upload(s3, settings.raw_bucket, ingest.describe(path, ingest.check_file(path)), DAY)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    second = ingest.upload(s3, settings.raw_bucket, ingest.describe(path, ingest.check_file(path)), DAY)
    assert (first.status, second.status) == ("uploaded", "replaced")
    assert _object(settings, second.key) == path.read_bytes()


def test_multipart_upload_is_verified_against_the_composite_checksum(
    tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / TRANSACTIONS.file_name
    row = "t00000001,001085012345,2026-01-02 10:00:00,150000,debit,groceries,2500000\n"
    with path.open("w") as handle:
        handle.write(TRANSACTIONS.header + "\n")
        handle.write(row * (11 * 1024 * 1024 // len(row)))
    part_bytes = 5 * 1024 * 1024
    local = ingest.describe(path, ingest.check_file(path), part_bytes=part_bytes)
    assert local.size > 2 * part_bytes
    landed = ingest.upload(aws.client("s3", settings), settings.raw_bucket, local, DAY)
    assert landed.status == "uploaded"
    assert _object(settings, landed.key) == path.read_bytes()


def test_unknown_names_and_wrong_headers_are_refused_and_nothing_lands_for_them(
    tmp_path: Path,
    generated: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch, settings)
    (tmp_path / CUSTOMERS.file_name).write_bytes((generated / CUSTOMERS.file_name).read_bytes())
    (tmp_path / "loans.csv").write_text("id,amount\n1,2\n")
    (tmp_path / SOCIAL.file_name).write_text(SOCIAL.header.replace("num_connections", "friends") + "\n")
    (tmp_path / DIRTY_ROWS_FILE).write_text("source,line,key,kind\n")

    assert main(["ingest", str(tmp_path), "--ingest-date", DAY.isoformat()]) == 1
    err = capsys.readouterr().err
    assert "loans.csv: unknown file name" in err
    assert "social.csv: header does not match" in err
    assert "missing ['num_connections'], unexpected ['friends']" in err
    keys = [key for key, _ in ingest.list_objects(aws.client("s3", settings), settings.raw_bucket)]
    assert keys == ["customers/ingest_date=2026-11-02/customers.csv"]


def test_a_reordered_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / SOCIAL.file_name
    path.write_text(",".join(reversed(SOCIAL.columns)) + "\n")
    with pytest.raises(ingest.IngestError, match="columns out of order"):
        ingest.check_file(path)


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ingest.IngestError, match="no files to ingest"):
        ingest.source_files(tmp_path)
