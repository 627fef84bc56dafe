"""``MLPClassifier`` / ``MLPRegressor``: scikit-learn's multi-layer perceptrons, trained
by chainrule.

The model, loss and training rules follow scikit-learn's own MLP: Glorot-uniform
initialisation, a logistic output for binary and multilabel targets and a softmax for
multiclass ones (an identity output and half the mean squared error for regression), an
L2 penalty ``alpha`` on the weights (not the biases) added to each batch's loss, the
``invscaling`` and ``adaptive`` learning-rate schedules for ``sgd``, and its stopping rule:
stop once ``n_iter_no_change`` epochs in a row fail to improve the training loss (or, with
``early_stopping``, the held-out score) by ``tol``. What chainrule adds: ``solver`` also
takes ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` or any ``cr.optim`` optimiser class, and
``activation`` also takes ``"gelu"``, ``"leaky_relu"``, ``"elu"``, ``"silu"`` and
``"softplus"``. ``solver="lbfgs"`` (a full-batch quasi-Newton method) is not offered.
"""
from __future__ import annotations

import math
import warnings
from abc import abstractmethod
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d

from chainrule import nn, optim, train
from chainrule.nn import functional as F
from chainrule.ops import sigmoid, softmax
from chainrule.sklearn._base import (
    PREDICT_BATCH, NetEstimator, check_choice, check_number)
from chainrule.sklearn._tasks import (
    ClassifierTask, RegressorTask, check_known_classes, learn_classes)
from chainrule.tensor import Tensor
from chainrule.train.checkpoint import copy_state_dict

__all__ = ["MLPClassifier", "MLPRegressor"]

# Activation name -> layer; scikit-learn's four names first.
ACTIVATIONS = {
    "identity": nn.Identity, "logistic": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU,
    "silu": nn.SiLU, "softplus": nn.Softplus}
SOLVERS = ("adam", "sgd", "adamw", "rmsprop", "adagrad")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
_MIN_ADAPTIVE_LR = 1e-6  # scikit-learn's: below it the adaptive schedule stops training


def _hidden_sizes(who: str, value: Any) -> tuple[int, ...]:
    sizes = (value,) if isinstance(value, (int, np.integer)) else value
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = None
    if sizes is None or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                and s > 0 for s in sizes):
        raise ValueError(f"{who}: hidden_layer_sizes must be a positive int or a sequence of "
                         f"them, such as (100,) or (64, 32); got {value!r}")
    return tuple(int(s) for s in sizes)


