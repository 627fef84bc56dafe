"""Loss modules: configure once, call as ``criterion(input, target)``.

Class weights and ``pos_weight`` are registered as buffers (as in PyTorch), so they follow
``module.to(dtype)`` and appear in ``state_dict``.
"""
from __future__ import annotations

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn._loss_functions import _check_reduction
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


def _as_buffer(value) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(np.asarray(value))


class _Loss(Module):
    _reductions = ("none", "mean", "sum")

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        _check_reduction(type(self).__name__, reduction, self._reductions)
        self.reduction = reduction

    def forward_macs(self, inputs: tuple, output) -> int:
        """One per element of the prediction: its term, accumulated into the sum (or mean)."""
        return inputs[0].numel()


class MSELoss(_Loss):
    """Mean squared error. Example: ``cr.nn.MSELoss()(pred, y)``"""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Quadratic for |error| < delta, linear beyond (robust to outliers)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """Huber loss divided by beta: quadratic for |error| < beta, then |error| - beta/2."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities (after a Sigmoid); ``weight`` rescales each
    element's loss. BCEWithLogitsLoss on raw scores is the stabler choice."""

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable step, on raw scores. ``pos_weight``
    (one per class, broadcast along the last dim) weights the positive examples.

    Example: ``cr.nn.BCEWithLogitsLoss(pos_weight=cr.tensor([3.0]))(scores, labels)``
    """

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self.register_buffer("pos_weight", _as_buffer(pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class CrossEntropyLoss(_Loss):
    """Softmax + negative log-likelihood from raw logits (N, C) or (N, C, d1, ...), against
    integer class indices or class probabilities; see ``F.cross_entropy``.

    Example:
        >>> criterion = cr.nn.CrossEntropyLoss(label_smoothing=0.1)
        >>> loss = criterion(model(x), y)
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.register_buffer("weight", _as_buffer(weight))
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood on log-probabilities (after LogSoftmax)."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class KLDivLoss(_Loss):
    """KL divergence with ``input`` as log-probabilities; use ``reduction='batchmean'`` for
    the per-sample KL divergence."""

    _reductions = ("none", "mean", "sum", "batchmean")

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class DistillationLoss(_Loss):
    """Knowledge distillation: ``alpha T^2 KL(softmax(teacher/T) || softmax(student/T)) +
    (1 - alpha) CE(student, target)`` per sample (see ``F.distillation_loss``); called as
    ``criterion(student_logits, teacher_logits, target)``.

    Example:
        >>> criterion = cr.nn.DistillationLoss(temperature=4.0, alpha=0.9)
        >>> loss = criterion(cr.randn(8, 10), cr.randn(8, 10), cr.randint(0, 10, (8,)))
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9, reduction: str = "mean"):
        super().__init__(reduction)
        self.temperature, self.alpha = temperature, alpha

    def forward(self, input: Tensor, teacher_logits: Tensor, target) -> Tensor:
        return F.distillation_loss(input, teacher_logits, target, self.temperature, self.alpha,
                                   self.reduction)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"
