"""Champion and challenger: the registry's challenger record, the commands, shadow and split scoring in the
service, the metrics, ``models compare`` and promotion, on the real moto server and DynamoDB Local."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from unittest.mock import ANY

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from creditscore import aws
from creditscore.cli import main
from creditscore.cli.demo import DEMO_APPLICANT
from creditscore.config import Settings, endpoint_environment
from creditscore.domain.challenger import Agreement, goes_to_challenger, split_point
from creditscore.domain.scores import combine
from creditscore.plugin import Matrix, Vector
from plugins.challengers import Challenger
from plugins.manager import scorer
from plugins.registry import Gate, Registry, RegistryError
from plugins.version_dir import read_version
from server.app import create_app
from server.service import SERVICE, Service
from tests.conftest import ADMIN_KEY, SCORE_KEY, with_keys
from tests.factories import SMALL_PARAMS, copy_models, customers, trained_new_customer_dir
from tests.test_server_api import store_customer
from tests.test_server_models import metric
from training import data, pipeline

NEW_MODEL: Final = "xgboost-new-customer"
SOCIAL: Final = "extratrees-social"
SCORE: Final = "/api/v1/score"
NEW: Final = "/api/v1/predict-new-customer"
EXISTING: Final = "/api/v1/predict-existing-customer"
RELOAD: Final = "/admin/models/reload"
HEADERS: Final = {"X-API-Key": SCORE_KEY}
ADMIN: Final = {"X-API-Key": ADMIN_KEY}
# Publishes a version without making it current: what a challenger is before it is promoted.
CLOSED_GATE: Final = Gate(min_auc=1.0, max_auc_drop=0.0)


# --- fixtures and helpers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_challengers() -> dict[str, pipeline.TrainingResult]:
    """A second version of the new-customer and the social model, trained on other data."""
    frame = customers(2000, seed=23)
    results = {}
    for name in (NEW_MODEL, SOCIAL):
        model = scorer(name)
        table = data.table_from_frame(frame, "challenger frame", model.features, None)
        now = datetime(2026, 12, 1, tzinfo=UTC)
        results[name] = pipeline.train(model, table, SMALL_PARAMS[name], progress=False, now=now)
    return results


@pytest.fixture
def bucket(
    settings: Settings, published_models: Settings, trained_challengers: dict[str, pipeline.TrainingResult]
) -> Settings:
    """``settings`` (tables of their own) with a models bucket of their own: the published models, current,
    and a challenger version of two of them, published but not current."""
    copy_models(published_models, settings)
    registry = Registry.from_settings(settings)
    for result in trained_challengers.values():
        assert not registry.publish(result.manifest, result.files, CLOSED_GATE).promoted
    return settings


def version_of(trained: dict[str, pipeline.TrainingResult], name: str = NEW_MODEL) -> str:
    return trained[name].manifest.version


async def start(aiohttp_client: Callable[..., Any], settings: Settings) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(with_keys(settings)))
    return client


def agreements(model: str) -> float:
    return metric("creditscore_challenger_band_agreement_total", model=model)


def challenger_results(model: str, result: str) -> float:
    return metric("creditscore_challenger_scores_total", model=model, result=result)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def records(features: list[str], count: int, seed: int) -> list[dict[str, float]]:
    table = customers(count, seed=seed)[features].to_numpy(np.float64)
    return [dict(zip(features, map(float, row), strict=True)) for row in table]


def rows(name: str, count: int, seed: int = 3) -> list[dict[str, float]]:
    return records(list(scorer(name).features), count, seed)


def existing_rows(count: int) -> list[dict[str, float]]:
    features = sorted({f for name in ("pytorch-traditional", SOCIAL) for f in scorer(name).features})
    return records(features, count, 4)


def service_of(client: TestClient[Any, Any]) -> Service:
    app = client.app
    assert app is not None
    service: Service = app[SERVICE]
    return service


def applicant(national_id: str) -> dict[str, Any]:
    return {
        **DEMO_APPLICANT,
        "national_id": national_id,
        "email": f"c{national_id}@example.com",
        "phone_number": f"0{national_id[-9:]}",
    }


def ids(count: int, start: int = 100_000_000) -> list[str]:
    return [str(n) for n in range(start, start + count)]


async def history(client: TestClient[Any, Any], national_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/customers/{national_id}/scores", headers=HEADERS)
    assert response.status == 200
    scores: list[dict[str, Any]] = (await response.json())["scores"]
    return scores


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in endpoint_environment(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CREDITSCORE_PROJECT", settings.project)
    monkeypatch.setenv("CREDITSCORE_ENV", settings.env)
    monkeypatch.setenv("CREDITSCORE_MODELS_BUCKET", settings.models_bucket)
    monkeypatch.setenv("CREDITSCORE_SCORE_HISTORY_TABLE", settings.score_history_table)


class Broken:
    """A model whose inference always raises."""

    def predict_pd(self, rows: Matrix) -> Vector:
        raise RuntimeError("the challenger broke")

    def explain(self, rows: Matrix) -> Matrix:
        raise RuntimeError("the challenger broke")


# --- the split's assignment --------------------------------------------------------------------------------


def test_the_split_is_deterministic_per_customer_and_gives_the_challenger_its_share() -> None:
    customers_ = ids(20_000)
    chosen = [goes_to_challenger(NEW_MODEL, n, 0.1) for n in customers_]
    assert chosen == [goes_to_challenger(NEW_MODEL, n, 0.1) for n in customers_]
    assert 0.09 < sum(chosen) / len(chosen) < 0.11
    # A larger share keeps every customer the smaller one gave the challenger.
    assert all(goes_to_challenger(NEW_MODEL, n, 0.3) for n, c in zip(customers_, chosen, strict=True) if c)
    # Each model's split picks customers of its own.
    other = [goes_to_challenger(SOCIAL, n, 0.1) for n in customers_]
    assert other != chosen
    # A fixed point: the same on every host and after every release.
    assert split_point(NEW_MODEL, "079123456789") == split_point(NEW_MODEL, "079123456789")
    assert 0 <= split_point(NEW_MODEL, "079123456789") < 1


def test_agreement_figures() -> None:
    figures = Agreement()
    assert figures.band_agreement is None and figures.mean_difference is None
    figures.add(700, 705, 0.01)  # Good, Good
    figures.add(735, 745)  # Good, Very Good
    assert figures.band_agreement == 0.5
    assert figures.mean_difference == 7.5
    assert figures.mean_latency == 0.01


# --- the registry ------------------------------------------------------------------------------------------


def test_a_challenger_is_set_read_refused_and_cleared(
    bucket: Settings, trained_challengers: dict[str, pipeline.TrainingResult]
) -> None:
    registry = Registry.from_settings(bucket)
    version = version_of(trained_challengers)
    current = registry.current_version(NEW_MODEL)
    assert registry.challenger(NEW_MODEL) is None

    record = registry.set_challenger(NEW_MODEL, version)
    assert (record.version, record.mode, record.share) == (version, "shadow", 1.0)
    assert registry.challenger(NEW_MODEL) == record

    with pytest.raises(RegistryError, match="cannot challenge itself"):
        registry.set_challenger(NEW_MODEL, current)
    with pytest.raises(RegistryError, match="split mode only"):
        registry.set_challenger(NEW_MODEL, version, "shadow", 0.5)
    for share in (0.0, 1.5):
        with pytest.raises(RegistryError, match="share"):
            registry.set_challenger(NEW_MODEL, version, "split", share)
    with pytest.raises(RegistryError, match="mode"):
        registry.set_challenger(NEW_MODEL, version, "canary")
    with pytest.raises(RegistryError, match="no version"):
        registry.set_challenger(NEW_MODEL, "20200101T000000Z-00000000")
    assert registry.challenger(NEW_MODEL) == record  # nothing refused was written

    split = registry.set_challenger(NEW_MODEL, version, "split")
    assert (split.mode, split.share) == ("split", 0.1)
    assert registry.clear_challenger(NEW_MODEL) == split
    assert registry.challenger(NEW_MODEL) is None
    assert registry.clear_challenger(NEW_MODEL) is None
    with pytest.raises(RegistryError, match="no challenger to promote"):
        registry.promote_challenger(NEW_MODEL, "tester")
    assert registry.current_version(NEW_MODEL) == current


def test_a_challenger_changed_meanwhile_is_never_overwritten(
    bucket: Settings, trained_challengers: dict[str, pipeline.TrainingResult]
) -> None:
    registry = Registry.from_settings(bucket)
    version = version_of(trained_challengers)
    registry.set_challenger(NEW_MODEL, version)
    read = registry._challenger(NEW_MODEL)[1]  # what a second operator read
    registry.set_challenger(NEW_MODEL, version, "split", 0.3)  # the first one changed it meanwhile

    with pytest.raises(RegistryError, match="changed by someone else"):
        registry._write_challenger(NEW_MODEL, Challenger(None, "shadow", 1.0, "now"), read)

    assert registry.challenger(NEW_MODEL) == Challenger(version, "split", 0.3, ANY)


def test_promoting_the_challenger_moves_the_pointer_clears_it_and_records_the_decision(
    bucket: Settings, trained_challengers: dict[str, pipeline.TrainingResult]
) -> None:
    registry = Registry.from_settings(bucket)
    version = version_of(trained_challengers)
    before = registry.current_version(NEW_MODEL)
    registry.set_challenger(NEW_MODEL, version, "split", 0.25)

    decision = registry.promote_challenger(NEW_MODEL, "tester", {"band_agreement": 0.9})

    pointer = registry.pointer(NEW_MODEL)
    assert pointer is not None and pointer.version == version and pointer.previous[0] == before
    assert registry.challenger(NEW_MODEL) is None
    [recorded] = registry.decisions(NEW_MODEL)
    assert recorded["promoted"] == version and recorded["replaced"] == before
    assert recorded["by"] == "tester" and recorded["mode"] == "split"
    assert recorded["figures"] == {"band_agreement": 0.9}
    assert decision.promoted == version
    # The old champion is one rollback away.
    assert registry.rollback(NEW_MODEL).version == before


# --- shadow ------------------------------------------------------------------------------------------------


async def test_a_shadow_challenger_never_changes_answers_and_is_recorded_and_counted(
    aiohttp_client: Callable[..., Any],
    bucket: Settings,
    trained_challengers: dict[str, pipeline.TrainingResult],
) -> None:
    client = await start(aiohttp_client, bucket)
    batch = {"segment": "new", "rows": rows(NEW_MODEL, 20)}
    alone = await client.post(SCORE, json=batch, headers=HEADERS)
    assert alone.status == 200
    version = version_of(trained_challengers)
    Registry.from_settings(bucket).set_challenger(NEW_MODEL, version)
    reload = await (await client.post(RELOAD, headers=ADMIN)).json()
    assert reload["results"][f"{NEW_MODEL} challenger"] == f"loaded {version}"
    agreed, scored = agreements(NEW_MODEL), challenger_results(NEW_MODEL, "scored")

    shadowed = await client.post(SCORE, json=batch, headers=HEADERS)

    assert shadowed.status == 200
    assert (await shadowed.json())["results"] == (await alone.json())["results"]
    await until(lambda: agreements(NEW_MODEL) >= agreed + 20)
    assert metric("creditscore_challenger_score_difference_count", model=NEW_MODEL) > 0
    assert metric("creditscore_challenger_info", model=NEW_MODEL, version=version, mode="shadow") == 1

    national_id = "100000001"
    answer = await client.post(NEW, json=applicant(national_id), headers=HEADERS)
    body = await answer.json()
    assert answer.status == 200, body
    champion = Registry.from_settings(bucket).current_version(NEW_MODEL)
    assert body["model"] == {"name": NEW_MODEL, "version": champion, "role": "champion"}
    [record] = await history(client, national_id)
    assert record["models"][NEW_MODEL]["score"] == body["predicted_score"]
    beside = record["challengers"][NEW_MODEL]
    assert beside["version"] == version and beside["mode"] == "shadow"
    assert 300 <= beside["score"] <= 850 and beside["seconds"] >= 0
    assert challenger_results(NEW_MODEL, "scored") > scored

    # The service's own dashboard shows it, with this worker's comparisons.
    figures = await (await client.get("/api/v1/dashboard")).json()
    [shown] = figures["challengers"]
    assert (shown["model"], shown["version"], shown["mode"]) == (NEW_MODEL, version, "shadow")
    assert shown["compared"] >= 21 and 0 <= shown["band_agreement"] <= 1


async def test_a_challenger_that_fails_to_load_never_touches_its_champion(
    aiohttp_client: Callable[..., Any],
    bucket: Settings,
    trained_challengers: dict[str, pipeline.TrainingResult],
) -> None:
    version = version_of(trained_challengers)
    Registry.from_settings(bucket).set_challenger(NEW_MODEL, version)
    # A file changed after the challenger was set: its sha256 no longer matches the manifest.
    name = sorted(trained_challengers[NEW_MODEL].files)[0]
    key = f"{NEW_MODEL}/{version}/{name}"
    aws.client("s3", bucket).put_object(Bucket=bucket.models_bucket, Key=key, Body=b"tampered")
    client = await start(aiohttp_client, bucket)

    ready = await client.get("/ready")
    reload = await (await client.post(RELOAD, headers=ADMIN)).json()
    answer = await client.post(SCORE, json={"segment": "new", "rows": rows(NEW_MODEL, 2)}, headers=HEADERS)

    assert ready.status == 200
    assert reload["results"][NEW_MODEL] == "unchanged"
    assert reload["results"][f"{NEW_MODEL} challenger"].startswith("failed: ")
    assert answer.status == 200
    assert service_of(client).registry.challenger(NEW_MODEL) is None


async def test_a_failing_shadow_challenger_never_fails_an_answer(
    aiohttp_client: Callable[..., Any],
    bucket: Settings,
    trained_challengers: dict[str, pipeline.TrainingResult],
) -> None:
    Registry.from_settings(bucket).set_challenger(NEW_MODEL, version_of(trained_challengers))
    client = await start(aiohttp_client, bucket)
    batch = {"segment": "new", "rows": rows(NEW_MODEL, 5)}
    before = await (await client.post(SCORE, json=batch, headers=HEADERS)).json()
    challenger = service_of(client).registry.challenger(NEW_MODEL)
    assert challenger is not None
    challenger.served.batcher.model = Broken()
    failed = challenger_results(NEW_MODEL, "failed")

    after = await client.post(SCORE, json=batch, headers=HEADERS)
    answer = await client.post(NEW, json=applicant("100000002"), headers=HEADERS)

    assert after.status == 200 and (await after.json())["results"] == before["results"]
    assert answer.status == 200
    await until(lambda: challenger_results(NEW_MODEL, "failed") >= failed + 6)
    [record] = await history(client, "100000002")
    assert "challengers" not in record or not record["challengers"]


async def test_an_existing_customers_models_are_each_compared_with_their_own_challenger(
    aiohttp_client: Callable[..., Any],
    bucket: Settings,
    trained_challengers: dict[str, pipeline.TrainingResult],
) -> None:
    client = await start(aiohttp_client, bucket)
    batch = {"segment": "existing", "rows": existing_rows(10)}
    alone = await (await client.post(SCORE, json=batch, headers=HEADERS)).json()
    Registry.from_settings(bucket).set_challenger(SOCIAL, version_of(trained_challengers, SOCIAL))
    await client.post(RELOAD, headers=ADMIN)
    agreed = agreements(SOCIAL)

    shadowed = await client.post(SCORE, json=batch, headers=HEADERS)

    assert shadowed.status == 200
    assert (await shadowed.json())["results"] == alone["results"]
    await until(lambda: agreements(SOCIAL) >= agreed + 10)


# --- split -------------------------------------------------------------------------------------------------


async def test_a_split_answers_its_share_with_the_challenger_and_names_the_version(
    aiohttp_client: Callable[..., Any],
    bucket: Settings,
    trained_challengers: dict[str, pipeline.TrainingResult],
) -> None:
    version = version_of(trained_challengers)
    registry = Registry.from_settings(bucket)
    champion = registry.current_version(NEW_MODEL)
    registry.set_challenger(NEW_MODEL, version, "split", 0.5)
    client = await start(aiohttp_client, bucket)
    candidates = ids(40, start=200_000_000)
    to_challenger = next(n for n in candidates if goes_to_challenger(NEW_MODEL, n, 0.5))
    to_champion = next(n for n in candidates if not goes_to_challenger(NEW_MODEL, n, 0.5))
    decided = challenger_results(NEW_MODEL, "decided")

    for national_id, expected, role in (
        (to_challenger, version, "challenger"),
        (to_champion, champion, "champion"),
    ):
        answer = await client.post(NEW, json=applicant(national_id), headers=HEADERS)
        body = await answer.json()
        assert answer.status == 200, body
        assert body["model"] == {"name": NEW_MODEL, "version": expected, "role": role}
        [record] = await history(client, national_id)
        assert record["models"][NEW_MODEL]["version"] == expected
        assert record["models"][NEW_MODEL]["role"] == role
        # The same customer meets the same version again (scored as existing, from the stored application).
        again = await (await client.post(EXISTING, json={"national_id": national_id}, headers=HEADERS)).json()
        assert again["model_scores"][NEW_MODEL]["version"] == expected
        assert again["model_scores"][NEW_MODEL]["role"] == role
    assert challenger_results(NEW_MODEL, "decided") == decided + 2

    # The stateless batch route has no national ID: the champion answers every row.
    batch = await (
        await client.post(SCORE, json={"segment": "new", "rows": rows(NEW_MODEL, 3)}, headers=HEADERS)
    ).json()
    assert {r["model_scores"][NEW_MODEL]["version"] for r in batch["results"]} == {champion}


async def test_a_failing_split_challenger_is_answered_for_by_the_champion(
    aiohttp_client: Callable[..., Any],
    bucket: Settings,
    trained_challengers: dict[str, pipeline.TrainingResult],
) -> None:
    registry = Registry.from_settings(bucket)
    champion = registry.current_version(NEW_MODEL)
    registry.set_challenger(NEW_MODEL, version_of(trained_challengers), "split", 1.0)
    client = await start(aiohttp_client, bucket)
    challenger = service_of(client).registry.challenger(NEW_MODEL)
    assert challenger is not None
    challenger.served.batcher.model = Broken()

    answer = await client.post(NEW, json=applicant("100000003"), headers=HEADERS)

    body = await answer.json()
    assert answer.status == 200, body
    assert body["model"] == {"name": NEW_MODEL, "version": champion, "role": "champion"}


async def test_an_existing_customers_model_is_replaced_by_its_split_challenger_and_shadowed_on_its_own_score(
    aiohttp_client: Callable[..., Any],
    bucket: Settings,
    trained_challengers: dict[str, pipeline.TrainingResult],
) -> None:
    version = version_of(trained_challengers, SOCIAL)
    registry = Registry.from_settings(bucket)
    champion = registry.current_version(SOCIAL)
    registry.set_challenger(SOCIAL, version, "split", 0.5)
    national_id = next(n for n in ids(40, start=400_000_000) if goes_to_challenger(SOCIAL, n, 0.5))
    store_customer(bucket, national_id=national_id)
    client = await start(aiohttp_client, bucket)

    split = await (await client.post(EXISTING, json={"national_id": national_id}, headers=HEADERS)).json()

    assert split["basis"] == "existing-models"
    social, traditional = split["model_scores"][SOCIAL], split["model_scores"]["pytorch-traditional"]
    assert (social["version"], social["role"]) == (version, "challenger")
    assert traditional["role"] == "champion"
    assert split["predicted_score"] == combine(
        {SOCIAL: social["score"], "pytorch-traditional": traditional["score"]},
        split["aggregation"]["weights"],
    )

    # The same version in shadow: the champion answers, and the challenger's score of this customer is
    # recorded beside it, the very score it gave when it answered.
    registry.set_challenger(SOCIAL, version)
    await client.post(RELOAD, headers=ADMIN)
    shadow = await (await client.post(EXISTING, json={"national_id": national_id}, headers=HEADERS)).json()

    assert (shadow["model_scores"][SOCIAL]["version"], shadow["model_scores"][SOCIAL]["role"]) == (
        champion,
        "champion",
    )
    latest = (await history(client, national_id))[0]
    assert latest["challengers"][SOCIAL]["version"] == version
    assert latest["challengers"][SOCIAL]["score"] == social["score"]
    assert "pytorch-traditional" not in latest["challengers"]


# --- the commands ------------------------------------------------------------------------------------------


async def test_the_commands_set_compare_and_promote_a_challenger(
    aiohttp_client: Callable[..., Any],
    bucket: Settings,
    trained_challengers: dict[str, pipeline.TrainingResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, bucket)
    version = version_of(trained_challengers)
    registry = Registry.from_settings(bucket)
    champion = registry.current_version(NEW_MODEL)

    assert main(["models", "challenge", NEW_MODEL, champion]) == 1
    assert "cannot challenge itself" in capsys.readouterr().err
    assert main(["models", "challenge", NEW_MODEL, version, "--share", "0.5"]) == 1
    assert "split mode only" in capsys.readouterr().err
    assert main(["models", "challenge", NEW_MODEL, version, "--mode", "split", "--share", "0.2"]) == 0
    assert "split 0.2" in capsys.readouterr().out
    assert main(["models", "challenge", NEW_MODEL, "--clear"]) == 0
    assert f"challenger {version} cleared" in capsys.readouterr().out
    assert main(["models", "challenge", NEW_MODEL, version]) == 0
    assert main(["models", "challenge", NEW_MODEL]) == 0
    assert f"challenger {version}, shadow" in capsys.readouterr().out

    client = await start(aiohttp_client, bucket)
    scored = []
    for national_id in ids(4, start=300_000_000):
        answer = await client.post(NEW, json=applicant(national_id), headers=HEADERS)
        assert answer.status == 200
        [record] = await history(client, national_id)
        scored.append((record["models"][NEW_MODEL]["score"], record["challengers"][NEW_MODEL]["score"]))
    expected = Agreement()
    for champion_score, challenger_score in scored:
        expected.add(champion_score, challenger_score)
    capsys.readouterr()

    assert main(["models", "compare", NEW_MODEL, "--hours", "1"]) == 0
    out = capsys.readouterr().out
    assert version in out and f"{expected.band_agreement:.1%}" in out
    assert f"{expected.mean_difference:.1f}" in out

    assert main(["models", "challenge", NEW_MODEL, "--promote", "--by", "risk-committee"]) == 0
    assert f"challenger {version} promoted to current (was {champion})" in capsys.readouterr().out
    assert registry.current_version(NEW_MODEL) == version
    assert registry.challenger(NEW_MODEL) is None
    [decision] = registry.decisions(NEW_MODEL)
    assert decision["by"] == "risk-committee"
    assert decision["figures"]["compared"] == 4
    assert decision["figures"]["band_agreement"] == pytest.approx(expected.band_agreement)

    reload = await (await client.post(RELOAD, headers=ADMIN)).json()
    assert reload["results"][NEW_MODEL] == f"loaded {version}"
    assert reload["results"][f"{NEW_MODEL} challenger"] == "cleared"
    assert service_of(client).registry.challenger(NEW_MODEL) is None
    assert np.isfinite(metric("creditscore_challenger_max_disagreement"))


def test_a_version_published_as_challenger_leaves_the_current_one_current(
    bucket: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    use_settings(monkeypatch, bucket)
    monkeypatch.setenv("CREDITSCORE_GATE_MIN_AUC", "0")
    monkeypatch.setenv("CREDITSCORE_GATE_MAX_AUC_DROP", "1")
    registry = Registry.from_settings(bucket)
    champion = registry.current_version(NEW_MODEL)
    (tmp_path / "passes").mkdir()
    (tmp_path / "refused").mkdir()
    directory = trained_new_customer_dir(tmp_path / "passes", 1500, seed=31, rounds=20)
    version = read_version(directory).manifest.version
    capsys.readouterr()

    assert main(["models", "publish", str(directory), "--as-challenger"]) == 0
    assert f"now {NEW_MODEL}'s challenger in shadow mode" in capsys.readouterr().out
    assert registry.current_version(NEW_MODEL) == champion
    challenger = registry.challenger(NEW_MODEL)
    assert challenger is not None and (challenger.version, challenger.mode) == (version, "shadow")

    # The next one replaces it, even in a split someone set meanwhile, and says so.
    registry.set_challenger(NEW_MODEL, version, "split", 0.1)
    (tmp_path / "next").mkdir()
    following = trained_new_customer_dir(tmp_path / "next", 1500, seed=33, rounds=20)
    assert main(["models", "publish", str(following), "--as-challenger"]) == 0
    assert f"replacing {version} (split, share 0.1)" in capsys.readouterr().out
    challenger = registry.challenger(NEW_MODEL)
    assert challenger is not None and challenger.version == read_version(following).manifest.version
    assert challenger.mode == "shadow" and registry.current_version(NEW_MODEL) == champion

    # A version the gate refuses is published, but neither current nor the challenger.
    monkeypatch.setenv("CREDITSCORE_GATE_MIN_AUC", "1")
    refused = trained_new_customer_dir(tmp_path / "refused", 1500, seed=32, rounds=20)
    assert main(["models", "publish", str(refused), "--as-challenger"]) == 3
    assert registry.current_version(NEW_MODEL) == champion
    assert registry.challenger(NEW_MODEL) == challenger

    assert main(["train", "--model", NEW_MODEL, "--as-challenger"]) == 1
    assert "give --publish too" in capsys.readouterr().err
