"""What a run predicts: classes or numbers (the *task*), and for regression the targets'
standardisation and metrics in the targets' own units.

A regression model is trained on standardised targets, (y - mean) / std per target with the
training rows' mean and std, so one learning rate and one Huber threshold suit targets of
any scale; every number shown to the user is turned back into the target's units first.

    >>> scaling = fit_target_scaling(np.array([[100.0], [300.0]]), ["price"], "prices.csv")
    >>> to_model_units(np.array([[300.0]]), scaling).tolist()
    [[1.0]]
    >>> to_target_units(np.array([[-1.0]]), scaling).tolist()
    [[100.0]]
"""
from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import metrics, nn
from chainrule.cli.errors import UserError

__all__ = ["TASKS", "MAX_AUTO_CLASSES", "LOSSES", "LOSS_ALIASES", "detect_task",
           "fit_target_scaling", "run_scaling", "to_model_units", "to_target_units",
           "InTargetUnits"]

TASKS = ("classification", "regression")
# Whole-number labels with more distinct values than this are read as a quantity (a
# regression target) unless --task classification says otherwise: 20 covers the class
# counts of the usual benchmarks, while counts, prices and scores run to hundreds.
MAX_AUTO_CLASSES = 20
# The loss a run trains with (its config's train.loss) -> the loss module: cross-entropy for
# classes; for regression --loss chooses. Huber and smooth L1 with threshold 1 agree; on
# standardised targets 1 is one standard deviation.
LOSSES = {"mse": nn.MSELoss, "mae": nn.L1Loss, "huber": nn.HuberLoss,
          "smooth_l1": nn.SmoothL1Loss, "cross_entropy": nn.CrossEntropyLoss}
LOSS_ALIASES = {"l1": "mae"}


def detect_task(y: np.ndarray, class_names: list[str] | None) -> tuple[str, str]:
    """``(task, reason)`` for labels as :func:`chainrule.data.load_csv` returns them: text
    labels are classes (no reason given: nothing else is possible); several columns,
    fractional numbers or more than :data:`MAX_AUTO_CLASSES` distinct whole numbers are
    regression targets.

    Example:
        >>> detect_task(np.array([0.5, 1.25]), None)
        ('regression', 'the target holds fractional numbers')
    """
    if class_names is not None:  # words are classes: nothing to explain
        return "classification", ""
    if y.ndim == 2:
        return "regression", f"{y.shape[1]} numeric target columns"
    if y.dtype.kind == "f" and np.any(y != np.round(y)):
        return "regression", "the target holds fractional numbers"
    distinct = int(np.unique(y).size)
    if distinct > MAX_AUTO_CLASSES:
        return "regression", (f"the target holds {distinct} distinct whole numbers (more than "
                              f"{MAX_AUTO_CLASSES})")
    return "classification", f"{distinct} whole-number classes"


def fit_target_scaling(y: np.ndarray, names: list[str], source: str) -> dict[str, Any]:
    """Mean and standard deviation of each target column of ``y`` (N, K) over the training
    rows; a constant target is refused (nothing to learn, and R^2 is undefined)."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    mean, std = y.mean(axis=0), y.std(axis=0)
    for k, name in enumerate(names):
        if not std[k] > 1e-12 * max(1.0, abs(mean[k])):
            raise UserError(f"{source}: the target {name!r} is constant over the {len(y)} "
                            f"training rows (every value is {y[0, k]:g}); there is nothing to "
                            f"learn and R^2 is undefined")
    return {"names": list(names), "mean": mean.tolist(), "std": std.tolist()}


def run_scaling(data: dict[str, Any], prep: dict[str, Any]) -> dict[str, Any] | None:
    """A run's target scaling: None for a classifier; for a regression run its
    standardisation, or the identity for one trained on targets as they are (the
    playground's exports, which name their one target in ``class_names``)."""
    if "targets" in prep:
        return prep["targets"]
    if data.get("task") != "regression":
        return None
    names = list(data.get("class_names") or ["y"])
    return {"names": names, "mean": [0.0] * len(names), "std": [1.0] * len(names)}


def to_model_units(y: np.ndarray, scaling: dict[str, Any]) -> np.ndarray:
    """Targets in their own units (N, K) -> the standardised float32 values the model learns."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    return ((y - np.asarray(scaling["mean"])) / np.asarray(scaling["std"])).astype(np.float32)


def to_target_units(values: np.ndarray, scaling: dict[str, Any]) -> np.ndarray:
    """The model's standardised outputs (N, K) -> float64 values in the targets' units."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return values * np.asarray(scaling["std"]) + np.asarray(scaling["mean"])


class InTargetUnits(metrics.Metric):
    """A streaming regression metric fed model-unit batches but computed in the targets'
    units (an RMSE of 53.2 points of disease progression, not of 0.69 standard deviations).

    Example:
        >>> scaling = {"names": ["y"], "mean": [10.0], "std": [2.0]}
        >>> mae = InTargetUnits(metrics.MeanAbsoluteError(), scaling)
        >>> mae.update(np.array([[0.0]]), np.array([[1.5]]))
        >>> mae.compute()
        3.0
    """

    def __init__(self, metric: metrics.Metric, scaling: dict[str, Any]) -> None:
        self.metric, self.scaling = metric, scaling
        super().__init__()

    def reset(self) -> None:
        self.metric.reset()

    def update(self, y_true, y_pred) -> None:
        self.metric.update(to_target_units(_values(y_true), self.scaling),
                           to_target_units(_values(y_pred), self.scaling))

    def compute(self):
        return self.metric.compute()


def _values(x) -> np.ndarray:
    return np.asarray(getattr(x, "data", x))
