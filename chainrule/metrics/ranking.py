"""Metrics on scores rather than labels: ROC and precision-recall curves, the areas under
them, for binary problems and one-vs-rest multiclass problems.

Every function sweeps a decision threshold down through the distinct score values; results
(including the points ``drop_intermediate`` removes) equal scikit-learn's.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from chainrule.metrics._checks import (
    ArrayLike, as_labels, as_scores, check_label_kinds, check_nonempty, check_same_length,
    to_numpy)


def _binary_inputs(y_true: ArrayLike, y_score: ArrayLike, fn: str) -> tuple[np.ndarray, np.ndarray]:
    truth = as_labels(y_true, "y_true", fn)
    scores = as_scores(y_score, "y_score", fn, ndims=(1,))
    check_same_length(truth, scores, "y_true", "y_score", fn)
    check_nonempty(truth, "y_true", fn)
    return truth, scores


def _resolve_pos_label(truth: np.ndarray, pos_label, fn: str):
    """Without an explicit pos_label the labels must be {0, 1} or {-1, 1} (or one of them):
    anything else is ambiguous about which class is 'positive'."""
    if pos_label is not None:
        return pos_label
    classes = np.unique(truth)
    allowed = ([0, 1], [-1, 1], [0], [-1], [1])
    if truth.dtype.kind in "US" or not any(
            classes.size == len(a) and np.all(classes == a) for a in allowed):
        raise ValueError(f"{fn}: y_true takes values {classes.tolist()} and pos_label is not "
                         f"given: make y_true take values in {{0, 1}} or {{-1, 1}}, or pass "
                         f"pos_label")
    return 1


def threshold_counts(positive: np.ndarray, scores: np.ndarray):
    """False and true positive counts when predicting 'positive' for every score >= t, for
    each distinct score t from high to low; returns (fps, tps, thresholds)."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    hits = positive[order].astype(np.float64)
    # the last index of each run of equal scores: ties share one threshold
    last_of_run = np.concatenate([np.nonzero(np.diff(sorted_scores))[0], [hits.size - 1]])
    tps = np.cumsum(hits)[last_of_run]
    fps = 1 + last_of_run - tps
    return fps, tps, sorted_scores[last_of_run]


def roc_curve(y_true: ArrayLike, y_score: ArrayLike, *, pos_label=None,
              drop_intermediate: bool = True):
    """Receiver operating characteristic: false and true positive rates as the threshold
    falls through the scores.

    Returns ``(fpr, tpr, thresholds)``; ``thresholds[0]`` is ``inf`` (nothing predicted
    positive, so the curve starts at (0, 0)). ``drop_intermediate`` drops points on straight
    segments, which leave the area unchanged. Without negatives (positives) in ``y_true``
    the fpr (tpr) is NaN and a warning is raised.

    Example:
        >>> fpr, tpr, thresholds = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> fpr.tolist(), tpr.tolist(), thresholds.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
    """
    fn = "roc_curve"
    truth, scores = _binary_inputs(y_true, y_score, fn)
    positive = truth == _resolve_pos_label(truth, pos_label, fn)
    fps, tps, thresholds = threshold_counts(positive, scores)
    if drop_intermediate and fps.size > 2:
        # keep a point only where the curve bends (a second difference is non-zero)
        bends = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))
        keep = np.nonzero(np.concatenate([[True], bends, [True]]))[0]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps = np.concatenate([[0.0], fps])
    tps = np.concatenate([[0.0], tps])
    thresholds = np.concatenate([[np.inf], thresholds])
    return (_rate(fps, "negative", fn), _rate(tps, "positive", fn), thresholds)


def _rate(counts: np.ndarray, kind: str, fn: str) -> np.ndarray:
    if counts[-1] <= 0:
        warnings.warn(f"{fn}: y_true has no {kind} samples, so the {kind} rate is undefined "
                      f"(NaN)", stacklevel=3)
        return np.full(counts.shape, np.nan)
    return counts / counts[-1]


