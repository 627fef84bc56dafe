"""Classification metrics on predicted labels (and accuracy on scores): accuracy, the
confusion matrix, precision / recall / F-beta with every averaging mode, and a report.

Results equal scikit-learn's for the same inputs. Where scikit-learn warns and returns 0 for a
0/0 ratio (a class never predicted, say), these return ``zero_division`` (0 by default)
without a warning.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from chainrule.metrics._checks import (
    ArrayLike, as_labels, as_scores, check_label_kinds, check_nonempty, check_same_length,
    check_zero_division, index_of, to_numpy, unique_labels)

_AVERAGES = ("binary", "micro", "macro", "weighted", None)


# ------------------------------------------------------------------------------ accuracy
def correct_count(y_true: ArrayLike, y_pred: ArrayLike, top_k: int = 1,
                  fn: str = "accuracy") -> tuple[int, int]:
    """(number of correct predictions, number of samples); shared with the streaming
    :class:`~chainrule.metrics.Accuracy` so both count the same way."""
    truth = as_labels(y_true, "y_true", fn)
    pred = to_numpy(y_pred, "y_pred", fn)
    if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"{fn}: top_k must be a positive int, got {top_k!r}")
    if pred.ndim == 2:
        scores = as_scores(pred, "y_pred", fn, ndims=(2,))
        check_same_length(truth, scores, "y_true", "y_pred", fn)
        n_classes = scores.shape[1]
        if top_k > n_classes:
            raise ValueError(f"{fn}: top_k={top_k} is larger than the number of classes "
                             f"C={n_classes} in scores of shape {scores.shape}")
        if truth.dtype.kind in "US":
            raise ValueError(f"{fn}: with (N, C) scores, y_true must hold class indices, "
                             f"got dtype {truth.dtype}")
        target = truth.astype(np.int64)
        if target.size and (target.min() < 0 or target.max() >= n_classes):
            raise ValueError(f"{fn}: y_true holds class indices in [{target.min()}, "
                             f"{target.max()}], outside [0, {n_classes}) for scores of shape "
                             f"{scores.shape}")
        return _topk_hits(target, scores, top_k), int(truth.shape[0])
    if pred.ndim != 1:
        raise ValueError(f"{fn}: y_pred must be labels of shape (N,) or scores of shape "
                         f"(N, C), got shape {pred.shape}")
    if top_k != 1:
        raise ValueError(f"{fn}: top_k={top_k} needs scores of shape (N, C), but y_pred has "
                         f"shape {pred.shape}")
    pred = as_labels(pred, "y_pred", fn)
    check_same_length(truth, pred, "y_true", "y_pred", fn)
    check_label_kinds((truth, pred), fn)
    return int(np.count_nonzero(truth == pred)), int(truth.shape[0])


def _topk_hits(target: np.ndarray, scores: np.ndarray, k: int) -> int:
    """Count rows whose true class ranks among the k best. Ranking is by score, ties broken
    toward the lower class index (so k=1 is exactly ``argmax``): the true class is in the
    top k when fewer than k classes beat it."""
    rows = np.arange(scores.shape[0])
    true_score = scores[rows, target][:, None]
    higher = np.count_nonzero(scores > true_score, axis=1)
    tied_before = np.count_nonzero(
        (scores == true_score) & (np.arange(scores.shape[1]) < target[:, None]), axis=1)
    return int(np.count_nonzero(higher + tied_before < k))


def accuracy(y_true: ArrayLike, y_pred: ArrayLike, top_k: int = 1) -> float:
    """Fraction of correct predictions.

    ``y_pred`` is either predicted labels of shape (N,) or scores / logits / probabilities of
    shape (N, C); with scores the prediction is the argmax, or with ``top_k > 1`` a sample
    counts as correct when its true class is among the ``top_k`` highest scores (ties go
    to the lower class index).

    Example:
        >>> accuracy([0, 1, 2, 2], [0, 2, 2, 2])
        0.75
        >>> accuracy([0, 1], [[0.9, 0.1, 0.0], [0.5, 0.3, 0.2]], top_k=2)
        1.0
    """
    correct, total = correct_count(y_true, y_pred, top_k, fn="accuracy")
    if total == 0:
        raise ValueError("accuracy: y_true is empty (shape (0,)); at least one sample is needed")
    return correct / total


# ------------------------------------------------------------------------ label handling
def _labels_pair(y_true: ArrayLike, y_pred: ArrayLike, fn: str) -> tuple[np.ndarray, np.ndarray]:
    truth = as_labels(y_true, "y_true", fn)
    pred = to_numpy(y_pred, "y_pred", fn)
    if pred.ndim == 2:
        raise ValueError(f"{fn}: y_pred has shape {pred.shape}; pass predicted labels of "
                         f"shape (N,), e.g. scores.argmax(1)")
    pred = as_labels(pred, "y_pred", fn)
    check_same_length(truth, pred, "y_true", "y_pred", fn)
    check_nonempty(truth, "y_true", fn)
    check_label_kinds((truth, pred), fn)
    return truth, pred


def _given_labels(labels: ArrayLike, reference: np.ndarray, fn: str) -> np.ndarray:
    arr = to_numpy(labels, "labels", fn)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{fn}: labels must be a non-empty 1-D list of labels, got shape "
                         f"{arr.shape}")
    check_label_kinds((arr, reference), fn)
    if np.unique(arr).size != arr.size:
        raise ValueError(f"{fn}: labels must not repeat, got {arr.tolist()}")
    return arr


# ---------------------------------------------------------------------- confusion matrix
def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike | None = None,
                     normalize: str | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples whose true label is ``labels[i]`` and predicted label is
    ``labels[j]`` (rows: truth, columns: prediction, as in scikit-learn).

    ``labels`` defaults to the sorted labels present in either argument; samples whose true
    or predicted label is not in ``labels`` are left out. ``normalize`` divides by the row
    sums (``'true'``), column sums (``'pred'``) or the total (``'all'``); empty rows stay 0.

    Example:
        >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
        array([[1, 0, 0],
               [0, 1, 1],
               [0, 0, 1]])
    """
    fn = "confusion_matrix"
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"{fn}: normalize must be None, 'true', 'pred' or 'all', got "
                         f"{normalize!r}")
    truth, pred = _labels_pair(y_true, y_pred, fn)
    if labels is None:
        label_arr = unique_labels(truth, pred, fn=fn)
    else:
        label_arr = _given_labels(labels, truth, fn)
        if not np.any(np.isin(truth, label_arr)):
            raise ValueError(f"{fn}: none of labels {label_arr.tolist()} occurs in y_true")
    counts = counts_matrix(index_of(label_arr, truth), index_of(label_arr, pred), label_arr.size)
    return normalize_counts(counts, normalize)