class _MLPBase(NetEstimator):
    """Hyperparameters, module, optimiser and epoch rules shared by the two MLPs."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change

    # ------------------------------------------------------------ hyperparameters
    def _check_params(self) -> None:
        who = self._who
        _hidden_sizes(who, self.hidden_layer_sizes)
        check_choice(who, "activation", self.activation, tuple(ACTIVATIONS))
        if self.solver == "lbfgs":
            raise ValueError(f"{who}: solver='lbfgs' is not available: chainrule trains with "
                             f"mini-batch optimisers; choose one of {', '.join(SOLVERS)}")
        if not (isinstance(self.solver, type) and issubclass(self.solver, optim.Optimizer)):
            check_choice(who, "solver", self.solver, SOLVERS)
        check_number(who, "alpha", self.alpha, 0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_number(who, "batch_size ('auto' or)", self.batch_size, 1, integer=True)
        check_choice(who, "learning_rate", self.learning_rate, LEARNING_RATES)
        check_number(who, "learning_rate_init", self.learning_rate_init, 0.0, low_open=True)
        check_number(who, "power_t", self.power_t, 0.0)
        check_number(who, "max_iter", self.max_iter, 1, integer=True)
        check_number(who, "tol", self.tol, 0.0)
        check_number(who, "momentum", self.momentum, 0.0, 1.0)
        check_number(who, "validation_fraction", self.validation_fraction, 0.0, 1.0,
                     low_open=True, high_open=True)
        check_number(who, "beta_1", self.beta_1, 0.0, 1.0, high_open=True)
        check_number(who, "beta_2", self.beta_2, 0.0, 1.0, high_open=True)
        check_number(who, "epsilon", self.epsilon, 0.0, low_open=True)
        check_number(who, "n_iter_no_change", self.n_iter_no_change, 1, integer=True)

    # ----------------------------------------------------- module and optimiser
    def _build_module(self, x_shape: tuple, n_outputs: int) -> nn.Sequential:
        """Linear layers with the activation between them, initialised as scikit-learn
        does: weights and biases uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot), with
        2 instead of 6 for the logistic activation."""
        sizes = [int(np.prod(x_shape[1:])), *_hidden_sizes(self._who, self.hidden_layer_sizes),
                 n_outputs]
        factor = 2.0 if self.activation == "logistic" else 6.0
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = nn.Linear(fan_in, fan_out)
            bound = math.sqrt(factor / (fan_in + fan_out))
            nn.init.uniform_(linear.weight, -bound, bound)
            nn.init.uniform_(linear.bias, -bound, bound)
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[self.activation]())
        self.n_layers_ = len(sizes)
        return nn.Sequential(*layers).to(self._dtype)

    def _first_dtype(self) -> list:
        """scikit-learn's rule: float32 inputs train a float32 network, all others a
        float64 one (so predictions agree to float64 precision however they are batched)."""
        return [np.float64, np.float32]

    def _build_optimizer(self, params) -> optim.Optimizer:
        lr, params = self.learning_rate_init, list(params)
        if isinstance(self.solver, type):
            return self.solver(params, lr=lr)
        if self.solver == "sgd":
            return optim.SGD(params, lr=lr, momentum=self.momentum,
                             nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)
        if self.solver in ("adam", "adamw"):
            kind = optim.Adam if self.solver == "adam" else optim.AdamW
            return kind(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon)
        kind = optim.RMSprop if self.solver == "rmsprop" else optim.Adagrad
        return kind(params, lr=lr, eps=self.epsilon)

    def _batch_size(self, n_samples: int) -> int:
        if isinstance(self.batch_size, str):
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(f"Got `batch_size` less than 1 or larger than sample size. It is "
                          f"going to be clipped to {n_samples}", UserWarning)
        return min(int(self.batch_size), n_samples)

    def _validation_fraction(self, incremental: bool) -> float:
        # scikit-learn's partial_fit never holds rows out: early stopping is fit's alone
        return float(self.validation_fraction) if self.early_stopping and not incremental \
            else 0.0

    # ------------------------------------------------------------------ the loss
    @abstractmethod
    def _data_loss(self, out: Tensor, target: Tensor) -> Tensor:
        """The task's loss of a batch, without the penalty."""

    def _penalised_loss(self):
        """The task's loss plus ``alpha / 2 * sum(W ** 2) / batch_rows`` over the weights."""
        weights = [layer.weight for layer in self.module_ if isinstance(layer, nn.Linear)]
        half_alpha = 0.5 * float(self.alpha)

        def loss(out: Tensor, target: Tensor) -> Tensor:
            value = self._data_loss(out, target)
            if half_alpha:
                squares = (weights[0] * weights[0]).sum()
                for w in weights[1:]:
                    squares = squares + (w * w).sum()
                value = value + squares * (half_alpha / out.shape[0])
            return value
        return loss

    # ---------------------------------------------------------------- training
    def _run(self, loader, validation, *, fresh: bool, incremental: bool, nan_guard) -> None:
        early = validation is not None
        if fresh:
            self.t_, self.loss_curve_ = 0, []
        self.n_iter_ = 0  # epochs of this call (t_ and loss_curve_ run on), as scikit-learn
        if early and len(validation[0]) < 2:
            raise ValueError(f"{self._who}: the validation set is too small "
                             f"({len(validation[0])} rows); increase validation_fraction or "
                             f"the size of the data set")
        if not incremental or not hasattr(self, "_no_improvement_count"):
            self._no_improvement_count = 0
            self.best_loss_ = None if early else math.inf
            self.validation_scores_ = [] if early else None
            self.best_validation_score_ = -math.inf if early else None
            self._best_state = None
        rules = _EpochRules(self, validation, len(loader.dataset), incremental)
        epochs = 1 if incremental else int(self.max_iter)
        train.fit(self.module_, self._penalised_loss(), self.optimizer_, loader, epochs,
                  metrics=(), callbacks=[rules, nan_guard], verbose=0)
        if early and self._best_state is not None:
            self.module_.load_state_dict(self._best_state)  # scikit-learn keeps the best
        if not incremental and not rules.stopped and not nan_guard.reason:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          f"and the optimization hasn't converged yet.", ConvergenceWarning)

    @abstractmethod
    def _validation_score(self, validation) -> float:
        """scikit-learn's ``score`` (accuracy, R^2) on the held-out ``(X, targets)``."""

    # ---------------------------------------------------------------- attributes
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices as scikit-learn lays them out, ``(fan_in, fan_out)``: views of
        the module's weights (``module_[i].weight`` transposed)."""
        return [layer.weight._array.T for layer in self._linears()]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, views of the module's biases."""
        return [layer.bias._array for layer in self._linears()]

    def _linears(self) -> list[nn.Linear]:
        if not hasattr(self, "module_"):
            raise AttributeError(f"{self._who} is not fitted yet: call fit first")
        return [layer for layer in self.module_ if isinstance(layer, nn.Linear)]


