"""``pytorch-traditional``: a small neural network on bureau history and transaction behaviour.

Scores existing customers from their stored profile. The network is a multilayer perceptron (by default
two hidden layers of 64 and 32 ReLU units with dropout) ending in one logit, the log-odds of default,
trained with binary cross-entropy, Adam and mini-batches, and stopped early on a validation loss — the
caller's validation set, else a seeded 15 % of the training rows held out — keeping the best epoch.

Normalisation lives inside the model, so training and serving cannot disagree about it. Money amounts
(the features whose unit is VND) are heavy-tailed and, for balances, signed: a plain z-score would leave a
few rich customers hundreds of standard deviations out and the rest crowded near zero, so those columns
first go through a signed ``log1p`` (``sign(x) * log(1 + |x|)``, which keeps zero and the sign and turns
orders of magnitude into steps). Every column is then standardised with the training rows' mean and
standard deviation. Counts and ratios are left linear: they are bounded or short-tailed, and their steps
(one more missed payment) matter as they are.

Artifacts: ``weights.safetensors`` (the layers' tensors, a format that holds data only) and ``config.json``
(architecture, feature names, which columns are logged, the normalisation statistics, the training record).

Explanations are gradient × input in the standardised space: for row ``z`` (the standardised inputs) the
contribution of feature ``j`` is ``∂logit/∂z_j · (z_j − 0)``, the baseline ``z = 0`` being the training
mean (of the logged value, for money columns). It is exact for a linear model and a first-order
approximation for this one, so contributions rank features well but need not sum to the logit's
distance from the baseline's.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Final

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from creditscore.plugin import (
    FEATURES,
    TRADITIONAL,
    TRANSACTION,
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

WEIGHTS_FILE: Final = "weights.safetensors"
CONFIG_FILE: Final = "config.json"
# Far above what a scoring network on tens of features needs (the default has ~5,000 parameters), far
# below what would strain a host's memory (10 M float32 parameters are 40 MB).
MAX_LAYERS: Final = 8
MAX_WIDTH: Final = 4096
MAX_PARAMETERS: Final = 10_000_000
PD_FLOOR: Final = 1e-6
MONEY_FEATURES: Final = frozenset(f.name for f in FEATURES if f.unit.startswith("VND"))


def _signed_log1p(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def _one_thread() -> None:
    # The service runs one process per core: a second intra-op thread would only contend with it.
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


class _Network(nn.Module):
    log_mask: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        hidden: Sequence[int],
        dropout: float,
        log_mask: Sequence[bool],
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        # Not persistent: they are written to config.json, readable without torch.
        self.register_buffer("log_mask", torch.tensor(log_mask, dtype=torch.bool), persistent=False)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)
        layers: list[nn.Module] = []
        width = len(log_mask)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.body = nn.Sequential(*layers)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.where(self.log_mask, _signed_log1p(x), x) - self.mean) / self.std

    def logit(self, z: torch.Tensor) -> torch.Tensor:
        """The log-odds of default from standardised inputs."""
        out: torch.Tensor = self.body(z)
        return out.squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.standardise(x))


class TorchModel:
    """A network in evaluation mode with frozen weights: concurrent forward passes share nothing mutable."""

    def __init__(self, network: _Network) -> None:
        self._network = network

    def predict_pd(self, rows: Matrix) -> Vector:
        _one_thread()
        with torch.inference_mode():
            logits: torch.Tensor = self._network(torch.as_tensor(rows, dtype=torch.float32))
        # sigmoid as exp(-log(1 + e^-l)): no overflow warning for extreme logits.
        pd: Vector = np.exp(-np.logaddexp(0.0, -logits.numpy().astype(np.float64)))
        return np.clip(pd, PD_FLOOR, 1.0 - PD_FLOOR)

    def explain(self, rows: Matrix) -> Matrix:
        _one_thread()
        with torch.no_grad():
            z = self._network.standardise(torch.as_tensor(rows, dtype=torch.float32))
        z.requires_grad_(True)
        with torch.enable_grad():
            # Rows do not interact (no batch statistics in evaluation mode), so the gradient of the sum
            # holds each row's own gradient.
            (gradient,) = torch.autograd.grad(self._network.logit(z).sum(), z)
        contributions: Matrix = (gradient * z).detach().numpy().astype(np.float64)
        return contributions


@contextmanager
def _reproducible(seed: int, threads: int) -> Iterator[None]:
    """Seeded, deterministic torch with ``threads`` threads, leaving the process's settings as they were."""
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.set_num_threads(threads_before)
            torch.use_deterministic_algorithms(deterministic_before)