def counts_matrix(true_idx: np.ndarray, pred_idx: np.ndarray, n: int) -> np.ndarray:
    """(n, n) int64 counts of (true index, predicted index) pairs; -1 entries are skipped."""
    keep = (true_idx >= 0) & (pred_idx >= 0)
    flat = true_idx[keep].astype(np.int64) * n + pred_idx[keep]
    return np.bincount(flat, minlength=n * n).reshape(n, n).astype(np.int64)


def normalize_counts(counts: np.ndarray, normalize: str | None) -> np.ndarray:
    """Divide a confusion matrix by its row sums, column sums or total; 0/0 becomes 0."""
    if normalize is None:
        return counts
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            out = counts / counts.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = counts / counts.sum(axis=0, keepdims=True)
        else:
            out = counts / counts.sum()
    return np.nan_to_num(out)


# ----------------------------------------------------------- precision / recall / F-beta
def _safe_divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    zero = den == 0
    out = num / np.where(zero, 1.0, den)
    out[zero] = zero_division
    return out


def _nan_average(values: np.ndarray, weights: np.ndarray | None) -> float:
    """Average ignoring NaN entries (they come from ``zero_division=nan``); NaN if nothing
    is left; a weighted average whose weights are all zero falls back to the plain mean."""
    keep = ~np.isnan(values)
    if not np.any(keep):
        return float("nan")
    if weights is None or np.sum(weights[keep]) == 0:
        return float(np.mean(values[keep]))
    return float(np.average(values[keep], weights=weights[keep]))


def prf_from_counts(tp: np.ndarray, pred_sum: np.ndarray, true_sum: np.ndarray,
                    beta: float, average: str | None, zero_division: float):
    """Precision, recall, F-beta and support from per-label counts: the one formula behind
    both the one-shot functions and :class:`~chainrule.metrics.ConfusionMatrix`.

    precision = tp / predicted, recall = tp / true,
    F-beta = (1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp)
           = (1 + beta^2) tp / (beta^2 true + predicted).
    """
    support = true_sum.astype(np.int64)
    tp, pred_sum, true_sum = (np.asarray(a, dtype=np.float64) for a in (tp, pred_sum, true_sum))
    if average == "micro":
        tp, pred_sum, true_sum = (np.array([a.sum()]) for a in (tp, pred_sum, true_sum))
    precision = _safe_divide(tp, pred_sum, zero_division)
    recall = _safe_divide(tp, true_sum, zero_division)
    if np.isposinf(beta):
        fscore = recall
    elif beta == 0:
        fscore = precision
    else:
        beta2 = beta * beta
        fscore = _safe_divide((1 + beta2) * tp, beta2 * true_sum + pred_sum, zero_division)
    if average is None:
        return precision, recall, fscore, support
    weights = true_sum if average == "weighted" else None
    return (_nan_average(precision, weights), _nan_average(recall, weights),
            _nan_average(fscore, weights), None)


