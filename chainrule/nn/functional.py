"""Functional forms of the layers and losses (``import chainrule.nn.functional as F``).

Each takes its weights as arguments instead of owning them, with PyTorch's names and
arguments: ``F.relu(x)``, ``F.layer_norm(x, (64,), w, b)``, ``F.cross_entropy(logits, y)``.

``inplace=True`` is accepted where PyTorch has it, so PyTorch code runs unchanged, but the
result is always a new tensor (the engine keeps every recorded value intact for backward).
"""
from __future__ import annotations

import warnings

import numpy as np

from chainrule import ops
from chainrule.nn._fused import AffineNormalize, EmbeddingLookup, normalization_statistics
from chainrule.nn._loss_functions import (  # noqa: F401  (public through this module)
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss,
    kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
from chainrule.random import default_generator
from chainrule.tensor import Tensor

__all__ = ["linear", "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softplus",
           "softmax", "log_softmax", "dropout", "batch_norm", "layer_norm", "embedding",
           "one_hot", "pad", "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
           "nll_loss", "kl_div"]


# ------------------------------------------------------------------- linear
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``; weight is (out_features, in_features).

    Example: ``F.linear(cr.randn(5, 3), cr.randn(2, 3))`` has shape (5, 2).
    """
    return ops.linear(input, weight, bias)


# -------------------------------------------------------------- activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return ops.relu(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    return ops.leaky_relu(input, negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha (e^x - 1)."""
    return ops.elu(input, alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x) (``approximate='none'``, via erf) or its tanh approximation (``'tanh'``)."""
    return ops.gelu(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x sigmoid(x) (also called swish)."""
    return ops.silu(input)


sigmoid = ops.sigmoid     # the engine's own functions: one call less per layer
tanh = ops.tanh


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


def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``. Example: ``F.softmax(logits, dim=-1)``."""
    if dtype is not None:
        input = input.astype(dtype)
    return ops.softmax(input, _softmax_dim("softmax", input.ndim, dim))


def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably."""
    if dtype is not None:
        input = input.astype(dtype)
    return ops.log_softmax(input, _softmax_dim("log_softmax", input.ndim, dim))


# ------------------------------------------------------------------ dropout
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (inverted
    dropout, so evaluation needs no rescaling); the identity when ``training`` is False.

    The mask is drawn from chainrule's global generator, so ``cr.manual_seed`` fixes it.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
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
        raise ValueError(f"{name}: {what} has shape {tuple(t.shape)}, expected {tuple(shape)}")


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
        raise ValueError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), got "
                         f"shape {input.shape}")
    channels = input.shape[1]
    for what, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _param_check("batch_norm", what, t, (channels,))
    axes = (0,) + tuple(range(2, input.ndim))
    param_shape = (channels,) + (1,) * (input.ndim - 2)
    x = input.data
    if training:
        count = x.size // max(channels, 1)
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {input.shape}")
        mean, var, centered = normalization_statistics(x, axes)
        if running_mean is not None:
            _update_running(running_mean, mean, momentum)
        if running_var is not None:
            _update_running(running_var, var * (count / (count - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are required when "
                             "training=False")
        mean = running_mean.data.reshape(param_shape)
        var = running_var.data.reshape(param_shape)
        centered = None
    return AffineNormalize.apply(input, weight, bias, axes=axes, param_shape=param_shape,
                                 eps=eps, mean=mean, var=var, batch_stats=training,
                                 centered=centered)


def _update_running(buffer: Tensor, stat: np.ndarray, momentum: float) -> None:
    data = buffer.data
    np.multiply(data, 1.0 - momentum, out=data, casting="unsafe")
    np.add(data, momentum * stat.reshape(data.shape), out=data, casting="unsafe")
    buffer._version += 1


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims of each sample, then scale
    and shift elementwise. Example: ``F.layer_norm(x, (x.shape[-1],))``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(f"layer_norm: input of shape {input.shape} does not end in the "
                         f"normalized_shape {shape}")
    _param_check("layer_norm", "weight", weight, shape)
    _param_check("layer_norm", "bias", bias, shape)
    axes = tuple(range(input.ndim - k, input.ndim))
    mean, var, centered = normalization_statistics(input.data, axes)
    return AffineNormalize.apply(input, weight, bias, axes=axes, param_shape=shape, eps=eps,
                                 mean=mean, var=var, batch_stats=True, centered=centered)


# ---------------------------------------------------------------- embedding
def _indices(name: str, input) -> np.ndarray:
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer indices, got dtype {idx.dtype}")
    return idx


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
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within "
                             f"num_embeddings ({n})")
        padding_idx = padding_idx % n
    return EmbeddingLookup.apply(weight, idx, padding_idx=padding_idx)


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices (any shape) -> int64 one-hot of shape (..., num_classes);
    ``num_classes=-1`` uses max + 1.

    Example: ``F.one_hot(cr.tensor([0, 2]), 3)`` -> [[1, 0, 0], [0, 0, 1]].
    """
    idx = _indices("one_hot", tensor)
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {int(idx.min())}")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    elif idx.size and idx.max() >= num_classes:
        raise ValueError(f"one_hot: class value {int(idx.max())} is out of range for "
                         f"num_classes={num_classes}")
    out = np.zeros(idx.shape + (num_classes,), dtype=np.int64)
    np.put_along_axis(out, idx[..., None].astype(np.int64), 1, axis=-1)
    return Tensor(out)


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Constant padding; ``pad`` lists (before, after) widths starting from the last dim:
    ``F.pad(x, (1, 1))`` pads the last dim by one on each side."""
    return ops.pad(input, pad, mode, 0.0 if value is None else value)


# ------------------------------------------- convolution, pooling, channel dropout
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d  # noqa: E402,F401
from chainrule.ops.pool import (  # noqa: E402,F401
    adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d)
from chainrule.nn.channel_dropout import dropout1d, dropout2d  # noqa: E402,F401

__all__ += ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d",
            "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
            "adaptive_avg_pool2d", "dropout1d", "dropout2d"]