class _EpochRules(train.Callback):
    """scikit-learn's MLP epoch end: record the loss, update the best loss or held-out
    score, move the sgd learning rate, and stop after ``n_iter_no_change`` epochs in a row
    without an improvement of ``tol`` (the ``adaptive`` schedule first divides the rate by
    5 each time, and stops only once it is below 1e-6)."""

    def __init__(self, est: _MLPBase, validation, n_train: int, incremental: bool):
        self.est, self.validation, self.n_train = est, validation, n_train
        self.incremental = incremental
        self.stopped = False

    def on_epoch_end(self, state) -> None:
        est = self.est
        loss = float(state.logs["loss"])
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_ = loss
        est.loss_curve_.append(loss)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        if self.validation is not None:
            score = est._validation_score(self.validation)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            improved = score >= est.best_validation_score_ + est.tol
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_state = copy_state_dict(est.module_)
            what = "Validation score"
        else:
            improved = loss <= est.best_loss_ - est.tol
            est.best_loss_ = min(est.best_loss_, loss)
            what = "Training loss"
        est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
        sgd = est.solver == "sgd"
        if sgd and est.learning_rate == "invscaling":
            self._set_lr(state, est.learning_rate_init / (est.t_ + 1) ** est.power_t)
        if est._no_improvement_count > est.n_iter_no_change:
            message = (f"{what} did not improve more than tol={est.tol:f} for "
                       f"{est.n_iter_no_change} consecutive epochs.")
            lr = state.lr()
            if sgd and est.learning_rate == "adaptive" and lr > _MIN_ADAPTIVE_LR:
                self._set_lr(state, lr / 5.0)
                est._no_improvement_count = 0
                if est.verbose:
                    print(f"{message} Setting learning rate to {lr / 5.0:f}")
            elif not self.incremental:
                if est.verbose:
                    print(message + (" Learning rate too small. Stopping."
                                     if sgd and est.learning_rate == "adaptive" else ""))
                self.stopped = state.stop_training = True

    @staticmethod
    def _set_lr(state, lr: float) -> None:
        for group in state.optimizer.param_groups:
            group["lr"] = lr