def precision_recall_fscore_support(
        y_true: ArrayLike, y_pred: ArrayLike, *, beta: float = 1.0,
        labels: ArrayLike | None = None, pos_label=1, average: str | None = None,
        zero_division: float = 0.0):
    """Precision, recall, F-beta and support (number of true samples) per label or averaged.

    ``average``: ``None`` gives one value per label (arrays, in ``labels`` order);
    ``'binary'`` reports only ``pos_label`` (at most two labels may occur); ``'micro'`` pools
    the counts of all labels; ``'macro'`` is the plain mean over labels; ``'weighted'`` the
    mean weighted by support. Support is ``None`` when averaged. ``labels`` (default: the
    sorted labels present) picks which labels count, as in scikit-learn. A 0/0 ratio yields
    ``zero_division`` (0, 1 or nan; nan entries are left out of averages).

    Example:
        >>> p, r, f, s = precision_recall_fscore_support([0, 1, 1, 2], [0, 1, 2, 2])
        >>> p.tolist(), r.tolist(), s.tolist()
        ([1.0, 1.0, 0.5], [1.0, 0.5, 1.0], [1, 2, 1])
    """
    fn = "precision_recall_fscore_support"
    return _prfs(y_true, y_pred, beta, labels, pos_label, average, zero_division, fn)


def _prfs(y_true, y_pred, beta, labels, pos_label, average, zero_division, fn):
    if average not in _AVERAGES:
        raise ValueError(f"{fn}: average must be one of {_AVERAGES}, got {average!r}")
    if not isinstance(beta, (int, float, np.number)) or isinstance(beta, bool) or beta < 0:
        raise ValueError(f"{fn}: beta must be a non-negative number, got {beta!r}")
    zero_value = check_zero_division(zero_division, fn)
    truth, pred = _labels_pair(y_true, y_pred, fn)
    present = unique_labels(truth, pred, fn=fn)
    if average == "binary":
        if present.size > 2:
            raise ValueError(
                f"{fn}: average='binary' needs at most 2 distinct labels, but y_true and y_pred "
                f"hold {present.size}: {present.tolist()}; choose average='micro', 'macro', "
                f"'weighted' or None")
        if present.size == 2 and not np.any(present == pos_label):
            raise ValueError(f"{fn}: pos_label={pos_label!r} is not one of the labels "
                             f"{present.tolist()}")
        label_arr = np.asarray([pos_label])
        check_label_kinds((label_arr, truth), fn)
    elif labels is None:
        label_arr = present
    else:
        label_arr = _given_labels(labels, truth, fn)
    true_idx, pred_idx = index_of(label_arr, truth), index_of(label_arr, pred)
    n = label_arr.size
    true_sum = np.bincount(true_idx[true_idx >= 0], minlength=n)
    pred_sum = np.bincount(pred_idx[pred_idx >= 0], minlength=n)
    tp = np.bincount(true_idx[(true_idx == pred_idx) & (true_idx >= 0)], minlength=n)
    return prf_from_counts(tp, pred_sum, true_sum, float(beta), average, zero_value)


def fbeta_score(y_true: ArrayLike, y_pred: ArrayLike, *, beta: float,
                labels: ArrayLike | None = None, pos_label=1, average: str | None = "binary",
                zero_division: float = 0.0):
    """F-beta score: recall counts ``beta`` times as much as precision. Arguments as in
    :func:`precision_recall_fscore_support`; ``average`` defaults to ``'binary'``.

    Example:
        >>> round(fbeta_score([0, 1, 1, 1], [0, 1, 0, 0], beta=2.0), 4)
        0.3846
    """
    return _prfs(y_true, y_pred, beta, labels, pos_label, average, zero_division,
                 "fbeta_score")[2]


def precision_score(y_true: ArrayLike, y_pred: ArrayLike, *, labels: ArrayLike | None = None,
                    pos_label=1, average: str | None = "binary", zero_division: float = 0.0):
    """Precision, tp / (tp + fp): of the samples predicted as a class, the fraction that are.

    Example:
        >>> precision_score([0, 1, 1, 0], [1, 1, 1, 0])
        0.6666666666666666
        >>> precision_score([0, 1, 2, 2], [0, 2, 2, 2], average="macro")
        0.5555555555555555
    """
    return _prfs(y_true, y_pred, 1.0, labels, pos_label, average, zero_division,
                 "precision_score")[0]


