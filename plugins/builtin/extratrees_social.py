"""``extratrees-social``: an extremely randomised forest on the social-behaviour signals.

Scores existing customers. scikit-learn's ``ExtraTreesClassifier`` (300 trees, leaves of at least 20
customers, ``sqrt`` features per split, no class weights so leaf frequencies stay probabilities). A forest
has no early stopping, so ``validation`` is not used here; the training pipeline evaluates on it.

Artifact: ``model.skops``. skops rebuilds objects from a description instead of running pickle's code;
loading first lists the file's types that skops does not trust by default and refuses any outside
:data:`TRUSTED_TYPES`, then checks the object is the forest it should be.

Serving does not go through ``predict_proba``: it schedules each of the 300 trees through joblib, some
25 ms for one row. The trees are flattened at load into node arrays; a small batch walks all trees at
once with numpy, one tree level per step, and a larger one goes tree by tree through scikit-learn's own
compiled ``apply``. Both give the same leaves, and the PD is the mean of their class-1 frequencies, as in
``predict_proba``; missing values follow each split's learnt ``missing_go_to_left`` as scikit-learn does.

Explanations are Saabas' tree-path decomposition ("treeinterpreter"): along a row's path in a tree, each
split moves the node's class-1 frequency, and that change is credited to the split's feature; averaged
over trees, the credits plus the root frequency (the training default rate) sum exactly to the forest's
PD. Each node's credit is computed at load, and a batch's paths are walked up from its leaves with numpy
(``decision_path`` builds a sparse matrix per tree, milliseconds for one row). The credits are converted
to log-odds by dividing by ``p(1 - p)`` at the row's PD ``p``, the slope of the logit there: a
first-order approximation that keeps each feature's sign and ranking but does not make the credits sum
exactly to the change in log-odds when ``p`` is far from the base rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt
import skops.io
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.tree import ExtraTreeClassifier

from creditscore.plugin import (
    SOCIAL,
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

MODEL_FILE: Final = "model.skops"
PD_FLOOR: Final = 1e-6
# skops trusts scikit-learn's estimators and numpy arrays by default; the compiled tree structure is the
# one other type a fitted ExtraTreesClassifier holds.
TRUSTED_TYPES: Final = ("sklearn.tree._tree.Tree",)
# The numpy walk costs about rows × depth × trees gathers; scikit-learn's compiled walk costs ~5 µs a call
# per tree plus rows × path length. Measured on 300 trees of depth 14 and 30, the numpy walk wins (one
# row: ~0.3 and ~0.8 ms against ~1.2 and ~1.8 ms) up to about this many rows × levels.
VECTORISED_MAX_STEPS: Final = 256
TREES_PER_PROGRESS_STEP: Final = 25

IntArray = npt.NDArray[np.intp]


def _check_forest(forest: Any, n_features: int) -> ExtraTreesClassifier:
    if not isinstance(forest, ExtraTreesClassifier) or not all(
        isinstance(tree, ExtraTreeClassifier) for tree in forest.estimators_
    ):
        raise ValueError(f"expected a forest of ExtraTreeClassifier, got {type(forest).__qualname__}")
    if forest.classes_.tolist() != [0, 1]:
        raise ValueError(f"expected classes [0, 1] (both outcomes in the labels), got {forest.classes_}")
    if forest.n_features_in_ != n_features:
        raise ValueError(f"the forest takes {forest.n_features_in_} features, not {n_features}")
    return forest


class ExtraTreesModel:
    """A forest flattened into read-only node arrays; no call mutates shared state."""

    def __init__(self, forest: ExtraTreesClassifier) -> None:
        self._trees = [estimator.tree_ for estimator in forest.estimators_]
        counts = [tree.node_count for tree in self._trees]
        self._roots: IntArray = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
        self._depth = max(tree.max_depth for tree in self._trees)
        self._threshold = np.concatenate([tree.threshold for tree in self._trees])
        self._missing_left = np.concatenate([tree.missing_go_to_left for tree in self._trees]).astype(bool)
        self._value = np.concatenate([tree.value[:, 0, 1] for tree in self._trees])
        self._base_rate = float(self._value[self._roots].mean())
        self._n_features = int(forest.n_features_in_)
        node = np.arange(self._value.size)
        left, right = (
            np.concatenate([getattr(tree, side) for tree in self._trees]) + np.repeat(self._roots, counts)
            for side in ("children_left", "children_right")
        )
        is_leaf = np.concatenate([tree.children_left < 0 for tree in self._trees])
        # A leaf's children are itself, so walks that end early stay put while deeper ones finish.
        left, right = np.where(is_leaf, node, left), np.where(is_leaf, node, right)
        self._children: IntArray = np.stack([right, left], axis=1).ravel().astype(np.intp)
        self._feature: IntArray = np.where(
            is_leaf, 0, np.concatenate([tree.feature for tree in self._trees])
        ).astype(np.intp)
        # Each non-root node's Saabas credit: what reaching it adds to the forest's PD, on its parent's
        # feature. Roots keep a zero credit.
        splits = np.flatnonzero(~is_leaf)
        child, parent = np.concatenate([left[splits], right[splits]]), np.concatenate([splits, splits])
        self._credit = np.zeros(self._value.size)
        self._credit[child] = (self._value[child] - self._value[parent]) / len(self._trees)
        self._credited_feature = np.zeros(self._value.size, dtype=np.intp)
        self._credited_feature[child] = self._feature[parent]
        self._parent = node.copy()
        self._parent[child] = parent

    def _leaves(self, rows: Matrix) -> IntArray:
        """(n, trees) global index of the leaf each row reaches in each tree."""
        # scikit-learn compares float32 inputs with float64 thresholds; so must the numpy walk.
        x = np.ascontiguousarray(rows, dtype=np.float32)
        if len(x) * self._depth > VECTORISED_MAX_STEPS:
            return np.stack([tree.apply(x) for tree in self._trees], axis=1) + self._roots
        node = np.broadcast_to(self._roots, (len(x), self._roots.size))
        starts = (np.arange(len(x)) * x.shape[1])[:, None]
        flat = x.ravel()
        for _ in range(self._depth):
            value = flat[starts + self._feature[node]]
            go_left = np.where(np.isnan(value), self._missing_left[node], value <= self._threshold[node])
            node = self._children[2 * node + go_left]
        return node

    def predict_pd(self, rows: Matrix) -> Vector:
        pd: Vector = self._value[self._leaves(rows)].mean(axis=1)
        return np.clip(pd, PD_FLOOR, 1.0 - PD_FLOOR)

    def explain(self, rows: Matrix) -> Matrix:
        n = len(rows)
        first_cell = (np.arange(n) * self._n_features)[:, None]
        credits = np.zeros(n * self._n_features)
        # Up from each leaf to its root, one level per step, crediting each node's split on the way; a root
        # is its own parent with no credit, so shorter paths just stop adding.
        node = self._leaves(rows)
        for _ in range(self._depth):
            cells = first_cell + self._credited_feature[node]
            credits += np.bincount(cells.ravel(), weights=self._credit[node].ravel(), minlength=credits.size)
            node = self._parent[node]
        by_row = credits.reshape(n, self._n_features)
        pd = np.clip(self._base_rate + by_row.sum(axis=1), PD_FLOOR, 1.0 - PD_FLOOR)
        contributions: Matrix = by_row / (pd * (1.0 - pd))[:, None]
        return contributions


class ExtraTreesSocial(Scorer):
    name: ClassVar[str] = "extratrees-social"
    segment: ClassVar[Segment] = "existing"
    groups: ClassVar[tuple[str, ...]] = (SOCIAL,)
    features: tuple[str, ...] = tuple(names(SOCIAL))
    # Every parameter but seed and threads goes to ExtraTreesClassifier as is.
    default_params: ClassVar[Mapping[str, Any]] = {
        "seed": 0,
        "threads": 1,
        "n_estimators": 300,
        "min_samples_leaf": 20,
        "max_features": "sqrt",
        "class_weight": None,
    }

    def fit(
        self,
        features: Matrix,
        labels: Labels,
        params: Mapping[str, Any],
        validation: tuple[Matrix, Labels] | None = None,
        progress: Progress | None = None,
    ) -> Artifacts:
        merged = {**self.default_params, **params}
        total = int(merged["n_estimators"])
        forest = ExtraTreesClassifier(
            **{key: value for key, value in merged.items() if key not in ("seed", "threads")},
            random_state=int(merged["seed"]),
            n_jobs=int(merged["threads"]),
            warm_start=True,
        )
        # Growing by batches with warm_start gives the very trees a single fit would (seeds are drawn in
        # order), and a progress report per batch.
        for grown in range(TREES_PER_PROGRESS_STEP, total + TREES_PER_PROGRESS_STEP, TREES_PER_PROGRESS_STEP):
            forest.set_params(n_estimators=min(grown, total))
            forest.fit(features, labels)
            if progress:
                progress(len(forest.estimators_), total)
        forest.set_params(warm_start=False, n_jobs=1)
        _check_forest(forest, len(self.features))
        return {MODEL_FILE: skops.io.dumps(forest)}

    def load(self, files: Mapping[str, bytes]) -> ExtraTreesModel:
        data = files[MODEL_FILE]
        unexpected = sorted(set(skops.io.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
        if unexpected:
            raise ValueError(f"{self.name}: {MODEL_FILE} holds types outside the allow-list: {unexpected}")
        forest = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
        return ExtraTreesModel(_check_forest(forest, len(self.features)))


@hookimpl
def creditscore_scorers() -> list[Scorer]:
    return [ExtraTreesSocial()]
