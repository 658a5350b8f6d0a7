from __future__ import annotations

from pathlib import Path

import pytest

from creditscore.cli import main
from creditscore.cli.demo import DEMO_DIRTY_SHARE, DEMO_MONTHS, reusable_data
from creditscore.config import load_settings
from etl.synthetic import generate
from server.auth import entry_of


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ingest", "/no/such/dir"], "no such directory: /no/such/dir"),
        (["generate", "--customers", "0", "--out", "x"], "--customers: must be greater than 0, got 0"),
        (["generate", "--customers", "-5", "--out", "x"], "--customers: must be greater than 0, got -5"),
        (
            ["generate", "--customers", "many", "--out", "x"],
            "--customers: expected a whole number, got 'many'",
        ),
        (["generate", "--customers", "10"], "the following arguments are required: --out"),
        (
            ["generate", "--customers", "10", "--out", "x", "--dirty-share", "2"],
            "--dirty-share: must be from 0",
        ),
        (["generate", "--customers", "10", "--out", "x", "--months", "36"], "--months: must be from 1 to 24"),
        (
            ["generate", "--customers", "10", "--out", "x", "--colour", "red"],
            "unrecognized arguments: --colour",
        ),
        (["ingest", ".", "--ingest-date", "yesterday"], "expected a date as YYYY-MM-DD, got 'yesterday'"),
        (["local-aws", "--port", "99999"], "--port: must be from 1 to 65535, got 99999"),
        (["launch"], "invalid choice: 'launch'"),
        ([], "the following arguments are required: COMMAND"),
        (["train", "--model", "no-such-model"], "no scorer named 'no-such-model'; installed: "),
        (["train", "--model", "xgboost-new-customer", "--params", "{depth: 3}"], "--params: not valid JSON"),
        (["train", "--model", "xgboost-new-customer", "--params", "[3]"], "expected a JSON object"),
        (["train", "--model", "xgboost-new-customer", "--mapping", "/no/such.yaml"], "/no/such.yaml"),
        (["models", "show"], "the following arguments are required: MODEL"),
        (["models", "promote", "m"], "the following arguments are required: VERSION"),
        (["models", "retire"], "invalid choice: 'retire'"),
        (["serve", "--workers", "0"], "--workers: must be from 1 to 256, got 0"),
        (["apikey", "new"], "the following arguments are required: --scope"),
        (["apikey", "new", "--scope", "root"], "invalid choice: 'root'"),
        (["apikey", "new", "--scope", "score", "--name", "Mobile App"], "expected up to 32 lowercase"),
    ],
)
def test_bad_command_line_input_exits_2_naming_the_problem(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_setting_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("CREDITSCORE_PORT", "eighty")
    with pytest.raises(SystemExit) as exited:
        main(["ingest", str(tmp_path)])
    assert exited.value.code == 2
    assert "CREDITSCORE_PORT='eighty' is invalid" in capsys.readouterr().err


def test_demo_reuses_generated_data_only_when_arguments_match_and_files_are_intact(
    tmp_path: Path,
) -> None:
    generate(tmp_path, customers=50, seed=3, months=DEMO_MONTHS, dirty_share=DEMO_DIRTY_SHARE, progress=False)
    assert reusable_data(tmp_path, customers=50, seed=3)
    assert not reusable_data(tmp_path, customers=50, seed=4)
    assert not reusable_data(tmp_path, customers=60, seed=3)
    with (tmp_path / "social.csv").open("a") as handle:
        handle.write("tampered\n")
    assert not reusable_data(tmp_path, customers=50, seed=3)
    assert not reusable_data(tmp_path / "missing", customers=50, seed=3)


def test_apikey_new_prints_a_key_and_the_entry_that_accepts_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apikey", "new", "--scope", "score", "--scope", "admin"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    key, entry = lines[1], lines[3]
    assert key.startswith("cs_")
    assert key not in entry
    keys = load_settings({"CREDITSCORE_API_KEYS": entry}).api_keys
    found = entry_of(key, keys)
    assert found is not None
    assert found.scopes == frozenset({"score", "admin"})
    assert found.key_id == found.sha256[:12]
    assert entry_of(key + "x", keys) is None


def test_apikey_new_names_the_client_that_holds_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apikey", "new", "--scope", "score", "--name", "mobile-app"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    [entry] = load_settings({"CREDITSCORE_API_KEYS": lines[3]}).api_keys
    assert entry_of(lines[1], [entry]) == entry
    assert entry.key_id == "mobile-app"
