"""Streaming metrics for a training loop: feed each batch with ``update``, read the result
over everything seen with ``compute``, start again with ``reset``.

Each keeps only sufficient statistics (sums and counts), so its result over many batches
equals the one-shot function on the concatenated data.

    >>> acc = Accuracy()
    >>> acc.update([0, 1], [0, 0]); acc.update([2], [2])
    >>> acc.compute()
    0.6666666666666666
"""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod

import numpy as np

from chainrule.metrics._checks import (
    ArrayLike, as_labels, as_scores, check_same_length, check_zero_division, to_numpy)
from chainrule.metrics.classification import (
    correct_count, counts_matrix, normalize_counts, prf_from_counts)
from chainrule.metrics.regression import combine_outputs, fraction_explained, regression_pair


class Metric(ABC):
    """Base of the streaming metrics: ``update(...)`` accumulates, ``compute()`` reports,
    ``reset()`` forgets (it also creates the state, so ``__init__`` calls it)."""

    def __init__(self) -> None:
        self.reset()

    @abstractmethod
    def reset(self) -> None:
        """Forget everything seen so far."""

    @abstractmethod
    def update(self, *args, **kwargs) -> None:
        """Accumulate one batch."""

    @abstractmethod
    def compute(self):
        """The metric over every batch since the last reset."""

    def _require_data(self, seen: int) -> None:
        if seen == 0:
            raise ValueError(f"{type(self).__name__}.compute(): no data yet; call update() "
                             f"with at least one sample first")


class Mean(Metric):
    """Running (weighted) mean, e.g. of the loss over an epoch.

    ``update(value, weight=1.0)``: ``value`` may be a number, a 0-d Tensor (a loss) or an
    array, whose elements each count with ``weight``. Pass ``weight=batch_size`` with a
    batch-mean loss to get the per-sample mean over an epoch with a short last batch.

    Example:
        >>> m = Mean()
        >>> m.update(2.0, weight=3); m.update(4.0, weight=1)
        >>> m.compute()
        2.5
    """

    def reset(self) -> None:
        self.total = 0.0
        self.weight = 0.0

    def update(self, value: ArrayLike | float, weight: float = 1.0) -> None:
        values = to_numpy(value, "value", "Mean.update")
        if values.dtype.kind not in "biuf":
            raise ValueError(f"Mean.update: value must be numeric, got dtype {values.dtype}")
        values = values.astype(np.float64, copy=False)
        weights = np.broadcast_to(np.asarray(weight, dtype=np.float64), values.shape)
        if np.any(weights < 0):
            raise ValueError(f"Mean.update: weight must be non-negative, got {weight!r}")
        self.total += float(np.sum(values * weights))
        self.weight += float(np.sum(weights))

    def compute(self) -> float:
        if self.weight == 0:
            raise ValueError("Mean.compute(): no data yet (total weight 0); call update() "
                             "first")
        return self.total / self.weight

    def __repr__(self) -> str:
        return f"Mean(total={self.total}, weight={self.weight})"


class Accuracy(Metric):
    """Running accuracy over labels of shape (N,) or scores of shape (N, C), with optional
    top-k: the streaming form of :func:`~chainrule.metrics.accuracy`.

    Example:
        >>> acc = Accuracy(top_k=2)
        >>> acc.update([0, 2], [[0.6, 0.3, 0.1], [0.5, 0.3, 0.2]])
        >>> acc.compute()
        0.5
    """

    def __init__(self, top_k: int = 1) -> None:
        if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"Accuracy: top_k must be a positive int, got {top_k!r}")
        self.top_k = int(top_k)
        super().__init__()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, y_true: ArrayLike, y_pred: ArrayLike) -> None:
        correct, total = correct_count(y_true, y_pred, self.top_k, fn="Accuracy.update")
        self.correct += correct
        self.total += total

    def compute(self) -> float:
        self._require_data(self.total)
        return self.correct / self.total

    def __repr__(self) -> str:
        return f"Accuracy(top_k={self.top_k}, correct={self.correct}, total={self.total})"


