"""The classification and regression sides shared by both families of estimators (MLP*
and NeuralNet*): from ``y`` to training targets, from outputs back to predictions, and the
task's public methods."""
from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import (
    check_classification_targets, type_of_target, unique_labels)
from sklearn.utils.validation import column_or_1d


def learn_classes(who: str, y: np.ndarray, classes=None) -> np.ndarray:
    """The sorted class labels to train for: those of ``y``, or ``classes`` when given
    (``partial_fit``'s first call names every class the later calls may bring)."""
    check_classification_targets(y)
    labels = unique_labels(y) if classes is None else unique_labels(np.asarray(classes))
    if classes is not None:
        check_known_classes(who, y, labels)
    if len(labels) < 2:
        raise ValueError(f"{who}: needs samples of at least 2 classes to train a classifier, "
                         f"but y holds only one class: {labels.tolist()[0]!r}")
    return labels


def check_known_classes(who: str, y: np.ndarray, classes: np.ndarray) -> None:
    """Raise ValueError naming the labels of ``y`` that are not among ``classes``."""
    check_classification_targets(y)
    unknown = np.setdiff1d(unique_labels(y), classes)
    if len(unknown):
        raise ValueError(f"{who}: y has classes {unknown.tolist()} that are not among the "
                         f"classes it was fitted for, {classes.tolist()}")


def class_indices(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each label's position in the sorted ``classes`` (every label must be one of them)."""
    return np.searchsorted(classes, y).astype(np.int64)


def regression_targets(who: str, y: np.ndarray, dtype: np.dtype,
                       n_outputs: int | None = None) -> np.ndarray:
    """``y`` as an ``(n_samples, n_outputs)`` array of ``dtype``; a column vector is taken
    as 1-D with scikit-learn's DataConversionWarning, as its own MLPRegressor does."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    targets = np.asarray(y, dtype=dtype).reshape(len(y), -1)
    if n_outputs is not None and targets.shape[1] != n_outputs:
        raise ValueError(f"{who}: y has {targets.shape[1]} outputs per sample, but the "
                         f"estimator was fitted for {n_outputs}")
    return targets


def regression_predictions(outputs: np.ndarray) -> np.ndarray:
    """One column of outputs is returned 1-D, as scikit-learn's regressors return it."""
    return outputs.ravel() if outputs.shape[1] == 1 else outputs



class ClassifierTask(ClassifierMixin):
    """``fit`` and ``partial_fit`` of a classifier (the estimator encodes ``y`` itself)."""

    def fit(self, X, y):
        """Fit the model to ``X`` (n_samples, n_features, ...) and labels ``y``; returns
        self."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One more epoch over ``X, y``. The first call needs ``classes``: every label any
        call will bring (``np.unique(y_all)``), unless ``y`` is a multilabel indicator
        matrix, whose columns are the classes."""
        if not hasattr(self, "classes_") and classes is None and \
                not type_of_target(y).startswith("multilabel"):
            raise ValueError(f"{self._who}: classes must be passed on the first call to "
                             f"partial_fit")
        return self._fit(X, y, incremental=True, classes=classes)


class RegressorTask(RegressorMixin):
    """A regressor's targets (one or several per sample), ``fit``, ``partial_fit`` and
    ``predict``."""

    def _y_check_options(self) -> dict:
        return {"multi_output": True, "y_numeric": True}

    def _encode_targets(self, y, *, first: bool, classes) -> np.ndarray:
        targets = regression_targets(self._who, y, self._dtype,
                                     None if first else self.n_outputs_)
        if first:
            self.n_outputs_ = targets.shape[1]
        return targets

    def fit(self, X, y):
        """Fit the model to ``X`` (n_samples, n_features, ...) and targets ``y``; returns
        self."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One more epoch over ``X, y`` (starting a new model on the first call)."""
        return self._fit(X, y, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predicted targets: ``(n_samples,)`` for one target, else ``(n_samples, n_targets)``."""
        return regression_predictions(self._predicted(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
