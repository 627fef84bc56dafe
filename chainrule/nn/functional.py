"""Functional forms of the layers and losses (``import chainrule.nn.functional as F``).

Each takes its weights as arguments instead of owning them, with PyTorch's names and
arguments: ``F.relu(x)``, ``F.layer_norm(x, (64,), w, b)``, ``F.cross_entropy(logits, y)``.

``inplace=True`` is accepted where PyTorch has it, so PyTorch code runs unchanged, but the
result is always a new tensor (the engine keeps every recorded value intact for backward).

Every function here is declared in the op registry (namespace "F"), and so are the
functional forms that live with their primitives in ``chainrule.ops`` (``linear``, ``pad``,
convolution, pooling), the losses (``nn._loss_functions``), attention
(``nn._attention_functions``), group/instance norm and ``normalize``
(``nn._norm_functions``), ``interpolate`` (``nn._sampling_functions``) and ``prelu``
(``nn._activation_functions``); this module's exports are all of them, listed from the
registry at the bottom.
"""
from __future__ import annotations

import warnings

import numpy as np

from chainrule.backend import ArgumentError, DtypeError
from chainrule import ops
from chainrule.nn import _loss_functions  # noqa: F401  (declares the losses)
from chainrule.nn import (  # noqa: F401  (each declares its functions in the registry)
    _activation_functions, _attention_functions, _norm_functions, _sampling_functions)
from chainrule.ops import registry
from chainrule.ops.embedding import EmbeddingLookup
from chainrule.ops.norm import AffineNormalize, normalization_statistics
from chainrule.ops.registry import Const, S, op
from chainrule.random import default_generator
from chainrule.tensor import Tensor

_F = dict(namespace="F", method=False)


def _activation_samples(s):
    return [S(s.real(3, 4))]


# -------------------------------------------------------------- activations
@op(**_F, samples=_activation_samples)
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return ops.relu(input)


@op(**_F, samples=lambda s: [S(s.real(3, 4), 0.2)])
def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    return ops.leaky_relu(input, negative_slope)


@op(**_F, samples=lambda s: [S(s.real(3, 4), 0.7)])
def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha (e^x - 1)."""
    return ops.elu(input, alpha)


@op(**_F, samples=lambda s: [S(s.real(3, 4)), S(s.real(3, 4), approximate="tanh")])
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x) (``approximate='none'``, via erf) or its tanh approximation (``'tanh'``)."""
    return ops.gelu(input, approximate)


@op(**_F, samples=_activation_samples)
def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x sigmoid(x) (also called swish)."""
    return ops.silu(input)


@op(**_F, samples=lambda s: [S(s.real(3, 4)), S(s.real(3, 4), 2.0, 1.5)])
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta; linear where beta x > threshold."""
    return ops.softplus(input, beta, threshold)


def _softmax_dim(name: str, ndim: int, dim) -> int:
    """PyTorch's legacy rule when ``dim`` is omitted (dim 0 for 0-, 1- and 3-d inputs, else
    dim 1), with PyTorch's warning: pass dim explicitly."""
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  f"to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


@op(**_F, samples=lambda s: [S(s.real(3, 4), -1), S(s.real(2, 3, 4), dim=1)])
def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``. Example: ``F.softmax(logits, dim=-1)``."""
    if dtype is not None:
        input = input.astype(dtype)
    return ops.softmax(input, _softmax_dim("softmax", input.ndim, dim))


@op(**_F, samples=lambda s: [S(s.real(3, 4), -1), S(s.real(2, 3, 4), dim=0)])
def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably."""
    if dtype is not None:
        input = input.astype(dtype)
    return ops.log_softmax(input, _softmax_dim("log_softmax", input.ndim, dim))


# ------------------------------------------------------------------ dropout
@op(**_F, samples=lambda s: [S(s.real(3, 4), 0.5, False)])
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (inverted
    dropout, so evaluation needs no rescaling); the identity when ``training`` is False.

    The mask is drawn from chainrule's global generator, so ``cr.manual_seed`` fixes it.
    """
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    dtype = input.dtype if input.dtype in (np.float32, np.float64) else np.float64
    if p == 1.0:
        return input * np.zeros(input.shape, dtype=input.dtype)
    keep = default_generator().random(input.shape, dtype=dtype) >= p
    return input * (keep.astype(input.dtype) * (1.0 / (1.0 - p))).astype(input.dtype, copy=False)


# ------------------------------------------------------------ normalisation
def _param_check(name: str, what: str, t, shape: tuple) -> None:
    if t is not None and tuple(t.shape) != tuple(shape):
        raise ArgumentError(f"{name}: {what} has shape {tuple(t.shape)}, expected {tuple(shape)}")


@op(**_F, samples=lambda s: [
    S(s.real(4, 3), None, None, s.real(3), s.real(3), True),
    S(s.real(2, 3, 4, 2), None, None, s.real(3), s.real(3), True),
    S(s.real(4, 3, 2), Const(s.real(3)), Const(s.positive(3)), s.real(3), s.real(3))])
def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) of (N, C, ...) by its batch statistics (training) or by
    the running ones (evaluation), then scale by weight and shift by bias.

    In training, running statistics (if given) are updated in place:
    running = (1 - momentum) running + momentum batch_stat, with the *unbiased* batch
    variance for running_var (as PyTorch does).
    """
    if input.ndim < 2:
        raise ArgumentError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), got "
                            f"shape {input.shape}")
    channels = input.shape[1]
    for what, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _param_check("batch_norm", what, t, (channels,))
    axes = (0,) + tuple(range(2, input.ndim))
    param_shape = (channels,) + (1,) * (input.ndim - 2)
    count = input._array.size // max(channels, 1)
    if training and count <= 1:
        raise ArgumentError(f"batch_norm: expected more than 1 value per channel when "
                            f"training, got input of shape {input.shape}")
    mean, var, centered = _norm_functions.statistics(
        "batch_norm", input, axes, param_shape, running_mean, running_var, training, count,
        momentum, "training")
    return AffineNormalize.apply(input, weight, bias, axes=axes, param_shape=param_shape,
                                 eps=eps, mean=mean, var=var, batch_stats=training,
                                 centered=centered)


