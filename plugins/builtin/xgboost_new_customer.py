"""``xgboost-new-customer``: gradient-boosted trees on the ten application-form features.

Scores applicants the bank knows nothing about yet. Monotone constraints encode what a credit officer
would insist on, so that an applicant can never lower their PD by declaring more debt or less savings:
PD never falls as ``debt`` or ``debt_to_income`` rise, and never rises as ``savings``,
``savings_to_income``, ``income`` or ``net_worth`` rise. Only the constrained names present in the
scorer's features are constrained, so :meth:`Scorer.with_features` keeps working on other tables.

Artifacts: ``model.ubj`` (XGBoost's binary JSON, which holds data only) trimmed to the best iteration,
and ``meta.json`` (feature names, best iteration, rounds trained, the parameters used).

Explanations are XGBoost's exact TreeSHAP values (``pred_contribs``) on the margin, i.e. the log-odds of
default, without the bias column: each row's contributions plus the bias sum to its log-odds.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import numpy as np
import xgboost as xgb
from xgboost import core as xgb_core

from creditscore.plugin import (
    APPLICATION,
    Artifacts,
    Labels,
    Matrix,
    Progress,
    Scorer,
    Segment,
    Vector,
    hookimpl,
    names,
)

MODEL_FILE: Final = "model.ubj"
META_FILE: Final = "meta.json"
PD_FLOOR: Final = 1e-6
# +1: PD may only rise with the feature; -1: PD may only fall.
MONOTONE: Final[Mapping[str, int]] = {
    "debt": 1,
    "debt_to_income": 1,
    "savings": -1,
    "savings_to_income": -1,
    "income": -1,
    "net_worth": -1,
}
# Parameters that drive the training loop rather than the booster; every other one goes to XGBoost.
_LOOP_PARAMS: Final = frozenset({"seed", "num_boost_round", "early_stopping_rounds", "threads"})


class _Progress(xgb.callback.TrainingCallback):
    def __init__(self, progress: Progress, total: int) -> None:
        super().__init__()
        self._progress = progress
        self._total = total

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self._progress(epoch + 1, self._total)
        return False


# XGBoostPredictFromDense's configuration, as ``Booster.inplace_predict`` builds it for probabilities of every
# tree with NaN as missing; built once rather than per call.
_DENSE_CONFIG: Final = json.dumps(
    {
        "type": 0,
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "missing": float("nan"),
        "strict_shape": False,
        "cache_id": 0,
    }
).encode()


def _predict_dense(booster: xgb.Booster, rows: Matrix) -> Vector:
    """``booster.inplace_predict(rows)`` through XGBoost's C API (``XGBoosterPredictFromDense``, the call
    inplace_predict makes for a numpy array) with the configuration built once. The Python wrapper around
    the call costs as much as the call itself (~55 µs of ~105 µs for one row with 200 trees: it rebuilds the
    configuration, an array class and a type dispatch each time), and the service calls the model for every
    few rows. Same inputs, same output: tests/test_plugins.py holds them equal."""
    rows = np.ascontiguousarray(rows)
    interface = json.dumps(
        {"data": (rows.ctypes.data, True), "shape": rows.shape, "typestr": rows.dtype.str, "version": 3}
    ).encode()
    # bst_ulong is uint64_t.
    shape = ctypes.POINTER(ctypes.c_uint64)()
    dims = ctypes.c_uint64()
    result = ctypes.POINTER(ctypes.c_float)()
    xgb_core._check_call(
        xgb_core._LIB.XGBoosterPredictFromDense(
            booster.handle,
            interface,
            _DENSE_CONFIG,
            None,
            ctypes.byref(shape),
            ctypes.byref(dims),
            ctypes.byref(result),
        )
    )
    count = int(np.prod([shape[i] for i in range(dims.value)]))
    # The result lives in the booster's buffer for this thread until its next call: copied out now.
    return np.ctypeslib.as_array(result, (count,)).astype(np.float64)


class XGBoostModel:
    """A trained booster pinned to one thread; prediction and ``predict`` are thread-safe."""

    def __init__(self, booster: xgb.Booster, features: tuple[str, ...]) -> None:
        self._booster = booster
        self._features = list(features)

    def predict_pd(self, rows: Matrix) -> Vector:
        return np.clip(_predict_dense(self._booster, rows), PD_FLOOR, 1.0 - PD_FLOOR)

    def explain(self, rows: Matrix) -> Matrix:
        data = xgb.DMatrix(rows, feature_names=self._features, nthread=1)
        contributions = self._booster.predict(data, pred_contribs=True)
        return np.asarray(contributions[:, :-1], dtype=np.float64)


class XGBoostNewCustomer(Scorer):
    name: ClassVar[str] = "xgboost-new-customer"
    segment: ClassVar[Segment] = "new"
    groups: ClassVar[tuple[str, ...]] = (APPLICATION,)
    features: tuple[str, ...] = tuple(names(APPLICATION))
    # Shallow, slow-learning trees with row and column sampling: the usual safe start on a few
    # thousand to a few hundred thousand tabular rows; early stopping picks the number of trees.
    default_params: ClassVar[Mapping[str, Any]] = {
        "seed": 0,
        "eta": 0.05,
        "max_depth": 4,
        "min_child_weight": 5.0,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "lambda": 1.0,
        "num_boost_round": 600,
        "early_stopping_rounds": 50,
        "threads": 1,
    }

    def monotone_constraints(self) -> str:
        return "(" + ",".join(str(MONOTONE.get(name, 0)) for name in self.features) + ")"

    def fit(
        self,
        features: Matrix,
        labels: Labels,
        params: Mapping[str, Any],
        validation: tuple[Matrix, Labels] | None = None,
        progress: Progress | None = None,
    ) -> Artifacts:
        merged = {**self.default_params, **params}
        rounds = int(merged["num_boost_round"])
        threads = int(merged["threads"])
        booster_params = {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "monotone_constraints": self.monotone_constraints(),
            **{key: value for key, value in merged.items() if key not in _LOOP_PARAMS},
            "seed": int(merged["seed"]),
            "nthread": threads,
        }
        feature_names = list(self.features)
        train = xgb.DMatrix(features, label=labels, feature_names=feature_names, nthread=threads)
        evals = []
        if validation is not None:
            rows, outcomes = validation
            held_out = xgb.DMatrix(rows, label=outcomes, feature_names=feature_names, nthread=threads)
            evals = [(held_out, "validation")]
        booster = xgb.train(
            booster_params,
            train,
            num_boost_round=rounds,
            evals=evals,
            early_stopping_rounds=int(merged["early_stopping_rounds"]) if evals else None,
            verbose_eval=False,
            callbacks=[_Progress(progress, rounds)] if progress else None,
        )
        trained = booster.num_boosted_rounds()
        best_iteration = booster.best_iteration if evals else trained - 1
        best = booster[: best_iteration + 1]
        # The trimmed booster holds exactly the trees it predicts with; the stopping record goes to meta.
        best.set_attr(best_iteration=None, best_score=None)
        meta = {
            "features": feature_names,
            "best_iteration": best_iteration,
            "rounds_trained": trained,
            "best_validation_logloss": float(booster.best_score) if evals else None,
            "params": {key: booster_params[key] for key in sorted(booster_params)},
        }
        return {
            MODEL_FILE: bytes(best.save_raw("ubj")),
            META_FILE: json.dumps(meta, indent=2, sort_keys=True).encode(),
        }

    def load(self, files: Mapping[str, bytes]) -> XGBoostModel:
        booster = xgb.Booster()
        booster.load_model(bytearray(files[MODEL_FILE]))
        if booster.feature_names != list(self.features):
            raise ValueError(
                f"{self.name}: the artifact was trained on {booster.feature_names}, not {list(self.features)}"
            )
        # One thread per model runtime: the service runs one process per core.
        booster.set_param({"nthread": 1})
        return XGBoostModel(booster, self.features)


@hookimpl
def creditscore_scorers() -> list[Scorer]:
    return [XGBoostNewCustomer()]