def auc(x: ArrayLike, y: ArrayLike) -> float:
    """Area under a curve by the trapezoid rule; ``x`` must be monotonic.

    Example:
        >>> auc([0.0, 0.5, 1.0], [0.0, 1.0, 1.0])
        0.75
    """
    fn = "auc"
    xs, ys = as_scores(x, "x", fn, ndims=(1,)), as_scores(y, "y", fn, ndims=(1,))
    check_same_length(xs, ys, "x", "y", fn)
    if xs.size < 2:
        raise ValueError(f"{fn}: at least 2 points are needed, got x of shape {xs.shape}")
    dx = np.diff(xs)
    direction = 1.0
    if np.any(dx < 0):
        if not np.all(dx <= 0):
            raise ValueError(f"{fn}: x is neither increasing nor decreasing")
        direction = -1.0
    return float(direction * (dx * (ys[1:] + ys[:-1]) / 2.0).sum())


def _binary_roc_auc(positive: np.ndarray, scores: np.ndarray, fn: str) -> float:
    if np.unique(positive).size != 2:
        warnings.warn(f"{fn}: only one class is present in y_true, so ROC AUC is undefined "
                      f"(NaN)", stacklevel=4)
        return float("nan")
    fpr, tpr, _ = roc_curve(positive, scores)
    return auc(fpr, tpr)


def _binary_average_precision(positive: np.ndarray, scores: np.ndarray, fn: str) -> float:
    precision, recall, _ = precision_recall_curve(positive, scores, pos_label=True)
    # the step integral sum_n (R_n - R_{n-1}) P_n; max() turns a rounding -0.0 into 0.0
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def _one_vs_rest(metric: Callable, truth: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                 average: str | None, fn: str):
    """Score each column as class-vs-rest and average: 'macro' plain mean, 'weighted' by
    class frequency, 'micro' one binary problem over all (sample, class) pairs, None one
    value per class."""
    onehot = truth[:, None] == classes[None, :]
    if average == "micro":
        return metric(onehot.ravel(), scores.ravel(), fn)
    per_class = np.array([metric(onehot[:, c], scores[:, c], fn) for c in range(classes.size)])
    if average is None:
        return per_class
    if average == "weighted":
        weights = onehot.sum(axis=0).astype(np.float64)
        if weights.sum() == 0:
            return 0.0
        per_class[weights == 0] = 0.0
        return float(np.average(per_class, weights=weights))
    return float(np.mean(per_class))


def _check_average(average, fn: str) -> None:
    if average not in ("macro", "weighted", "micro", None):
        raise ValueError(f"{fn}: average must be 'macro', 'weighted', 'micro' or None, got "
                         f"{average!r}")


def roc_auc_score(y_true: ArrayLike, y_score: ArrayLike, *, average: str | None = "macro",
                  labels: ArrayLike | None = None):
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative.

    Binary: ``y_score`` of shape (N,) scores the greater of the two labels. Multiclass
    (one-vs-rest): ``y_score`` of shape (N, C) holds class probabilities (rows sum to 1) in
    the order of ``labels`` (default: the sorted labels in ``y_true``, which must then number
    C); ``average`` combines the per-class AUCs ('macro', 'weighted' by class frequency,
    'micro', or None for the per-class array). A class absent from ``y_true`` gets NaN with a
    warning.

    Example:
        >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    fn = "roc_auc_score"
    _check_average(average, fn)
    truth = as_labels(y_true, "y_true", fn)
    scores = as_scores(y_score, "y_score", fn)
    check_same_length(truth, scores, "y_true", "y_score", fn)
    check_nonempty(truth, "y_true", fn)
    if scores.ndim == 1:
        classes = np.unique(truth)
        if classes.size > 2:
            raise ValueError(f"{fn}: y_true holds {classes.size} classes, so y_score must be "
                             f"probabilities of shape (N, C), got shape {scores.shape}")
        return _binary_roc_auc(truth == classes[-1], scores, fn)
    classes = _score_classes(truth, scores, labels, fn)
    if not np.allclose(1.0, scores.sum(axis=1)):
        raise ValueError(f"{fn}: multiclass ROC AUC needs probabilities, each row of y_score "
                         f"(shape {scores.shape}) summing to 1; apply softmax first")
    return _one_vs_rest(_binary_roc_auc, truth, scores, classes, average, fn)