def recall_score(y_true: ArrayLike, y_pred: ArrayLike, *, labels: ArrayLike | None = None,
                 pos_label=1, average: str | None = "binary", zero_division: float = 0.0):
    """Recall, tp / (tp + fn): of the samples of a class, the fraction found.

    Example:
        >>> recall_score([0, 1, 1, 0], [1, 1, 0, 0])
        0.5
    """
    return _prfs(y_true, y_pred, 1.0, labels, pos_label, average, zero_division,
                 "recall_score")[1]


def f1_score(y_true: ArrayLike, y_pred: ArrayLike, *, labels: ArrayLike | None = None,
             pos_label=1, average: str | None = "binary", zero_division: float = 0.0):
    """F1, the harmonic mean of precision and recall: 2 tp / (2 tp + fp + fn).

    Example:
        >>> f1_score([0, 1, 1, 0], [1, 1, 0, 0])
        0.5
    """
    return _prfs(y_true, y_pred, 1.0, labels, pos_label, average, zero_division,
                 "f1_score")[2]


# ------------------------------------------------------------------------------ report
def classification_report(y_true: ArrayLike, y_pred: ArrayLike, *,
                          labels: ArrayLike | None = None,
                          target_names: Sequence[str] | None = None, digits: int = 2,
                          zero_division: float = 0.0, output_dict: bool = False):
    """A per-class table of precision, recall, F1 and support, followed by accuracy and the
    macro and weighted averages (``'micro avg'`` instead of accuracy when ``labels`` leaves
    some present label out). ``output_dict=True`` returns the same numbers as a dict.

    Example:
        >>> print(classification_report([0, 1, 1, 2], [0, 1, 2, 2], target_names=["a", "b", "c"]))
        class         precision  recall  f1-score  support
        a                  1.00    1.00      1.00        1
        b                  1.00    0.50      0.67        2
        c                  0.50    1.00      0.67        1
        <BLANKLINE>
        accuracy                             0.75        4
        macro avg          0.83    0.83      0.78        4
        weighted avg       0.88    0.75      0.75        4
    """
    fn = "classification_report"
    truth, pred = _labels_pair(y_true, y_pred, fn)
    present = unique_labels(truth, pred, fn=fn)
    label_arr = present if labels is None else _given_labels(labels, truth, fn)
    names = [str(x) for x in label_arr.tolist()] if target_names is None else list(target_names)
    if len(names) != label_arr.size:
        raise ValueError(f"{fn}: target_names has {len(names)} names but there are "
                         f"{label_arr.size} labels {label_arr.tolist()}")
    if not isinstance(digits, int) or digits < 0:
        raise ValueError(f"{fn}: digits must be a non-negative int, got {digits!r}")

    def scores(average):
        return _prfs(truth, pred, 1.0, label_arr, 1, average, zero_division, fn)

    precision, recall, f1, support = scores(None)
    total = int(support.sum())
    micro_is_accuracy = bool(np.all(np.isin(present, label_arr)))
    summary = {}
    for average in ("micro", "macro", "weighted"):
        p, r, f, _ = scores(average)
        heading = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        summary[heading] = (p, r, f)

    if output_dict:
        report: dict = {name: {"precision": float(p), "recall": float(r), "f1-score": float(f),
                               "support": int(s)}
                        for name, p, r, f, s in zip(names, precision, recall, f1, support)}
        for heading, (p, r, f) in summary.items():
            report[heading] = (f if heading == "accuracy" else
                               {"precision": p, "recall": r, "f1-score": f, "support": total})
        return report

    name_width = max([len("weighted avg"), len("class")] + [len(n) for n in names])
    num_width = max(digits + 2, 6)
    header = (f"{'class':<{name_width}}  {'precision':>{max(num_width, 9)}}  "
              f"{'recall':>{num_width}}  {'f1-score':>{max(num_width, 8)}}  {'support':>7}")
    widths = (max(num_width, 9), num_width, max(num_width, 8))

    def row(name: str, values: tuple, count: int) -> str:
        cells = ["" if v is None else f"{v:.{digits}f}" for v in values]
        body = "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths))
        return f"{name:<{name_width}}  {body}  {count:>7}".rstrip()

    lines = [header]
    lines += [row(n, (p, r, f), int(s)) for n, p, r, f, s in zip(names, precision, recall, f1,
                                                                  support)]
    lines.append("")
    for heading, (p, r, f) in summary.items():
        values = (None, None, f) if heading == "accuracy" else (p, r, f)
        lines.append(row(heading, values, total))
    return "\n".join(lines)