class PyTorchTraditional(Scorer):
    name: ClassVar[str] = "pytorch-traditional"
    segment: ClassVar[Segment] = "existing"
    groups: ClassVar[tuple[str, ...]] = (TRADITIONAL, TRANSACTION)
    features: tuple[str, ...] = (*names(TRADITIONAL), *names(TRANSACTION))
    default_params: ClassVar[Mapping[str, Any]] = {
        "seed": 0,
        "hidden": (64, 32),
        "dropout": 0.1,
        "learning_rate": 1e-3,
        "weight_decay": 1e-4,
        "batch_size": 256,
        "max_epochs": 200,
        # Epochs without a better validation loss before stopping.
        "patience": 10,
        # Share of the training rows held out for early stopping when no validation set is given.
        "holdout": 0.15,
        "threads": 1,
        # Columns given the signed log1p; None: those of this scorer's features whose unit is VND.
        "log_features": None,
    }

    def fit(
        self,
        features: Matrix,
        labels: Labels,
        params: Mapping[str, Any],
        validation: tuple[Matrix, Labels] | None = None,
        progress: Progress | None = None,
    ) -> Artifacts:
        unknown = set(params) - set(self.default_params)
        if unknown:
            # Nothing else reads them, so a misspelt parameter would otherwise be dropped silently.
            raise ValueError(f"{self.name}: unknown parameters {sorted(unknown)}")
        merged = {**self.default_params, **params}
        rng = np.random.default_rng(int(merged["seed"]))
        if validation is None:
            order = rng.permutation(len(features))
            held = round(float(merged["holdout"]) * len(features))
            validation = (features[order[:held]], labels[order[:held]])
            features, labels = features[order[held:]], labels[order[held:]]

        logged = MONEY_FEATURES if merged["log_features"] is None else frozenset(merged["log_features"])
        log_mask = [name in logged for name in self.features]
        transformed = np.where(log_mask, np.sign(features) * np.log1p(np.abs(features)), features)
        mean, spread = transformed.mean(axis=0), transformed.std(axis=0)
        # A constant column carries nothing; dividing by 1 keeps it at zero instead of NaN.
        std = np.where(spread > 1e-12, spread, 1.0)
        hidden = [int(size) for size in merged["hidden"]]
        dropout = float(merged["dropout"])
        epochs, patience = int(merged["max_epochs"]), int(merged["patience"])
        batch_size = int(merged["batch_size"])

        with _reproducible(int(merged["seed"]), int(merged["threads"])):
            network = _Network(hidden, dropout, log_mask, mean.tolist(), std.tolist())
            with torch.no_grad():
                z_train = network.standardise(torch.as_tensor(features, dtype=torch.float32))
                z_valid = network.standardise(torch.as_tensor(validation[0], dtype=torch.float32))
            y_train = torch.as_tensor(labels, dtype=torch.float32)
            y_valid = torch.as_tensor(validation[1], dtype=torch.float32)
            optimiser = torch.optim.Adam(
                network.parameters(),
                lr=float(merged["learning_rate"]),
                weight_decay=float(merged["weight_decay"]),
            )
            loss_function = nn.BCEWithLogitsLoss()
            best_loss, best_epoch, stale = float("inf"), 0, 0
            best_state = {key: value.clone() for key, value in network.state_dict().items()}
            for epoch in range(1, epochs + 1):
                network.train()
                shuffled = torch.from_numpy(rng.permutation(len(z_train)))
                for start in range(0, len(shuffled), batch_size):
                    batch = shuffled[start : start + batch_size]
                    optimiser.zero_grad()
                    loss_function(network.logit(z_train[batch]), y_train[batch]).backward()
                    optimiser.step()
                network.eval()
                with torch.no_grad():
                    valid_loss = float(loss_function(network.logit(z_valid), y_valid))
                if progress:
                    progress(epoch, epochs)
                if valid_loss < best_loss:
                    best_loss, best_epoch, stale = valid_loss, epoch, 0
                    best_state = {key: value.clone() for key, value in network.state_dict().items()}
                else:
                    stale += 1
                    if stale >= patience:
                        break

        config = {
            "features": list(self.features),
            "hidden": hidden,
            "dropout": dropout,
            "log_features": [name for name, on in zip(self.features, log_mask, strict=True) if on],
            "mean": mean.tolist(),
            "std": std.tolist(),
            "best_epoch": best_epoch,
            "epochs_trained": epoch,
            "best_validation_loss": best_loss,
            "params": {key: merged[key] for key in sorted(merged) if key != "log_features"},
        }
        return {
            WEIGHTS_FILE: save_tensors(best_state),
            CONFIG_FILE: json.dumps(config, indent=2).encode(),
        }

    def load(self, files: Mapping[str, bytes]) -> TorchModel:
        _one_thread()
        config = json.loads(files[CONFIG_FILE])
        if config["features"] != list(self.features):
            raise ValueError(f"{self.name}: the artifact was trained on {config['features']}")
        _check_size(self.name, len(self.features), config["hidden"])
        logged = set(config["log_features"])
        network = _Network(
            config["hidden"],
            config["dropout"],
            [name in logged for name in self.features],
            config["mean"],
            config["std"],
        )
        # safetensors holds tensors only: reading it runs no code (unlike a pickled state dict).
        network.load_state_dict(load_tensors(files[WEIGHTS_FILE]), strict=True)
        network.eval()
        network.requires_grad_(False)
        return TorchModel(network)


def _check_size(name: str, inputs: int, hidden: object) -> None:
    """Refuse a config declaring a network beyond :data:`MAX_PARAMETERS` before torch allocates it: the
    weights file would be refused anyway, but only after the layers were built."""
    if not (
        isinstance(hidden, list)
        and len(hidden) <= MAX_LAYERS
        and all(isinstance(size, int) and 0 < size <= MAX_WIDTH for size in hidden)
    ):
        limits = f"at most {MAX_LAYERS} layers of 1 to {MAX_WIDTH} units"
        raise ValueError(f"{name}: config.json declares hidden layers {hidden!r:.100}: {limits}")
    widths = [inputs, *hidden, 1]
    parameters = sum((a + 1) * b for a, b in itertools.pairwise(widths))
    if parameters > MAX_PARAMETERS:
        raise ValueError(
            f"{name}: config.json declares {parameters:,} parameters, above the plugin's {MAX_PARAMETERS:,}"
        )


@hookimpl
def creditscore_scorers() -> list[Scorer]:
    return [PyTorchTraditional()]
