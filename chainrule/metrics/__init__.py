"""Metrics for evaluating models, in NumPy: one-shot functions equal to scikit-learn's, and
streaming classes (``update`` / ``compute`` / ``reset``) for use inside a training loop.

Inputs may be chainrule Tensors, NumPy arrays or lists.

    >>> from chainrule import metrics
    >>> metrics.accuracy([0, 1, 1], [0, 1, 0])
    0.6666666666666666
    >>> m = metrics.Mean(); m.update(0.5); m.update(1.5); m.compute()
    1.0
"""
from chainrule.metrics.classification import (
    accuracy, confusion_matrix, precision_recall_fscore_support, precision_score,
    recall_score, f1_score, fbeta_score, classification_report)
from chainrule.metrics.ranking import (
    roc_curve, roc_auc_score, precision_recall_curve, average_precision_score, auc)
from chainrule.metrics.regression import (
    mean_squared_error, mean_absolute_error, root_mean_squared_error, r2_score,
    explained_variance_score, max_error)
from chainrule.metrics.streaming import (
    Metric, Mean, Accuracy, ConfusionMatrix, MeanSquaredError, MeanAbsoluteError,
    RootMeanSquaredError, R2Score, ExplainedVariance, MaxError)

__all__ = [
    "accuracy", "confusion_matrix", "precision_recall_fscore_support", "precision_score",
    "recall_score", "f1_score", "fbeta_score", "classification_report",
    "roc_curve", "roc_auc_score", "precision_recall_curve", "average_precision_score", "auc",
    "mean_squared_error", "mean_absolute_error", "root_mean_squared_error", "r2_score",
    "explained_variance_score", "max_error",
    "Metric", "Mean", "Accuracy", "ConfusionMatrix", "MeanSquaredError", "MeanAbsoluteError",
    "RootMeanSquaredError", "R2Score", "ExplainedVariance", "MaxError",
]