class ConfusionMatrix(Metric):
    """Running confusion matrix over class indices ``0..num_classes-1`` (rows: truth,
    columns: prediction), from which precision, recall and F-scores derive.

    ``update(y_true, y_pred)`` takes predicted indices of shape (N,) or scores of shape
    (N, num_classes) (argmax is taken). The derived scores equal the one-shot functions
    called with ``labels=range(num_classes)``; ``average='binary'`` needs two classes.

    Example:
        >>> cm = ConfusionMatrix(3)
        >>> cm.update([0, 1, 1, 2], [0, 1, 2, 2])
        >>> cm.compute().tolist()
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
        >>> round(cm.f1_score(average="macro"), 4)
        0.7778
    """

    def __init__(self, num_classes: int) -> None:
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) \
                or num_classes < 1:
            raise ValueError(f"ConfusionMatrix: num_classes must be a positive int, got "
                             f"{num_classes!r}")
        self.num_classes = int(num_classes)
        super().__init__()

    def reset(self) -> None:
        self.counts = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, y_true: ArrayLike, y_pred: ArrayLike) -> None:
        fn = "ConfusionMatrix.update"
        truth = self._indices(as_labels(y_true, "y_true", fn), "y_true", fn)
        pred = to_numpy(y_pred, "y_pred", fn)
        if pred.ndim == 2:
            scores = as_scores(pred, "y_pred", fn, ndims=(2,))
            if scores.shape[1] != self.num_classes:
                raise ValueError(f"{fn}: scores of shape {scores.shape} have "
                                 f"{scores.shape[1]} columns, expected num_classes="
                                 f"{self.num_classes}")
            pred = np.argmax(scores, axis=1)
        else:
            pred = self._indices(as_labels(pred, "y_pred", fn), "y_pred", fn)
        check_same_length(truth, pred, "y_true", "y_pred", fn)
        self.counts += counts_matrix(truth, pred, self.num_classes)

    def _indices(self, labels: np.ndarray, name: str, fn: str) -> np.ndarray:
        if labels.dtype.kind in "US":
            raise ValueError(f"{fn}: {name} must hold class indices, got dtype {labels.dtype}")
        idx = labels.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_classes):
            raise ValueError(f"{fn}: {name} holds class indices in [{idx.min()}, {idx.max()}],"
                             f" outside [0, {self.num_classes})")
        return idx

    def compute(self, normalize: str | None = None) -> np.ndarray:
        """The (num_classes, num_classes) counts, or normalized as in
        :func:`~chainrule.metrics.confusion_matrix`."""
        if normalize not in (None, "true", "pred", "all"):
            raise ValueError(f"ConfusionMatrix.compute: normalize must be None, 'true', "
                             f"'pred' or 'all', got {normalize!r}")
        return normalize_counts(self.counts.copy(), normalize)

    def precision_recall_fscore_support(self, *, beta: float = 1.0, average: str | None = None,
                                        pos_label: int = 1, zero_division: float = 0.0):
        """As :func:`~chainrule.metrics.precision_recall_fscore_support` on all the data."""
        fn = "ConfusionMatrix.precision_recall_fscore_support"
        if average not in ("binary", "micro", "macro", "weighted", None):
            raise ValueError(f"{fn}: average must be 'binary', 'micro', 'macro', 'weighted' "
                             f"or None, got {average!r}")
        if not isinstance(beta, (int, float, np.number)) or isinstance(beta, bool) or beta < 0:
            raise ValueError(f"{fn}: beta must be a non-negative number, got {beta!r}")
        zero_value = check_zero_division(zero_division, fn)
        self._require_data(int(self.counts.sum()))
        tp = np.diag(self.counts)
        pred_sum, true_sum = self.counts.sum(axis=0), self.counts.sum(axis=1)
        if average == "binary":
            if self.num_classes != 2:
                raise ValueError(f"{fn}: average='binary' needs num_classes=2, this matrix has "
                                 f"{self.num_classes}; choose 'micro', 'macro', 'weighted' or "
                                 f"None")
            if pos_label not in (0, 1):
                raise ValueError(f"{fn}: pos_label must be 0 or 1, got {pos_label!r}")
            keep = [pos_label]
            tp, pred_sum, true_sum = tp[keep], pred_sum[keep], true_sum[keep]
        return prf_from_counts(tp, pred_sum, true_sum, float(beta), average, zero_value)

    def precision(self, average: str | None = "macro", *, pos_label: int = 1,
                  zero_division: float = 0.0):
        """Precision over all updates (macro average by default)."""
        return self.precision_recall_fscore_support(
            average=average, pos_label=pos_label, zero_division=zero_division)[0]

    def recall(self, average: str | None = "macro", *, pos_label: int = 1,
               zero_division: float = 0.0):
        """Recall over all updates (macro average by default)."""
        return self.precision_recall_fscore_support(
            average=average, pos_label=pos_label, zero_division=zero_division)[1]

    def f1_score(self, average: str | None = "macro", *, pos_label: int = 1,
                 zero_division: float = 0.0):
        """F1 over all updates (macro average by default)."""
        return self.precision_recall_fscore_support(
            average=average, pos_label=pos_label, zero_division=zero_division)[2]

    def accuracy(self) -> float:
        """Fraction on the diagonal."""
        total = int(self.counts.sum())
        self._require_data(total)
        return int(np.trace(self.counts)) / total

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes}, samples={int(self.counts.sum())})"


