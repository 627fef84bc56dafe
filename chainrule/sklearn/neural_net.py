"""``NeuralNetClassifier`` / ``NeuralNetRegressor``: any ``cr.nn.Module`` as a
scikit-learn estimator (skorch's idea, with chainrule's training loop).

``module`` is a Module class, a function returning a Module (such as
``chainrule.cli.models.mlp``), or a Module instance (each fit trains a copy of it). A class or function
is called with the ``module__`` parameters, plus the sizes the data decide when its
signature asks for them and they are not given: ``in_features`` (features per sample) and
``out_features`` or ``num_classes`` (classes, or regression targets). So one estimator
fits data of any width, and ``GridSearchCV`` can search ``module__hidden``.

Likewise ``optimizer`` (default ``cr.optim.SGD``) is called as
``optimizer(params, lr=lr, **optimizer__...)`` and ``criterion`` (default
``CrossEntropyLoss`` / ``MSELoss``) as ``criterion(**criterion__...)``. Training runs
``cr.train.fit``; ``history_`` is its History, and ``callbacks`` are ``cr.train`` callbacks
(each fit uses fresh copies). ``validation_fraction`` holds rows out for the ``val_``
columns of the history (and for ``cr.train.EarlyStopping``).

Inputs are cast to the module's floating dtype (float32 by default); a module that wants
integer ids (an Embedding) converts them itself, e.g. ``self.embed(x.long())``.
"""
from __future__ import annotations

import copy
import inspect
from abc import abstractmethod
from typing import Any, Callable

import numpy as np

from chainrule import nn, optim, train
from chainrule.ops import exp, sigmoid, softmax
from chainrule.sklearn._base import NetEstimator, check_number, loader_of
from chainrule.sklearn._tasks import (
    ClassifierTask, RegressorTask, check_known_classes, class_indices, learn_classes)
from chainrule.tensor import Tensor

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]

PREFIXES = ("module__", "optimizer__", "criterion__")
# Parameters a module's constructor may ask for, filled from the data when not given.
_IN_SIZE = ("in_features",)
_OUT_SIZE = ("out_features", "num_classes")


