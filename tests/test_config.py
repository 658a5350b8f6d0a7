from __future__ import annotations

from pathlib import Path

import pytest

from creditscore.config import SETTINGS, ApiKey, ConfigError, load_settings, markdown_table


def test_defaults_share_one_prefix_and_point_at_the_local_endpoint() -> None:
    settings = load_settings({})
    assert settings.prefix == "creditscore-dev"
    assert settings.buckets == ("creditscore-dev-raw", "creditscore-dev-cleaned", "creditscore-dev-models")
    assert settings.customers_table == "creditscore-dev-customers"
    assert settings.score_history_table == "creditscore-dev-score-history"
    assert settings.aws_endpoint_url == "http://127.0.0.1:4566"
    assert (settings.host, settings.port, settings.log_format) == ("127.0.0.1", 8080, "console")


def test_prefix_follows_project_and_env_and_explicit_names_win() -> None:
    settings = load_settings(
        {"CREDITSCORE_PROJECT": "bank", "CREDITSCORE_ENV": "prod", "CREDITSCORE_MODELS_BUCKET": "my-models"}
    )
    assert settings.raw_bucket == "bank-prod-raw"
    assert settings.models_bucket == "my-models"
    assert settings.customers_table == "bank-prod-customers"


def test_empty_endpoint_means_real_aws() -> None:
    assert load_settings({"CREDITSCORE_AWS_ENDPOINT_URL": ""}).aws_endpoint_url is None


def test_every_setting_is_documented() -> None:
    assert all(s.meaning and s.group for s in SETTINGS)
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PORT", "http", "integer from 1 to 65535"),
        ("PORT", "70000", "integer from 1 to 65535"),
        ("AWS_ENDPOINT_URL", "localhost:4566", "http(s) URL"),
        ("AWS_REGION", "Singapore", "AWS region name"),
        ("RAW_BUCKET", "Raw_Bucket", "S3 bucket name"),
        ("CUSTOMERS_TABLE", "a b", "DynamoDB table name"),
        ("LOG_LEVEL", "LOUD", "one of DEBUG"),
        ("LOG_FORMAT", "xml", "one of console, json"),
        ("ENV", "Prod!", "lowercase letters"),
        ("HOST", "", "host name"),
        ("WORKERS", "-1", "integer from 0 to 256"),
        ("METRICS_PUBLIC", "maybe", "true or false"),
        ("NEW_CUSTOMER_MODEL", "Bad Name", "a model name"),
        ("EXISTING_CUSTOMER_MODELS", "pytorch-traditional:0", "positive weights"),
        ("EXISTING_CUSTOMER_MODELS", "a:1,a:2", "distinct names"),
        ("EXISTING_CUSTOMER_MODELS", "a", "name:weight"),
        ("MODEL_POLL_SECONDS", "0", "number of seconds"),
        ("MAX_BATCH_ROWS", "0", "integer from 1"),
        ("METRICS_DIR", "relative/dir", "absolute directory"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_expects(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({f"CREDITSCORE_{variable}": value})
    assert f"CREDITSCORE_{variable}={value!r}" in str(caught.value)
    assert expected in str(caught.value)


def test_readme_configuration_table_is_generated_from_the_settings() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert markdown_table() in readme, (
        "run: python -c 'from creditscore.config import markdown_table as m; print(m())'"
    )


def test_api_keys_and_model_weights_parse_and_a_bad_key_entry_is_not_echoed() -> None:
    digest = "ab" * 32
    settings = load_settings(
        {
            "CREDITSCORE_API_KEYS": f"{digest}:score+admin, {'cd' * 32}:score:branch-app",
            "CREDITSCORE_EXISTING_CUSTOMER_MODELS": "pytorch-traditional:2,extratrees-social:1",
        }
    )
    assert settings.api_keys == (
        ApiKey(digest, frozenset({"score", "admin"})),
        ApiKey("cd" * 32, frozenset({"score"}), "branch-app"),
    )
    assert [key.key_id for key in settings.api_keys] == [digest[:12], "branch-app"]
    assert settings.existing_customer_models == (("pytorch-traditional", 2.0), ("extratrees-social", 1.0))
    assert settings.models == ("xgboost-new-customer", "pytorch-traditional", "extratrees-social")
    twice = f"{digest}:score:a,{'cd' * 32}:admin:a"
    for entries in (f"{digest}:superuser", f"{digest}:score:Bad Name", twice):
        with pytest.raises(ConfigError, match="sha256hex:scope") as caught:
            load_settings({"CREDITSCORE_API_KEYS": entries})
        assert digest not in str(caught.value)