# ---------------------------------------------------------------------------- regression
class _RegressionMetric(Metric):
    """Running statistics of ``y_true`` and ``y_pred`` (shape (N,) or (N, K)) per output;
    ``compute()`` gives one value per output (``multioutput='raw_values'``) or their mean
    (``'uniform_average'``, the default) or a weighted mean (an array of K weights)."""

    _name = ""
    _multioutput_choices: tuple = ("raw_values", "uniform_average")

    def __init__(self, multioutput="uniform_average") -> None:
        if isinstance(multioutput, str) and multioutput not in self._multioutput_choices:
            raise ValueError(f"{self._name}: multioutput must be one of "
                             f"{self._multioutput_choices} or an array of weights, got "
                             f"{multioutput!r}")
        self.multioutput = multioutput
        super().__init__()

    def reset(self) -> None:
        self.count = 0
        self.outputs: int | None = None
        self._reset_sums()

    @abstractmethod
    def _reset_sums(self) -> None:
        """Forget the per-output statistics."""

    @abstractmethod
    def _accumulate(self, truth: np.ndarray, pred: np.ndarray) -> None:
        """Fold one batch (float64, shape (n, K)) into the statistics."""

    def update(self, y_true: ArrayLike, y_pred: ArrayLike) -> None:
        fn = f"{self._name}.update"
        truth, pred = regression_pair(y_true, y_pred, fn)
        if self.outputs is not None and truth.shape[1] != self.outputs:
            raise ValueError(f"{fn}: this batch has {truth.shape[1]} outputs, earlier batches "
                             f"had {self.outputs}")
        self.outputs = truth.shape[1]
        self._accumulate(truth, pred)
        self.count += truth.shape[0]

    def _combine(self, per_output: np.ndarray):
        return combine_outputs(per_output, self.multioutput, f"{self._name}.compute")

    def __repr__(self) -> str:
        return f"{self._name}(count={self.count})"


class _MeanError(_RegressionMetric):
    """Running mean of an elementwise error, per output."""

    def _reset_sums(self) -> None:
        self.sums: np.ndarray | None = None

    @abstractmethod
    def _error(self, diff: np.ndarray) -> np.ndarray:
        """The elementwise error of ``y_true - y_pred``."""

    def _accumulate(self, truth: np.ndarray, pred: np.ndarray) -> None:
        batch = self._error(truth - pred).sum(axis=0)
        self.sums = batch if self.sums is None else self.sums + batch

    def _per_output(self) -> np.ndarray:
        self._require_data(self.count)
        return self.sums / self.count

    def compute(self):
        return self._combine(self._per_output())


class MeanSquaredError(_MeanError):
    """Running mean squared error: the streaming form of
    :func:`~chainrule.metrics.mean_squared_error`.

    Example:
        >>> mse = MeanSquaredError()
        >>> mse.update([3.0, -0.5], [2.5, 0.0]); mse.update([2.0, 7.0], [2.0, 8.0])
        >>> mse.compute()
        0.375
    """

    _name = "MeanSquaredError"

    def _error(self, diff: np.ndarray) -> np.ndarray:
        return diff ** 2


class RootMeanSquaredError(MeanSquaredError):
    """Running root mean squared error (per output, then averaged): the streaming form of
    :func:`~chainrule.metrics.root_mean_squared_error`.

    Example:
        >>> rmse = RootMeanSquaredError()
        >>> rmse.update([3.0, -0.5], [2.5, 0.0]); rmse.update([2.0, 7.0], [2.0, 8.0])
        >>> rmse.compute()
        0.6123724356957945
    """

    _name = "RootMeanSquaredError"

    def compute(self):
        return self._combine(np.sqrt(self._per_output()))


class MeanAbsoluteError(_MeanError):
    """Running mean absolute error: the streaming form of
    :func:`~chainrule.metrics.mean_absolute_error`.

    Example:
        >>> mae = MeanAbsoluteError()
        >>> mae.update([3.0, -0.5], [2.5, 0.0]); mae.update([2.0, 7.0], [2.0, 8.0])
        >>> mae.compute()
        0.5
    """

    _name = "MeanAbsoluteError"

    def _error(self, diff: np.ndarray) -> np.ndarray:
        return np.abs(diff)