class _NeuralNetBase(NetEstimator):
    """Parameters (plain and prefixed), module, optimiser, criterion and training."""

    _allow_nd = True  # images (N, C, H, W) and sequences (N, T, F) are fine

    def __init__(self, module, *, criterion=None, optimizer=optim.SGD, lr=0.01, max_epochs=10,
                 batch_size=128, shuffle=True, validation_fraction=0.0, callbacks=(),
                 predict_nonlinearity="auto", warm_start=False, random_state=None, verbose=0,
                 **kwargs):
        self.module = module
        self.criterion = criterion
        self.optimizer = optimizer
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.validation_fraction = validation_fraction
        self.callbacks = callbacks
        self.predict_nonlinearity = predict_nonlinearity
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        # Private, so scikit-learn's checks see only the signature's attributes; get_params
        # and set_params expose them as parameters like any other. As every parameter,
        # they are checked by fit (which refuses names without a known prefix).
        self._prefixed: dict[str, Any] = dict(kwargs)

    # ---------------------------------------------------------- prefixed params
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=deep)
        params.update(self._prefixed)
        return params

    def set_params(self, **params):
        """Set parameters, ``module__hidden=(32,)`` style ones included; returns self."""
        own = self._get_param_names()
        self._prefixed.update({k: v for k, v in params.items() if k not in own})
        super().set_params(**{k: v for k, v in params.items() if k in own})
        return self

    def _with_prefix(self, prefix: str) -> dict[str, Any]:
        return {k[len(prefix):]: v for k, v in self._prefixed.items() if k.startswith(prefix)}

    # ---------------------------------------------------------- hyperparameters
    def _check_params(self) -> None:
        who = self._who
        unknown = [key for key in self._prefixed if not key.startswith(PREFIXES)]
        if unknown:
            raise TypeError(f"{who}: unexpected parameter(s) {', '.join(unknown)}; besides "
                            f"its own parameters it takes parameters prefixed "
                            f"{', '.join(PREFIXES)}")
        if not (isinstance(self.module, nn.Module) or callable(self.module)):
            raise TypeError(f"{who}: module must be a cr.nn.Module class, a function returning "
                            f"a Module, or a Module instance; got {self.module!r}")
        if not callable(self.optimizer):
            raise TypeError(f"{who}: optimizer must be a cr.optim optimiser class (or a "
                            f"function of (params, lr=...)); got {self.optimizer!r}")
        check_number(who, "lr", self.lr, 0.0)
        check_number(who, "max_epochs", self.max_epochs, 1, integer=True)
        check_number(who, "batch_size", self.batch_size, 1, integer=True)
        check_number(who, "validation_fraction", self.validation_fraction, 0.0, 1.0,
                     high_open=True)
        if self.verbose not in (0, 1, 2):  # True and False are 1 and 0
            raise ValueError(f"{who}: verbose must be 0, 1 or 2, got {self.verbose!r}")
        if not all(isinstance(cb, train.Callback) for cb in self.callbacks or ()):
            raise TypeError(f"{who}: callbacks must be cr.train.Callback objects, got "
                            f"{list(self.callbacks)!r}")
        if not (self.predict_nonlinearity in ("auto", None) or callable(self.predict_nonlinearity)):
            raise ValueError(f"{who}: predict_nonlinearity must be 'auto', None or a function; "
                             f"got {self.predict_nonlinearity!r}")

    # ------------------------------------------------------------- task hooks
    @abstractmethod
    def _default_criterion(self, **kwargs) -> nn.Module:
        """The loss used when ``criterion`` is None."""

    @abstractmethod
    def _metrics(self) -> tuple:
        """What ``train.fit`` logs besides the loss."""

    @abstractmethod
    def _checked_loss(self, criterion) -> Callable:
        """``criterion`` behind a check of the module's output shape, where one helps."""

    # ------------------------------------------------ module, optimiser, criterion
    def _first_dtype(self) -> np.dtype:
        """A Module instance sets the dtype inputs are cast to; else the default dtype."""
        if isinstance(self.module, nn.Module):
            for param in self.module.parameters():
                if param.dtype.kind == "f":
                    return param.dtype
        return super()._first_dtype()

    def _build_module(self, x_shape: tuple, n_outputs: int) -> nn.Module:
        who, kwargs = self._who, self._with_prefix("module__")
        if isinstance(self.module, nn.Module):
            if kwargs:
                raise ValueError(f"{who}: module__ parameters ({', '.join(kwargs)}) need module "
                                 f"to be a class or a function; it is an instance")
            return copy.deepcopy(self.module)
        try:
            wanted = inspect.signature(self.module).parameters
        except (TypeError, ValueError):
            wanted = {}
        sizes = {**{name: int(np.prod(x_shape[1:])) for name in _IN_SIZE},
                 **{name: n_outputs for name in _OUT_SIZE}}
        for name, size in sizes.items():
            if name in wanted and name not in kwargs:
                kwargs[name] = size
        module = self.module(**kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(f"{who}: module(...) returned a {type(module).__name__}, not a "
                            f"cr.nn.Module")
        return module

    def _build_optimizer(self, params) -> optim.Optimizer:
        return self.optimizer(list(params), lr=self.lr, **self._with_prefix("optimizer__"))

    def _criterion(self) -> Callable:
        kwargs = self._with_prefix("criterion__")
        if self.criterion is None:
            return self._default_criterion(**kwargs)
        if isinstance(self.criterion, type):
            return self.criterion(**kwargs)
        if kwargs:
            raise ValueError(f"{self._who}: criterion__ parameters ({', '.join(kwargs)}) need "
                             f"criterion to be a class; it is an instance")
        return self.criterion

    def _batch_size(self, n_samples: int) -> int:
        return int(self.batch_size)

    def _validation_fraction(self, incremental: bool) -> float:
        return float(self.validation_fraction)  # partial_fit holds rows out too, as skorch

    # ------------------------------------------------------------------ training
    def _run(self, loader, validation, *, fresh: bool, incremental: bool, nan_guard) -> None:
        if fresh:
            self.history_ = train.History()
        val_loader = None if validation is None else loader_of(*validation, loader.batch_size)
        self.criterion_ = self._criterion()
        train.fit(self.module_, self._checked_loss(self.criterion_), self.optimizer_, loader,
                  epochs=len(self.history_.epoch) + (1 if incremental else self.max_epochs),
                  start_epoch=len(self.history_.epoch), history=self.history_,
                  val_loader=val_loader, metrics=self._metrics(),
                  callbacks=[*copy.deepcopy(list(self.callbacks or ())), nan_guard],
                  verbose=int(self.verbose))

    def _nonlinearity(self) -> Callable[[Tensor], Tensor]:
        """What turns outputs into predictions: ``predict_nonlinearity``, where ``"auto"``
        means softmax after CrossEntropyLoss, exp after NLLLoss (the module gives log
        probabilities), sigmoid after BCEWithLogitsLoss, else the outputs themselves."""
        chosen = self.predict_nonlinearity
        if chosen is None:
            return lambda out: out
        if callable(chosen):
            return chosen
        criterion = getattr(self, "criterion_", None)
        if isinstance(criterion, nn.CrossEntropyLoss):
            return lambda out: softmax(out, 1)
        if isinstance(criterion, nn.NLLLoss):
            return exp
        if isinstance(criterion, nn.BCEWithLogitsLoss):
            return sigmoid
        return lambda out: out

    def _predicted(self, X) -> np.ndarray:
        out = Tensor(self._outputs(X))
        result = self._nonlinearity()(out)
        return np.asarray(result._array if isinstance(result, Tensor) else result)


class NeuralNetClassifier(ClassifierTask, _NeuralNetBase):
    """A ``cr.nn.Module`` that returns one score per class, ``(N, n_classes)``, as a
    scikit-learn classifier; trained on the class indices of ``y`` with
    ``CrossEntropyLoss`` unless ``criterion`` says otherwise.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from chainrule import optim
        >>> from chainrule.cli import models
        >>> from chainrule.sklearn import NeuralNetClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> net = NeuralNetClassifier(models.mlp, module__hidden=(16,), optimizer=optim.Adam,
        ...                           lr=0.02, max_epochs=60, batch_size=16, random_state=0)
        >>> net.fit(X, y).score(X, y) > 0.95
        True
    """

    def _default_criterion(self, **kwargs):
        return nn.CrossEntropyLoss(**kwargs)

    def _metrics(self):
        return ("accuracy",)

    def _y_check_options(self) -> dict:
        return {}

    def _encode_targets(self, y, *, first: bool, classes) -> np.ndarray:
        if first:
            self.classes_ = learn_classes(self._who, y, classes)
            self.n_outputs_ = len(self.classes_)
        else:
            check_known_classes(self._who, y, self.classes_)
        return class_indices(y, self.classes_)

    def _stratify(self, targets):
        return targets

    def _checked_loss(self, criterion):
        n_classes, who = len(self.classes_), self._who

        def loss(out, target):
            if out.ndim != 2 or out.shape[1] != n_classes:
                raise ValueError(f"{who}: the module returned outputs of shape {out.shape}; a "
                                 f"classifier's module must return (N, {n_classes}): one score "
                                 f"per class of {self.classes_.tolist()}")
            return criterion(out, target)
        return loss

    def predict_proba(self, X) -> np.ndarray:
        """The module's outputs through ``predict_nonlinearity`` (softmax probabilities for
        the default criterion), ``(n_samples, n_classes)`` in the order of ``classes_``."""
        return self._predicted(X)

    def predict(self, X) -> np.ndarray:
        """The class with the highest score for each sample."""
        best = self._predicted(X).argmax(axis=1)
        return self.classes_[best]


class NeuralNetRegressor(RegressorTask, _NeuralNetBase):
    """A ``cr.nn.Module`` that returns ``(N, n_targets)`` as a scikit-learn regressor,
    trained with ``MSELoss`` unless ``criterion`` says otherwise.

    Example:
        >>> import numpy as np
        >>> from chainrule import optim
        >>> from chainrule.cli import models
        >>> from chainrule.sklearn import NeuralNetRegressor
        >>> X = np.linspace(-1, 1, 200).reshape(-1, 1)
        >>> net = NeuralNetRegressor(models.mlp, module__hidden=(32,), module__activation="tanh",
        ...                          optimizer=optim.Adam, lr=0.01, max_epochs=100,
        ...                          batch_size=32, random_state=0)
        >>> net.fit(X, X.ravel() ** 2).score(X, X.ravel() ** 2) > 0.9
        True
    """

    def _default_criterion(self, **kwargs):
        return nn.MSELoss(**kwargs)

    def _metrics(self):
        return ()

    def _checked_loss(self, criterion):
        return criterion  # the regression losses name mismatched shapes themselves
