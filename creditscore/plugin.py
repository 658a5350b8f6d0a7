"""The public API of scorer plugins: what a model plugin package imports, under the project's name.

    from creditscore.plugin import hookimpl, Scorer, Model, features

A plugin is any importable module named by an entry point in the ``creditscore`` group of its package's
metadata, for example in its ``pyproject.toml``::

    [project.entry-points.creditscore]
    logistic-scorecard = "my_bank_models.scorecard"

that implements :func:`creditscore_scorers` with ``@hookimpl``. The built-in scorers (``plugins/builtin``)
are found the same way and use nothing else, so a team adds a model by installing a package, without
touching the server or the built-ins. ``features`` is the feature registry (names, groups, the application
form); docs/plugins.md walks through a complete plugin.

What a scorer is: the contract between a model plugin, the training pipeline and the scoring service.

A :class:`Scorer` describes a model and knows how to train and load it. A trained, loaded model is a
:class:`Model`: it turns rows of features (a float64 matrix whose columns follow ``Scorer.features``) into
probabilities of default, and explains them. Artifacts are plain bytes by file name; they must be formats
that run no code when read (XGBoost JSON/UBJ, safetensors, skops with trusted types, JSON) — never pickle.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import numpy.typing as npt
import pluggy

from creditscore.domain import features
from creditscore.domain.calibration import Calibration
from creditscore.domain.features import APPLICATION, FEATURES, SOCIAL, TRADITIONAL, TRANSACTION, names
from creditscore.domain.scores import Scaling

__all__ = [
    "APPLICATION",
    "FEATURES",
    "SOCIAL",
    "TRADITIONAL",
    "TRANSACTION",
    "Artifacts",
    "Calibration",
    "Labels",
    "Matrix",
    "Model",
    "Progress",
    "Scaling",
    "Scorer",
    "Segment",
    "Vector",
    "creditscore_scorers",
    "features",
    "hookimpl",
    "names",
]

Segment = Literal["new", "existing"]
SEGMENTS: tuple[Segment, ...] = ("new", "existing")
Matrix = npt.NDArray[np.float64]
Vector = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int_]
Artifacts = dict[str, bytes]
# Called with (step, total) as training advances: boosting rounds, epochs, trees.
Progress = Callable[[int, int], None]


class Model(Protocol):
    """A loaded model. Both methods are called concurrently from several threads and must be safe so."""

    def predict_pd(self, rows: Matrix) -> Vector:
        """Probability of default of each row, in (0, 1); ``rows`` is (n, len(features))."""
        ...

    def explain(self, rows: Matrix) -> Matrix:
        """Per-feature contributions to each row's log-odds of default, shape (n, len(features)).

        Positive means the feature pushes the risk up (the score down); reason codes are the largest ones.
        """
        ...


class Scorer(ABC):
    """A model family: its identity, its inputs, and how to fit and load it."""

    #: Unique name, also the model's folder in the models bucket (lowercase, digits, '-').
    name: ClassVar[str]
    #: The applicants it scores: "new" (application form only) or "existing" (stored profile).
    segment: ClassVar[Segment]
    #: Ordered feature names: the columns of every ``rows`` matrix. A class sets its default; an instance
    #: made by :meth:`with_features` (training on a bank's own table through a mapping) has its own.
    features: tuple[str, ...]
    #: Feature group(s) the features come from (the customer item's map attributes in DynamoDB).
    groups: ClassVar[tuple[str, ...]]
    #: Default training parameters; ``fit`` receives these updated by the caller's.
    default_params: ClassVar[Mapping[str, Any]] = {}
    #: The model's own plain wording of a reason, by feature name, for when that feature raised the risk;
    #: a feature not named here is worded by the feature registry (``features.FEATURES``). Wording only:
    #: which features may be cited at all is the registry's rule, for every model alike.
    reason_wording: ClassVar[Mapping[str, str]] = {}

    def with_features(self, features: tuple[str, ...]) -> Scorer:
        """The same algorithm on other inputs (the manifest records which, so loading rebuilds it)."""
        clone = copy.copy(self)
        clone.features = tuple(features)
        return clone

    @abstractmethod
    def fit(
        self,
        features: Matrix,
        labels: Labels,
        params: Mapping[str, Any],
        validation: tuple[Matrix, Labels] | None = None,
        progress: Progress | None = None,
    ) -> Artifacts:
        """Train on ``features`` (n, len(self.features)) and 0/1 ``labels``; return the artifact files.

        ``validation`` is held-out data for early stopping; it must not be trained on. The same inputs and
        params (including a ``seed`` param) must give the same artifacts.
        """

    @abstractmethod
    def load(self, files: Mapping[str, bytes]) -> Model:
        """Rebuild a model from the files ``fit`` returned, without executing code from them."""


# --- hooks ---------------------------------------------------------------------------------------------

PROJECT = "creditscore"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def creditscore_scorers() -> Sequence[Scorer]:
    """Return the scorers this plugin provides.

    Called once when the plugin manager starts. Each scorer's ``name`` must be unique across all installed
    plugins (a clash stops the start with an error naming both plugins). Return an empty sequence to
    provide none; a plugin may implement other hooks only.
    """
    raise NotImplementedError