class _Moments:
    """Per-column count, mean and sum of squared deviations (M2), merged batch by batch
    with Chan et al.'s pairwise update, which stays accurate where the textbook
    sum(x^2) - n mean^2 cancels catastrophically:

        n = n_a + n_b,   d = mean_b - mean_a,
        mean = mean_a + d n_b / n,   M2 = M2_a + M2_b + d^2 n_a n_b / n
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | float = 0.0
        self.m2: np.ndarray | float = 0.0

    def add(self, values: np.ndarray) -> None:
        n_b = values.shape[0]
        mean_b = values.mean(axis=0)
        m2_b = ((values - mean_b) ** 2).sum(axis=0)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * n_b / n)
        self.n = n


class _ExplainedFraction(_RegressionMetric):
    """R^2 and explained variance: ``1 - numerator / denominator`` per output from the
    moments of the targets and of the residuals ``y_true - y_pred``."""

    _multioutput_choices = ("raw_values", "uniform_average", "variance_weighted")

    def __init__(self, multioutput="uniform_average", force_finite: bool = True) -> None:
        self.force_finite = bool(force_finite)
        super().__init__(multioutput)

    def _reset_sums(self) -> None:
        self.targets = _Moments()
        self.residuals = _Moments()

    def _accumulate(self, truth: np.ndarray, pred: np.ndarray) -> None:
        self.targets.add(truth)
        self.residuals.add(truth - pred)

    @abstractmethod
    def _fraction(self) -> tuple[np.ndarray, np.ndarray]:
        """(numerator, denominator) per output."""

    def compute(self):
        self._require_data(self.count)
        numerator, denominator = self._fraction()
        return fraction_explained(numerator, denominator, self.multioutput,
                                  f"{self._name}.compute", self.force_finite)


class R2Score(_ExplainedFraction):
    """Running coefficient of determination: the streaming form of
    :func:`~chainrule.metrics.r2_score` (same rules for constant targets and
    ``multioutput``; fewer than two samples give NaN with a warning).

    The residual sum of squares is M2 + n mean^2 of the residuals, the total sum of
    squares the M2 of the targets, both merged exactly across batches.

    Example:
        >>> r2 = R2Score()
        >>> r2.update([3.0, -0.5], [2.5, 0.0]); r2.update([2.0, 7.0], [2.0, 8.0])
        >>> round(r2.compute(), 12)
        0.948608137045
    """

    _name = "R2Score"

    def _fraction(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.residuals
        return r.m2 + r.n * r.mean ** 2, self.targets.m2

    def compute(self):
        if 0 < self.count < 2:
            warnings.warn(f"{self._name}: R^2 is undefined for fewer than two samples (NaN)",
                          stacklevel=2)
            return float("nan")
        return super().compute()


class ExplainedVariance(_ExplainedFraction):
    """Running explained variance, 1 - Var(y - y_pred) / Var(y): the streaming form of
    :func:`~chainrule.metrics.explained_variance_score`.

    Example:
        >>> ev = ExplainedVariance()
        >>> ev.update([3.0, -0.5], [2.5, 0.0]); ev.update([2.0, 7.0], [2.0, 8.0])
        >>> round(ev.compute(), 12)
        0.957173447537
    """

    _name = "ExplainedVariance"

    def _fraction(self) -> tuple[np.ndarray, np.ndarray]:
        return self.residuals.m2 / self.count, self.targets.m2 / self.count


class MaxError(_RegressionMetric):
    """Running largest absolute error per output: the streaming form of
    :func:`~chainrule.metrics.max_error` (which, like scikit-learn's, takes one output;
    this one also reports several with ``multioutput='raw_values'``).

    Example:
        >>> worst = MaxError()
        >>> worst.update([3.0, 2.0], [4.0, 2.0]); worst.update([7.0], [5.5])
        >>> worst.compute()
        1.5
    """

    _name = "MaxError"

    def _reset_sums(self) -> None:
        self.worst: np.ndarray | None = None

    def _accumulate(self, truth: np.ndarray, pred: np.ndarray) -> None:
        batch = np.abs(truth - pred).max(axis=0)
        self.worst = batch if self.worst is None else np.maximum(self.worst, batch)

    def compute(self):
        self._require_data(self.count)
        return self._combine(self.worst)
