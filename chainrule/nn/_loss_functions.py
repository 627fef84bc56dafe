"""Loss functions (public as ``chainrule.nn.functional.*``), with PyTorch's arguments.

``reduction``: 'none' returns the per-element losses, 'sum' their sum, 'mean' their mean
(for class-index losses with class weights or ignore_index: the weighted mean over the
non-ignored targets, as PyTorch). Cross-entropy, NLL and the binary cross-entropies run
on fused primitives from ``chainrule.ops.loss``; the regression losses and KL divergence
are compositions of engine operations.
"""
from __future__ import annotations

import numpy as np

from chainrule.backend import ArgumentError, DtypeError
from chainrule import ops
from chainrule.ops import loss as fused
from chainrule.ops.registry import Const, S, op
from chainrule.tensor import Tensor

_LOSS = dict(namespace="F", method=False)

_REDUCTIONS = ("none", "mean", "sum")


# -------------------------------------------------------------------- checks
def _check_reduction(name: str, reduction: str, allowed=_REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ArgumentError(f"{name}: reduction must be one of {list(allowed)}, got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    return loss


def _float_tensor(name: str, what: str, x) -> Tensor:
    t = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if t.dtype.kind != "f":
        raise DtypeError(f"{name}: {what} must be a floating-point tensor, got dtype {t.dtype}")
    return t


def _same_shape(name: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise ArgumentError(
            f"{name}: target shape {tuple(target.shape)} does not match input shape "
            f"{tuple(input.shape)}; broadcasting them would silently compare every input with "
            f"every target (reshape the target, e.g. target.reshape({tuple(input.shape)}))")


def _array_of(x):
    return None if x is None else (x.data if isinstance(x, Tensor) else np.asarray(x))


# --------------------------------------------------------------- regression
@op(**_LOSS, samples=lambda s: [S(s.real(3, 4), s.real(3, 4)), S(s.real(3, 4), s.real(3, 4), reduction="sum"),
                                S(s.real(5), s.real(5), reduction="none")])
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error: (input - target)^2, reduced.

    Example: ``F.mse_loss(pred, y)``; ``reduction='sum'`` for the sum of squares.
    """
    _check_reduction("mse_loss", reduction)
    if type(target) is not Tensor or target.data.dtype.kind != "f":
        target = _float_tensor("mse_loss", "target", target)
    if input.shape != target.shape:
        _same_shape("mse_loss", input, target)
    if reduction == "none":
        diff = input - target
        return diff * diff
    n = input.data.size
    scale = (1.0 / n if n else float("nan")) if reduction == "mean" else 1.0  # torch: nan
    return fused.squared_error_sum(input, target, scale)


@op(**_LOSS, samples=lambda s: [S(s.real(3, 4), s.real(3, 4)), S(s.real(3), s.real(3), reduction="none")])
def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error: |input - target|, reduced (gradient sign(d), 0 at d = 0)."""
    _check_reduction("l1_loss", reduction)
    target = _float_tensor("l1_loss", "target", target)
    _same_shape("l1_loss", input, target)
    return _reduce(ops.abs(input - target), reduction)


@op(**_LOSS, samples=lambda s: [S(s.real(3, 4), s.real(3, 4)), S(s.real(6), s.real(6), reduction="sum", delta=0.5)])
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber: 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); d = input - target."""
    _check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise ArgumentError(f"huber_loss: delta must be positive, got {delta}")
    target = _float_tensor("huber_loss", "target", target)
    _same_shape("huber_loss", input, target)
    d = input - target
    a = ops.abs(d)
    small = a.data < delta
    return _reduce(ops.where(small, 0.5 * d * d, delta * (a - 0.5 * delta)), reduction)


@op(**_LOSS, samples=lambda s: [S(s.real(3, 4), s.real(3, 4)), S(s.real(6), s.real(6), reduction="sum", beta=0.5)])
def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (L1 when beta = 0).
    Equals ``huber_loss(..., delta=beta) / beta``."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ArgumentError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    target = _float_tensor("smooth_l1_loss", "target", target)
    _same_shape("smooth_l1_loss", input, target)
    d = input - target
    a = ops.abs(d)
    if beta == 0:
        return _reduce(a, reduction)
    small = a.data < beta
    return _reduce(ops.where(small, (0.5 / beta) * d * d, a - 0.5 * beta), reduction)


# ----------------------------------------------------------- binary targets
def _weighted(loss: Tensor, weight, name: str) -> Tensor:
    if weight is None:
        return loss
    try:
        np.broadcast_shapes(tuple(weight.shape), tuple(loss.shape))
    except ValueError:
        raise ArgumentError(f"{name}: weight of shape {tuple(weight.shape)} cannot broadcast to "
                            f"the input shape {tuple(loss.shape)}") from None
    return loss * weight


@op(**_LOSS, samples=lambda s: [S(s.probability(3, 4), s.probability(3, 4)),
                                S(s.probability(4), s.probability(4), Const(s.positive(4)), reduction="sum")])
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities ``input`` (in [0, 1]) against ``target``:
    -(y log x + (1 - y) log(1 - x)), each log clamped to >= -100 as PyTorch does.
    Prefer ``binary_cross_entropy_with_logits`` on raw scores (more stable)."""
    _check_reduction("binary_cross_entropy", reduction)
    target = _float_tensor("binary_cross_entropy", "target", target)
    _same_shape("binary_cross_entropy", input, target)
    x = input.data
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ArgumentError(f"binary_cross_entropy: all elements of input should be between 0 and 1 "
                            f"(got values in [{x.min():.4g}, {x.max():.4g}]); for raw scores use "
                            f"binary_cross_entropy_with_logits")
    loss = fused.binary_cross_entropy(input, target)
    return _reduce(_weighted(loss, weight, "binary_cross_entropy"), reduction)


@op(**_LOSS, samples=lambda s: [S(s.real(3, 4), s.probability(3, 4)),
                                S(s.real(2, 3), s.probability(2, 3), pos_weight=Const(s.positive(3))),
                                S(s.real(2, 3), s.probability(2, 3), Const(s.positive(2, 3)), reduction="none")])
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of sigmoid(input) against ``target``, computed from the logits
    (finite for any logit). ``pos_weight`` (broadcast along the last dim, e.g. one per
    class) scales the positive term: pos_weight > 1 raises recall.

    Example: ``F.binary_cross_entropy_with_logits(scores, labels.float())``
    """
    name = "binary_cross_entropy_with_logits"
    _check_reduction(name, reduction)
    target = _float_tensor(name, "target", target)
    _same_shape(name, input, target)
    if pos_weight is not None:
        pos_weight = pos_weight if isinstance(pos_weight, Tensor) else Tensor(np.asarray(pos_weight))
        try:
            widened = np.broadcast_shapes(tuple(pos_weight.shape), tuple(input.shape))
        except ValueError:
            widened = None
        if widened != tuple(input.shape):
            raise ArgumentError(f"{name}: pos_weight of shape {tuple(pos_weight.shape)} must "
                                f"broadcast to the input shape {tuple(input.shape)}")
    loss = fused.binary_cross_entropy_with_logits(input, target, pos_weight)
    return _reduce(_weighted(loss, weight, name), reduction)


# ------------------------------------------------------------ class targets
def _class_weight(name: str, weight, n_classes: int, dtype) -> np.ndarray | None:
    w = _array_of(weight)
    if w is None:
        return None
    if w.shape != (n_classes,):
        raise ArgumentError(f"{name}: weight should have one entry per class, shape "
                            f"({n_classes},), got {w.shape}")
    return w.astype(dtype, copy=False)


def _class_targets(name: str, input: Tensor, target, ignore_index: int) -> np.ndarray:
    """Check integer class targets: shape (N, d1, ...) for input (N, C, d1, ...), values in
    [0, C) or ignore_index."""
    t = _array_of(target)
    expected = input.shape[:1] + input.shape[2:]
    if t.dtype.kind not in "iu":
        raise DtypeError(f"{name}: expected integer class indices (int64) for a target of shape "
                         f"{t.shape}, got dtype {t.dtype}")
    if t.shape != expected:
        raise ArgumentError(f"{name}: target shape {t.shape} does not match input shape "
                            f"{tuple(input.shape)}; expected class indices of shape {expected}")
    n_classes = input.shape[1]
    if t.size and 0 <= t.min() and t.max() < n_classes:
        return t.astype(np.int64, copy=False)     # all in range: the usual case, two reductions
    bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
    if bad.any():
        raise IndexError(f"{name}: target value {int(t[bad].flat[0])} is out of range for "
                         f"{n_classes} classes (valid: 0..{n_classes - 1}, or "
                         f"ignore_index={ignore_index})")
    return t.astype(np.int64, copy=False)


def _weighted_mean(name: str, loss: Tensor, t: np.ndarray, weight: np.ndarray | None,
                   ignore_index: int) -> Tensor:
    """Sum of per-sample losses over the total weight of the counted targets."""
    valid = t != ignore_index
    if weight is None:
        total = float(valid.sum())
    else:
        total = float(weight[np.where(valid, t, 0)][valid].sum())
    if not total:   # nothing counted: NaN, as PyTorch, and a zero gradient, as PyTorch
        return loss.sum() * 0.0 + float("nan")
    return loss.sum() / total


def _batched(input: Tensor, target):
    """PyTorch accepts one unbatched sample: input (C,), target () or (C,)."""
    t = target.unsqueeze(0) if isinstance(target, Tensor) else np.asarray(target)[None]
    return input.unsqueeze(0), t


@op(**_LOSS, samples=lambda s: [
    S(s.real(4, 3), s.ints(0, 3, 4)), S(s.real(4, 3, 2), s.ints(0, 3, 4, 2)),
    S(s.real(4, 3), np.array([0, -100, 2, 1])), S(s.real(4, 3), s.ints(0, 3, 4), reduction="sum"),
    S(s.real(4, 3), s.ints(0, 3, 4), Const(s.positive(3))),
    S(s.real(4, 3), s.ints(0, 3, 4), label_smoothing=0.2, reduction="none"),
    S(s.real(4, 3), s.probability(4, 3)), S(s.real(3), np.array(1))])
def cross_entropy(input: Tensor, target, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between softmax(input) over dim 1 and the target, from raw logits.

    * input: (N, C) or (N, C, d1, ...) logits (or one sample, (C,))
    * target: integer class indices of shape (N,) / (N, d1, ...), or floating class
      probabilities with the input's shape
    * weight: (C,) class weights;  ignore_index: targets skipped (class indices only)
    * label_smoothing: mix the target with the uniform distribution by this amount

    One fused primitive computes loss and gradient (softmax - target, scaled), stable for
    logits of any size.

    Example:
        >>> logits = cr.randn(4, 3, requires_grad=True)
        >>> F.cross_entropy(logits, cr.tensor([0, 2, 1, 2])).backward()
    """
    name = "cross_entropy"
    _check_reduction(name, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.ndim == 0:
        raise ArgumentError(f"{name}: input must have a class dimension, got a scalar")
    if input.dtype.kind != "f":
        raise DtypeError(f"{name}: input must hold floating-point logits, got dtype {input.dtype}")
    t_arr = _array_of(target)
    soft = t_arr.dtype.kind == "f"
    if input.ndim == 1:
        if (soft and t_arr.shape != input.shape) or (not soft and t_arr.ndim != 0):
            raise ArgumentError(f"{name}: for an unbatched input of shape {input.shape}, the target "
                                f"must be a class index of shape () or probabilities of shape "
                                f"{input.shape}, got shape {t_arr.shape}")
        loss = cross_entropy(*_batched(input, target), weight, ignore_index, reduction,
                             label_smoothing)
        return loss.reshape(()) if reduction == "none" else loss
    n_classes = input.shape[1]
    w = _class_weight(name, weight, n_classes, input.dtype)
    if soft:
        if input.ndim > 1 and t_arr.shape == input.shape[:1] + input.shape[2:]:
            raise DtypeError(f"{name}: expected integer class indices (int64) for a target of "
                             f"shape {t_arr.shape}, got dtype {t_arr.dtype}; floating targets "
                             f"are class probabilities of the input's shape {tuple(input.shape)}")
        if t_arr.shape != tuple(input.shape):
            raise ArgumentError(f"{name}: a floating target holds class probabilities and must have "
                                f"the input's shape {tuple(input.shape)}, got {t_arr.shape}; for "
                                f"class indices use an integer tensor of shape "
                                f"{input.shape[:1] + input.shape[2:]}")
        tgt = target if isinstance(target, Tensor) else Tensor(t_arr)
        loss = fused.softmax_cross_entropy(input, tgt.astype(input.dtype), w, ignore_index,
                                           label_smoothing, soft=True)
        if reduction == "mean":  # PyTorch: averaged over samples, not weights
            count = loss.numel()
            return loss.sum() / count if count else loss.sum() * float("nan")
        return _reduce(loss, reduction)
    t = _class_targets(name, input, t_arr, ignore_index)
    if w is None and not label_smoothing and input.ndim == 2 and reduction != "none":
        # The classifier's usual call: one fused node instead of loss, sum and division.
        return fused.reduced_softmax_cross_entropy(input, t, ignore_index, reduction == "mean")
    loss = fused.softmax_cross_entropy(input, t, w, ignore_index, label_smoothing, soft=False)
    if reduction == "mean":
        return _weighted_mean(name, loss, t, w, ignore_index)
    return _reduce(loss, reduction)


@op(**_LOSS, samples=lambda s: [S(s.real(4, 3), s.ints(0, 3, 4)),
                                S(s.real(4, 3), s.ints(0, 3, 4), Const(s.positive(3)), reduction="none"),
                                S(s.real(4, 3, 2), s.ints(0, 3, 4, 2))])
def nll_loss(input: Tensor, target, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices under log-probabilities ``input`` (N, C, ...)
    (e.g. the output of log_softmax): -weight[t] * input[n, t]. ``cross_entropy`` is
    ``nll_loss(log_softmax(x, 1), t)`` in one step."""
    name = "nll_loss"
    _check_reduction(name, reduction)
    if input.ndim == 0:
        raise ArgumentError(f"{name}: input must have a class dimension, got a scalar")
    if input.dtype.kind != "f":
        raise DtypeError(f"{name}: input must hold floating-point log-probabilities, got dtype "
                         f"{input.dtype}")
    if input.ndim == 1:
        loss = nll_loss(*_batched(input, target), weight, ignore_index, reduction)
        return loss.reshape(()) if reduction == "none" else loss
    w = _class_weight(name, weight, input.shape[1], input.dtype)
    t = _class_targets(name, input, target, ignore_index)
    loss = fused.nll(input, t, w, ignore_index)
    if reduction == "mean":
        return _weighted_mean(name, loss, t, w, ignore_index)
    return _reduce(loss, reduction)


# ------------------------------------------------------------ distributions
@op(**_LOSS, samples=lambda s: [S(s.real(3, 4), s.probability(3, 4), reduction="batchmean"),
                                S(s.real(3, 4), s.real(3, 4), reduction="sum", log_target=True)])
def kl_div(input: Tensor, target: Tensor, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL(target || model) pointwise, with ``input`` the model's log-probabilities:
    target (log target - input), or exp(target) (target - input) when ``log_target``.
    Terms with target = 0 count as 0. Use ``reduction='batchmean'`` for the true KL
    divergence per sample (PyTorch's 'mean' averages over every element).

    Example: ``F.kl_div(F.log_softmax(student, 1), F.softmax(teacher, 1), reduction='batchmean')``
    """
    name = "kl_div"
    _check_reduction(name, reduction, _REDUCTIONS + ("batchmean",))
    target = _float_tensor(name, "target", target)
    _same_shape(name, input, target)
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        positive = target.data > 0
        safe = ops.where(positive, target, 1.0)  # log(1) = 0 where target is 0: 0 log 0 = 0
        loss = target * ops.log(safe) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def _torch_distillation_loss(torch, input, teacher_logits, target, temperature=4.0, alpha=0.9,
                             reduction="mean"):
    """The same loss written with torch.nn.functional, as the PyTorch tutorials write it."""
    tf = torch.nn.functional
    T = temperature
    soft = tf.kl_div(tf.log_softmax(input / T, 1), tf.softmax(teacher_logits / T, 1),
                     reduction="none").sum(1)
    loss = alpha * T * T * soft + (1 - alpha) * tf.cross_entropy(input, target, reduction="none")
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


@op(**_LOSS, torch=_torch_distillation_loss,
    samples=lambda s: [S(s.real(4, 3), Const(s.real(4, 3)), s.ints(0, 3, 4)),
                       S(s.real(4, 3), Const(s.real(4, 3)), s.ints(0, 3, 4), temperature=2.0,
                         alpha=0.5, reduction="sum"),
                       S(s.real(4, 3), Const(s.real(4, 3)), s.ints(0, 3, 4), temperature=1.0,
                         alpha=1.0, reduction="none")])
def distillation_loss(input: Tensor, teacher_logits: Tensor, target, temperature: float = 4.0,
                      alpha: float = 0.9, reduction: str = "mean") -> Tensor:
    """Knowledge distillation (Hinton, Vinyals and Dean, 2015): per sample

        alpha T^2 KL(softmax(teacher / T) || softmax(input / T)) + (1 - alpha) CE(input, target)

    with ``input`` the student's logits (N, C), ``teacher_logits`` the teacher's (no gradient
    flows into them) and ``target`` the class indices. The temperature T > 1 softens both
    distributions so the teacher's ranking of the wrong classes carries information; T^2
    keeps the soft term's gradient on the scale of the hard one's as T changes (its
    gradient in the logits is (softmax(input/T) - softmax(teacher/T)) T / N).

    Example: ``F.distillation_loss(student(x), teacher(x).detach(), y, temperature=4.0)``
    """
    name = "distillation_loss"
    _check_reduction(name, reduction)
    if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
            and np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"{name}: temperature must be a finite number > 0, got {temperature!r}")
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"{name}: alpha (the soft term's weight) must be in [0, 1], got {alpha!r}")
    teacher = _float_tensor(name, "teacher_logits", teacher_logits).detach()
    if input.ndim != 2 or teacher.shape != input.shape:
        raise ValueError(f"{name}: student logits and teacher logits must both be (N, C) of "
                         f"one shape, got {tuple(input.shape)} and {tuple(teacher.shape)}")
    T = float(temperature)
    soft = kl_div(ops.log_softmax(input / T, 1), ops.log_softmax(teacher / T, 1),
                  reduction="none", log_target=True).sum(1) * (alpha * T * T)
    if alpha < 1.0:
        soft = soft + (1.0 - alpha) * cross_entropy(input, target, reduction="none")
    return _reduce(soft, reduction)