# ============================================================================ tasks
class MLPClassifier(ClassifierTask, _MLPBase):
    """Multi-layer perceptron classifier with scikit-learn's ``MLPClassifier`` interface,
    trained by chainrule (see the module docstring for what differs).

    Binary, multiclass and multilabel (a 0/1 indicator matrix ``y``) targets. After
    ``fit``: ``classes_``, ``loss_curve_``, ``n_iter_``, ``coefs_``/``intercepts_``, and the
    trained ``module_`` (a ``cr.nn.Sequential``: save it with
    ``cr.io.save_safetensors(clf.module_.state_dict(), path)``).

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from chainrule.sklearn import MLPClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=300,
        ...                     random_state=0).fit(X, y)
        >>> clf.score(X, y) > 0.95
        True
    """

    def _y_check_options(self) -> dict:
        return {"multi_output": True}

    def _encode_targets(self, y, *, first: bool, classes) -> np.ndarray:
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if first:
            binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                binarizer.fit(y)
            else:
                binarizer.fit(learn_classes(self._who, y, classes))
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
            self.n_outputs_ = 1 if binarizer.y_type_ == "binary" else len(self.classes_)
            self.out_activation_ = "softmax" if binarizer.y_type_ == "multiclass" else "logistic"
        elif self._label_binarizer.y_type_ != "multilabel-indicator":
            check_known_classes(self._who, y, self.classes_)
        encoded = self._label_binarizer.transform(y)
        if self.out_activation_ == "softmax":
            return encoded.argmax(axis=1).astype(np.int64)  # class indices
        return encoded.astype(self._dtype)

    def _stratify(self, targets):
        if self.out_activation_ == "softmax":
            return targets
        return targets[:, 0] if targets.shape[1] == 1 else None

    def _data_loss(self, out, target):
        # scikit-learn's log loss: summed over the outputs, averaged over the rows
        if self.out_activation_ == "softmax":
            return F.cross_entropy(out, target)
        return F.binary_cross_entropy_with_logits(out, target, reduction="sum") / out.shape[0]

    def _validation_score(self, validation) -> float:
        X_val, targets = validation
        predicted = self._label_binarizer.inverse_transform(
            self._probabilities(train.predict(self.module_, X_val, PREDICT_BATCH)))
        expected = self._label_binarizer.inverse_transform(
            np.eye(len(self.classes_))[targets] if self.out_activation_ == "softmax" else targets)
        return float(accuracy_score(expected, predicted))

    def _probabilities(self, outputs: np.ndarray) -> np.ndarray:
        scores = Tensor(np.asarray(outputs, dtype=np.float64))
        if self.out_activation_ == "softmax":
            return softmax(scores, 1).numpy()
        return sigmoid(scores).numpy()

    # --------------------------------------------------------------- public API
    def predict(self, X) -> np.ndarray:
        """Predicted labels (for multilabel targets, the 0/1 indicator matrix)."""
        proba = self._probabilities(self._outputs(X))
        return self._label_binarizer.inverse_transform(proba)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, ``(n_samples, n_classes)``, in the order of ``classes_``
        (for multilabel targets, each label's own probability)."""
        proba = self._probabilities(self._outputs(X))
        if self.n_outputs_ == 1 and self._label_binarizer.y_type_ == "binary":
            return np.hstack([1.0 - proba, proba])
        return proba

    def predict_log_proba(self, X) -> np.ndarray:
        """The log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorTask, _MLPBase):
    """Multi-layer perceptron regressor with scikit-learn's ``MLPRegressor`` interface,
    trained by chainrule on half the mean squared error (one or several targets).

    Example:
        >>> import numpy as np
        >>> from chainrule.sklearn import MLPRegressor
        >>> X = np.linspace(-1, 1, 200).reshape(-1, 1)
        >>> reg = MLPRegressor((32,), activation="tanh", learning_rate_init=0.01,
        ...                    max_iter=300, random_state=0).fit(X, X.ravel() ** 2)
        >>> reg.score(X, X.ravel() ** 2) > 0.9
        True
    """

    def _encode_targets(self, y, *, first: bool, classes) -> np.ndarray:
        targets = super()._encode_targets(y, first=first, classes=classes)
        self.out_activation_ = "identity"
        return targets

    def _data_loss(self, out, target):
        return F.mse_loss(out, target) * 0.5

    def _validation_score(self, validation) -> float:
        X_val, targets = validation
        return float(r2_score(targets, train.predict(self.module_, X_val, PREDICT_BATCH)))
