"""Regression metrics: mean squared and absolute error, root mean squared error, R^2,
explained variance and max error, for one output (shape (N,)) or several (shape (N, K)), in
float64, equal to scikit-learn's."""
from __future__ import annotations

import warnings

import numpy as np

from chainrule.metrics._checks import ArrayLike, check_nonempty, check_same_length, to_numpy

_MULTIOUTPUT = ("raw_values", "uniform_average")


def regression_pair(y_true: ArrayLike, y_pred: ArrayLike, fn: str) -> tuple[np.ndarray, np.ndarray]:
    """Both arguments as float64 arrays of shape (N, K); 1-D inputs become (N, 1)."""
    arrays = []
    for name, value in (("y_true", y_true), ("y_pred", y_pred)):
        arr = to_numpy(value, name, fn)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{fn}: {name} must be numeric, got dtype {arr.dtype}")
        if arr.ndim not in (1, 2):
            raise ValueError(f"{fn}: {name} must have shape (N,) or (N, K), got shape "
                             f"{arr.shape}")
        arrays.append(arr.astype(np.float64, copy=False))
    truth, pred = arrays
    check_same_length(truth, pred, "y_true", "y_pred", fn)
    check_nonempty(truth, "y_true", fn)
    truth2, pred2 = truth.reshape(truth.shape[0], -1), pred.reshape(pred.shape[0], -1)
    if truth2.shape[1] != pred2.shape[1]:
        raise ValueError(f"{fn}: y_true (shape {truth.shape}) and y_pred (shape {pred.shape}) "
                         f"have different numbers of outputs")
    return truth2, pred2


def combine_outputs(per_output: np.ndarray, multioutput, fn: str,
                    allowed: tuple = _MULTIOUTPUT):
    """'raw_values' keeps one value per output; 'uniform_average' their mean; an array of K
    weights their weighted mean."""
    if isinstance(multioutput, str):
        if multioutput not in allowed:
            raise ValueError(f"{fn}: multioutput must be one of {allowed} or an array of "
                             f"weights, got {multioutput!r}")
        if multioutput == "raw_values":
            return per_output
        return float(np.mean(per_output))
    weights = np.asarray(to_numpy(multioutput, "multioutput", fn), dtype=np.float64)
    if weights.shape != per_output.shape:
        raise ValueError(f"{fn}: multioutput weights have shape {weights.shape}, expected one "
                         f"per output: {per_output.shape}")
    return float(np.average(per_output, weights=weights))


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike, *,
                       multioutput="uniform_average"):
    """Mean of squared differences, mean((y_true - y_pred)^2), per output then averaged.

    Example:
        >>> mean_squared_error([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
        0.375
    """
    fn = "mean_squared_error"
    truth, pred = regression_pair(y_true, y_pred, fn)
    return combine_outputs(np.mean((truth - pred) ** 2, axis=0), multioutput, fn)


def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike, *,
                        multioutput="uniform_average"):
    """Mean of absolute differences, mean(|y_true - y_pred|), per output then averaged.

    Example:
        >>> mean_absolute_error([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
        0.5
    """
    fn = "mean_absolute_error"
    truth, pred = regression_pair(y_true, y_pred, fn)
    return combine_outputs(np.mean(np.abs(truth - pred), axis=0), multioutput, fn)


def fraction_explained(numerator: np.ndarray, denominator: np.ndarray, multioutput, fn: str,
                       force_finite: bool = True):
    """``1 - numerator / denominator`` per output, combined: the common end of R^2 (residual
    and total sums of squares) and explained variance (residual and target variances).

    A zero denominator (a constant target) makes the ratio 0/0 or x/0: with
    ``force_finite`` the score is 1 for a zero numerator (a perfect prediction) and 0
    otherwise (scikit-learn's rule); without it the division gives NaN or -inf.
    ``multioutput='variance_weighted'`` weights each output by its denominator (uniform
    weights when every denominator is zero).
    """
    if force_finite:
        scores = np.ones(numerator.shape[0])
        defined = (denominator != 0) & (numerator != 0)
        scores[defined] = 1 - numerator[defined] / denominator[defined]
        scores[(numerator != 0) & (denominator == 0)] = 0.0
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = 1 - numerator / denominator
    if isinstance(multioutput, str) and multioutput == "variance_weighted":
        if not np.any(denominator != 0):
            return float(np.mean(scores))
        return float(np.average(scores, weights=denominator))
    return combine_outputs(scores, multioutput, fn,
                           allowed=_MULTIOUTPUT + ("variance_weighted",))


def r2_score(y_true: ArrayLike, y_pred: ArrayLike, *, multioutput="uniform_average",
             force_finite: bool = True):
    """Coefficient of determination, 1 - sum((y - y_pred)^2) / sum((y - mean(y))^2).

    A constant ``y_true`` makes the ratio 0/0 or x/0: with ``force_finite`` the score is 1
    for a perfect prediction and 0 otherwise (scikit-learn's rule), without it NaN or -inf.
    ``multioutput='variance_weighted'`` weights each output by the variance of its targets.
    Fewer than two samples give NaN with a warning.

    Example:
        >>> r2_score([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
        0.9486081370449679
    """
    fn = "r2_score"
    truth, pred = regression_pair(y_true, y_pred, fn)
    if truth.shape[0] < 2:
        warnings.warn(f"{fn}: R^2 is undefined for fewer than two samples (NaN)", stacklevel=2)
        return float("nan")
    residual = np.sum((truth - pred) ** 2, axis=0)
    spread = np.sum((truth - np.mean(truth, axis=0)) ** 2, axis=0)
    return fraction_explained(residual, spread, multioutput, fn, force_finite)


def explained_variance_score(y_true: ArrayLike, y_pred: ArrayLike, *,
                             multioutput="uniform_average", force_finite: bool = True):
    """Explained variance, 1 - Var(y - y_pred) / Var(y): R^2 without the penalty for a
    constant offset (a prediction off by the same amount everywhere still scores 1).

    Constant targets and ``multioutput`` follow :func:`r2_score` (scikit-learn's rules).

    Example:
        >>> explained_variance_score([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
        0.9571734475374732
    """
    fn = "explained_variance_score"
    truth, pred = regression_pair(y_true, y_pred, fn)
    diff = truth - pred
    residual_var = np.mean((diff - np.mean(diff, axis=0)) ** 2, axis=0)
    target_var = np.mean((truth - np.mean(truth, axis=0)) ** 2, axis=0)
    return fraction_explained(residual_var, target_var, multioutput, fn, force_finite)


def root_mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike, *,
                            multioutput="uniform_average"):
    """Square root of the mean squared error, per output then averaged (in the units of
    the target).

    Example:
        >>> root_mean_squared_error([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
        0.6123724356957945
    """
    fn = "root_mean_squared_error"
    truth, pred = regression_pair(y_true, y_pred, fn)
    return combine_outputs(np.sqrt(np.mean((truth - pred) ** 2, axis=0)), multioutput, fn)


def max_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The largest absolute difference, max |y_true - y_pred|: the worst case. One output
    only, as in scikit-learn (call it per column for several).

    Example:
        >>> max_error([3.0, 2.0, 7.0, 1.0], [4.0, 2.0, 7.0, 1.0])
        1.0
    """
    fn = "max_error"
    truth, pred = regression_pair(y_true, y_pred, fn)
    if truth.shape[1] != 1:
        raise ValueError(f"{fn}: takes one output, got {truth.shape[1]} (shape "
                         f"{np.shape(to_numpy(y_true, 'y_true', fn))}); call it per column")
    return float(np.max(np.abs(truth - pred)))