def _score_classes(truth: np.ndarray, scores: np.ndarray, labels: ArrayLike | None,
                   fn: str) -> np.ndarray:
    """The class of each score column: ``labels``, or the sorted classes of ``y_true``."""
    if labels is None:
        classes = np.unique(truth)
        if classes.size != scores.shape[1]:
            raise ValueError(f"{fn}: y_true holds {classes.size} classes {classes.tolist()} "
                             f"but y_score has {scores.shape[1]} columns (shape "
                             f"{scores.shape}); pass labels= to name every column's class")
        return classes
    classes = to_numpy(labels, "labels", fn)
    check_label_kinds((classes, truth), fn)
    if classes.ndim != 1 or classes.size != scores.shape[1]:
        raise ValueError(f"{fn}: labels must name the {scores.shape[1]} columns of y_score "
                         f"(shape {scores.shape}), got labels of shape {classes.shape}")
    if np.unique(classes).size != classes.size:
        raise ValueError(f"{fn}: labels must not repeat, got {classes.tolist()}")
    unknown = np.setdiff1d(truth, classes)
    if unknown.size:
        raise ValueError(f"{fn}: y_true holds labels {unknown.tolist()} that are not in labels "
                         f"{classes.tolist()}")
    return classes


def precision_recall_curve(y_true: ArrayLike, y_score: ArrayLike, *, pos_label=None,
                           drop_intermediate: bool = False):
    """Precision and recall as the threshold falls through the scores.

    Returns ``(precision, recall, thresholds)`` ordered by increasing threshold;
    ``precision`` and ``recall`` have one more entry than ``thresholds``, the end point
    (precision 1, recall 0). ``drop_intermediate`` removes thresholds that change only
    precision between two that keep recall fixed. With no positives recall is set to 1
    everywhere and a warning is raised.

    Example:
        >>> p, r, t = precision_recall_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> p.tolist(), r.tolist(), t.tolist()
        ([0.5, 0.6666666666666666, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.5, 0.0], [0.1, 0.35, 0.4, 0.8])
    """
    fn = "precision_recall_curve"
    truth, scores = _binary_inputs(y_true, y_score, fn)
    positive = truth == _resolve_pos_label(truth, pos_label, fn)
    fps, tps, thresholds = threshold_counts(positive, scores)
    if drop_intermediate and fps.size > 2:
        recall_changes = np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:]))
        keep = np.nonzero(np.concatenate([[True], recall_changes, [True]]))[0]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    predicted = tps + fps
    precision = np.where(predicted != 0, tps / np.where(predicted != 0, predicted, 1), 0.0)
    if tps[-1] == 0:
        warnings.warn(f"{fn}: y_true has no positive samples, so recall is set to 1 for all "
                      f"thresholds", stacklevel=2)
        recall = np.ones_like(tps)
    else:
        recall = tps / tps[-1]
    return (np.concatenate([precision[::-1], [1.0]]), np.concatenate([recall[::-1], [0.0]]),
            thresholds[::-1])


def average_precision_score(y_true: ArrayLike, y_score: ArrayLike, *,
                            average: str | None = "macro", pos_label=1):
    """Average precision: the mean of precisions at each threshold weighted by the gain in
    recall, sum_n (R_n - R_{n-1}) P_n (no interpolation, as in scikit-learn).

    Binary: ``y_score`` of shape (N,), ``pos_label`` the positive class. Multiclass: scores of
    shape (N, C), one column per sorted class of ``y_true``, combined one-vs-rest by
    ``average`` ('macro', 'weighted', 'micro' or None).

    Example:
        >>> round(average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
        0.8333
    """
    fn = "average_precision_score"
    _check_average(average, fn)
    truth = as_labels(y_true, "y_true", fn)
    scores = as_scores(y_score, "y_score", fn)
    check_same_length(truth, scores, "y_true", "y_score", fn)
    check_nonempty(truth, "y_true", fn)
    classes = np.unique(truth)
    if scores.ndim == 1:
        if classes.size > 2:
            raise ValueError(f"{fn}: y_true holds {classes.size} classes, so y_score must have "
                             f"shape (N, C), got shape {scores.shape}")
        if classes.size == 2 and not np.any(classes == pos_label):
            raise ValueError(f"{fn}: pos_label={pos_label!r} is not one of the labels "
                             f"{classes.tolist()}")
        return _binary_average_precision(truth == pos_label, scores, fn)
    classes = _score_classes(truth, scores, None, fn)
    return _one_vs_rest(_binary_average_precision, truth, scores, classes, average, fn)
