"""What every chainrule estimator shares: checking data and hyperparameters, seeding,
training through ``cr.train.fit``, and predicting in batches.

:class:`NetEstimator` runs ``fit`` and ``partial_fit``; its abstract methods are what each
estimator supplies: its hyperparameter checks, how ``y`` becomes training targets (per
task, see :mod:`chainrule.sklearn._tasks`), its module, optimiser and
batch size, and how ``train.fit`` runs the epochs.
"""
from __future__ import annotations

import contextlib
import numbers
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from chainrule import train
from chainrule.autograd import enable_grad
from chainrule.backend import get_default_dtype
from chainrule.data import DataLoader, TensorDataset
from chainrule.random import get_rng_state, manual_seed, set_rng_state

_SEED_LIMIT = 2 ** 31 - 1
PREDICT_BATCH = 1024  # rows per forward pass when predicting (bounds the memory it takes)


@contextlib.contextmanager
def seeded(seed: int):
    """Run with chainrule's global generator seeded to ``seed`` (weight initialisation and
    dropout draw from it), and give the caller's generator state back afterwards."""
    saved = get_rng_state()
    manual_seed(seed)
    try:
        yield
    finally:
        set_rng_state(saved)


def check_number(who: str, name: str, value: Any, low: float | None = None,
                 high: float | None = None, *, integer: bool = False,
                 low_open: bool = False, high_open: bool = False) -> None:
    """Raise ValueError naming the estimator and the hyperparameter when ``value`` is not a
    number (an int when ``integer``) in the interval from ``low`` to ``high``."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and value == value
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        span = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ValueError(f"{who}: {name} must be {'an int' if integer else 'a number'} in "
                         f"{span}, got {value!r}")


def check_choice(who: str, name: str, value: Any, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{who}: {name} must be one of {', '.join(map(repr, choices))}; got "
                         f"{value!r}")


class _QuietNaNGuard(train.TerminateOnNaN):
    """``fit``'s NaN guard, keeping its message for the estimator's error instead of
    printing it: an estimator whose loss diverged raises rather than stores NaN weights."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def on_batch_end(self, state) -> None:
        super().on_batch_end(state)
        if state.diverged and self.reason is None:
            self.reason, state.stop_reason = state.stop_reason, None


class NetEstimator(BaseEstimator, ABC):
    """Base of the chainrule estimators; see the module docstring for the hooks."""

    #: passed to ``validate_data`` for ``X`` (an estimator taking images sets it)
    _allow_nd = False

    # ------------------------------------------------------------- subclass hooks
    @abstractmethod
    def _check_params(self) -> None:
        """Raise ValueError naming any hyperparameter with a value outside its range."""

    @abstractmethod
    def _y_check_options(self) -> dict:
        """``validate_data`` options for ``y`` (multi_output, y_numeric)."""

    @abstractmethod
    def _encode_targets(self, y: np.ndarray, *, first: bool, classes) -> np.ndarray:
        """Training targets for ``y`` (floating ones in ``self._dtype``); on the ``first``
        fit also set ``n_outputs_`` (and ``classes_``)."""

    @abstractmethod
    def _build_module(self, x_shape: tuple, n_outputs: int):
        """A fresh ``nn.Module`` for inputs of ``x_shape`` and ``n_outputs`` outputs."""

    @abstractmethod
    def _build_optimizer(self, params):
        """A ``cr.optim`` optimiser over ``params``."""

    @abstractmethod
    def _batch_size(self, n_samples: int) -> int:
        """Rows per training batch for a training set of ``n_samples`` rows."""

    @abstractmethod
    def _run(self, loader, validation, *, fresh: bool, incremental: bool, nan_guard) -> None:
        """Train ``module_`` over ``loader`` with ``train.fit`` (one epoch when
        ``incremental``), passing ``nan_guard`` among its callbacks; ``validation`` is
        ``(X, targets)`` held out by ``fit``, or None; ``fresh``: the module is new."""

    def _first_dtype(self):
        """The floating dtype a first fit casts inputs to (or a list: keep the first of
        them that the inputs have, else cast to the first); later calls keep it."""
        return np.dtype(get_default_dtype())

    def _validation_fraction(self, incremental: bool) -> float:
        """Share of the rows held out for validation (0: none)."""
        return 0.0

    def _stratify(self, targets: np.ndarray):
        """What ``train_test_split`` stratifies the held-out rows by (classifiers: the
        classes), or None."""
        return None

    # ------------------------------------------------------------------- fitting
    @property
    def _who(self) -> str:
        return type(self).__name__

    def _fit(self, X, y, *, incremental: bool, classes=None):
        self._check_params()
        first = not hasattr(self, "module_") or not (incremental or self.warm_start)
        dtype = self._first_dtype() if first else self._dtype
        X, y = validate_data(self, X, y, reset=first, dtype=dtype, allow_nd=self._allow_nd,
                             **self._y_check_options())
        if first:
            self._dtype = X.dtype
        targets = self._encode_targets(y, first=first, classes=classes)
        if first:
            seed = check_random_state(self.random_state).randint(_SEED_LIMIT)
            self._random = np.random.default_rng(seed)
        seed = int(self._random.integers(_SEED_LIMIT))
        with seeded(seed), enable_grad():
            if first:
                self.module_ = self._build_module(X.shape, self.n_outputs_)
            if first or not incremental:
                self.optimizer_ = self._build_optimizer(self.module_.parameters())
            validation = None
            fraction = self._validation_fraction(incremental)
            if fraction > 0:
                X, X_val, targets, y_val = train_test_split(
                    X, targets, test_size=fraction, random_state=seed,
                    stratify=self._stratify(targets))
                validation = (X_val, y_val)
            loader = DataLoader(TensorDataset(X, targets), batch_size=self._batch_size(len(X)),
                                shuffle=bool(self.shuffle),
                                generator=np.random.default_rng(seed))
            guard = _QuietNaNGuard()
            self._run(loader, validation, fresh=first, incremental=incremental,
                      nan_guard=guard)
        if guard.reason is not None:
            raise ValueError(f"{self._who}: {guard.reason}; the model is unusable. A smaller "
                             f"learning rate, or scaled inputs, usually cure a diverging loss")
        return self

    # ---------------------------------------------------------------- predicting
    def _outputs(self, X) -> np.ndarray:
        """The module's raw outputs for ``X``, in float64, computed in eval mode."""
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=self._dtype, allow_nd=self._allow_nd)
        return train.predict(self.module_, X, batch_size=PREDICT_BATCH).astype(np.float64)

    def _predicted(self, X) -> np.ndarray:
        """What predictions are made of: the outputs, unless the estimator post-processes
        them."""
        return self._outputs(X)


def loader_of(X: np.ndarray, y: np.ndarray, batch_size: int) -> DataLoader:
    """Batches of a held-out set, in order."""
    return DataLoader(TensorDataset(X, y), batch_size=batch_size)
