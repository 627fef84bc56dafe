"""How ``fit``/``evaluate`` turn their ``metrics=`` argument into streaming metrics.

A metric may be given as

* a name: ``"accuracy"`` (or ``"acc"``), ``"mse"``, ``"rmse"``, ``"mae"``, ``"r2"``;
* a ``chainrule.metrics.Metric`` object (``Accuracy(top_k=5)``), logged under its class name
  in snake case (``accuracy``, ``mean_squared_error``), or a ``(name, Metric)`` pair;
* a function ``f(y_true, y_pred) -> float`` (``cr.metrics.accuracy``), averaged over
  samples, logged under its ``__name__``.

Every metric is fed ``(targets, outputs)`` for each batch, in the metrics package's
``(y_true, y_pred)`` order.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable, Sequence, Union

import numpy as np

from chainrule import metrics as _metrics

MetricSpec = Union[str, "_metrics.Metric", tuple, Callable[..., float]]

_BY_NAME: dict[str, tuple[str, Callable[[], Any]]] = {
    "accuracy": ("accuracy", _metrics.Accuracy),
    "acc": ("accuracy", _metrics.Accuracy),
    "mse": ("mse", _metrics.MeanSquaredError),
    "mean_squared_error": ("mse", _metrics.MeanSquaredError),
    "rmse": ("rmse", _metrics.RootMeanSquaredError),
    "root_mean_squared_error": ("rmse", _metrics.RootMeanSquaredError),
    "mae": ("mae", _metrics.MeanAbsoluteError),
    "mean_absolute_error": ("mae", _metrics.MeanAbsoluteError),
    "r2": ("r2", _metrics.R2Score),
    "r2_score": ("r2", _metrics.R2Score),
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class TrackedMetric:
    """A streaming metric with the name it is logged under."""

    def __init__(self, name: str, metric):
        self.name, self.metric = name, metric

    def reset(self) -> None:
        self.metric.reset()

    def update(self, outputs, targets) -> None:
        self.metric.update(targets, outputs)

    def compute(self) -> float:
        value = self.metric.compute()
        if np.ndim(value) != 0:
            raise TypeError(f"metric {self.name!r} returned an array of shape {np.shape(value)}; "
                            f"fit and evaluate log single numbers")
        return float(value)

    def fresh(self) -> "TrackedMetric":
        """An independent copy with nothing seen (for validation next to training)."""
        twin = TrackedMetric(self.name, copy.deepcopy(self.metric))
        twin.reset()
        return twin


class _FunctionMetric:
    """A one-shot metric function averaged over batches, weighted by batch size."""

    def __init__(self, fn: Callable[[Any, Any], float]):
        self.fn = fn
        self.mean = _metrics.Mean()

    def reset(self) -> None:
        self.mean.reset()

    def update(self, y_true, y_pred) -> None:
        self.mean.update(float(self.fn(y_true, y_pred)), weight=len(y_true))

    def compute(self) -> float:
        return self.mean.compute()


def make_metric(spec: MetricSpec) -> TrackedMetric:
    if isinstance(spec, TrackedMetric):
        return spec.fresh()
    if isinstance(spec, str):
        key = spec.lower()
        if key not in _BY_NAME:
            raise ValueError(f"metrics: unknown metric {spec!r}; choose from {sorted(_BY_NAME)}, "
                             f"or pass a chainrule.metrics.Metric object or a function")
        name, cls = _BY_NAME[key]
        return TrackedMetric(name, cls())
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        inner = make_metric(spec[1])
        return TrackedMetric(spec[0], inner.metric)
    if isinstance(spec, _metrics.Metric):
        return TrackedMetric(_snake(type(spec).__name__), copy.deepcopy(spec))
    if callable(spec):
        return TrackedMetric(getattr(spec, "__name__", "metric"), _FunctionMetric(spec))
    raise TypeError(f"metrics: expected a name, a chainrule.metrics.Metric, a (name, metric) pair "
                    f"or a function, got {type(spec).__name__}")


def make_metrics(specs: Sequence[MetricSpec] | None) -> list[TrackedMetric]:
    """Tracked metrics for ``specs`` (each one fresh); refuses duplicate names and ``loss``."""
    if specs is None:
        return []
    if isinstance(specs, (str, _metrics.Metric)):
        specs = [specs]
    tracked = [make_metric(s) for s in specs]
    names = [m.name for m in tracked]
    for name in names:
        if name == "loss" or name == "lr" or name.startswith("val_"):
            raise ValueError(f"metrics: the name {name!r} is reserved (loss, lr, val_*)")
        if names.count(name) > 1:
            raise ValueError(f"metrics: two metrics are named {name!r}; use (name, metric) pairs")
    return tracked