@op(**_F, samples=lambda s: [S(s.real(3, 4), (4,), s.real(4), s.real(4)),
                             S(s.real(2, 3, 4), (3, 4)), S(s.real(2, 5), [5], s.real(5))])
def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims of each sample, then scale
    and shift elementwise. Example: ``F.layer_norm(x, (x.shape[-1],))``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ArgumentError(f"layer_norm: input of shape {input.shape} does not end in the "
                            f"normalized_shape {shape}")
    _param_check("layer_norm", "weight", weight, shape)
    _param_check("layer_norm", "bias", bias, shape)
    axes = tuple(range(input.ndim - k, input.ndim))
    mean, var, centered = normalization_statistics(input._array, axes)
    return AffineNormalize.apply(input, weight, bias, axes=axes, param_shape=shape, eps=eps,
                                 mean=mean, var=var, batch_stats=True, centered=centered)


# ---------------------------------------------------------------- embedding
def _indices(name: str, input) -> np.ndarray:
    idx = input._array if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise DtypeError(f"{name}: expected integer indices, got dtype {idx.dtype}")
    return idx


@op(**_F, samples=lambda s: [S(s.ints(0, 5, 2, 3), s.real(5, 4)),
                             S(np.array([[0, 2, 2], [4, 1, 0]]), s.real(5, 3))],
    notes="padding_idx is tested on its own: its row's zero gradient is not the derivative")
def embedding(input, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by integer ``input`` (any shape): output shape
    input.shape + (embedding_dim,). The ``padding_idx`` row receives no gradient.

    Example: ``F.embedding(cr.tensor([[0, 2]]), cr.randn(5, 3))`` has shape (1, 2, 3).
    """
    idx = _indices("embedding", input)
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)]
        raise IndexError(f"embedding: index {int(bad.flat[0])} is out of range for {n} "
                         f"embeddings (valid: 0..{n - 1})")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ArgumentError(f"embedding: padding_idx {padding_idx} must be within "
                                f"num_embeddings ({n})")
        padding_idx = padding_idx % n
    return EmbeddingLookup.apply(weight, idx, padding_idx=padding_idx)


@op(**_F, differentiable=False, dtypes="int",
    samples=lambda s: [S(s.ints(0, 4, 5)), S(s.ints(0, 3, 2, 3), 5)])
def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices (any shape) -> int64 one-hot of shape (..., num_classes);
    ``num_classes=-1`` uses max + 1.

    Example: ``F.one_hot(cr.tensor([0, 2]), 3)`` -> [[1, 0, 0], [0, 0, 1]].
    """
    idx = _indices("one_hot", tensor)
    if idx.size and idx.min() < 0:
        raise ArgumentError(f"one_hot: class values must be non-negative, got {int(idx.min())}")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    elif idx.size and idx.max() >= num_classes:
        raise ArgumentError(f"one_hot: class value {int(idx.max())} is out of range for "
                            f"num_classes={num_classes}")
    out = np.zeros(idx.shape + (num_classes,), dtype=np.int64)
    np.put_along_axis(out, idx[..., None].astype(np.int64), 1, axis=-1)
    return Tensor(out)


# --------------------------------------------------------- channel dropout
def _channel_dropout(name: str, input: Tensor, p: float, training: bool, ranks: tuple,
                     unbatched_rank: int) -> Tensor:
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"{name}: probability has to be between 0 and 1, but got {p}")
    if input.ndim not in ranks:
        raise ArgumentError(f"{name}: expected a {' or '.join(f'{r}-D' for r in ranks)} input, "
                            f"got shape {input.shape}")
    if not training or p == 0.0:
        return input
    # One draw per (sample, channel); unbatched input has the channel first.
    lead = 1 if input.ndim == unbatched_rank else 2
    shape = input.shape[:lead] + (1,) * (input.ndim - lead)
    if p == 1.0:
        return input * np.zeros(shape, dtype=input.dtype)
    keep = default_generator().random(shape) >= p
    return input * (keep * (1.0 / (1.0 - p))).astype(input.dtype)


@op(**_F, samples=lambda s: [S(s.real(2, 3, 4, 4), 0.5, False)])
def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) (or (N, C, L)) with probability ``p`` and scale
    the kept ones by 1/(1-p); the identity when not training. Neighbouring pixels of a
    feature map are strongly correlated, so dropping single elements barely regularises a
    conv net; this drops whole channels instead.

    Example:
        >>> y = F.dropout2d(cr.ones(2, 8, 4, 4), 0.5)   # each y[n, c] is all 0 or all 2
    """
    return _channel_dropout("dropout2d", input, p, training, (3, 4), -1)


@op(**_F, samples=lambda s: [S(s.real(2, 3, 5), 0.5, False)])
def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) (or unbatched (C, L)) with probability ``p``.

    Example:
        >>> y = F.dropout1d(cr.ones(2, 8, 10), 0.25)
    """
    return _channel_dropout("dropout1d", input, p, training, (2, 3), 2)


# Every function declared for this namespace, wherever it lives (ops, losses, this file).
globals().update(registry.exports("F"))
__all__ = sorted(registry.exports("F"))
