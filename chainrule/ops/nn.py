"""Operations with their own backward because a fused rule is faster or more stable than the
composition: softmax, log-softmax and the linear layer.
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function, grad_buffer
from chainrule.ops import _poly
from chainrule.tensor import Tensor


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, dim):
        e = np.exp(a - a.max(axis=dim, keepdims=True))
        out = e / e.sum(axis=dim, keepdims=True)
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # dy_i/dx_j = y_i (delta_ij - y_j)  =>  dx = y (g - sum(g y))
        y, = ctx.saved_tensors
        return y * (g - _poly.sum_keep(g * y, (ctx.dim,)))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, dim):
        shifted = a - a.max(axis=dim, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # d log softmax: dx = g - softmax(x) sum(g)
        out, = ctx.saved_tensors
        return g - np.exp(out) * _poly.sum_keep(g, (ctx.dim,))


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        if type(x) is not np.ndarray:
            x = np.asarray(x)
        if (x.dtype is not weight.dtype and x.dtype != weight.dtype) or weight.ndim > 2:
            _mismatch(x, weight)
        try:
            if x.ndim == 2:
                # np.dot: it skips matmul's broadcasting set-up (1.5 us against 2.3 us for a
                # tiny layer, the same BLAS call for a large one).
                out = np.dot(x, weight.T)
            elif x.ndim > 2 and weight.ndim == 2:
                # One product over all leading dimensions: matmul would make one per leading
                # index (an LSTM's (32, 32, 64) input projection: 0.62 ms against 0.96 ms).
                out = np.dot(x.reshape(-1, x.shape[-1]), weight.T)
                out = out.reshape(x.shape[:-1] + (weight.shape[0],))
            else:
                out = x @ weight.T
        except ValueError:
            _mismatch(x, weight)        # the product names no argument: say which and why
            raise                       # (a failure _mismatch cannot explain: NumPy's own)
        ctx.save_for_backward(x, weight)
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, g):  # y = x W^T + b:  dx = g W,  dW = g^T x,  db = sum of g over rows
        x, w = ctx.saved_tensors
        x_in, w_in, b_in = ctx.inputs
        if isinstance(g, Tensor):       # create_graph: the same rule, recorded
            g2 = g.reshape((-1, g.shape[-1]))
            return (g @ w if x_in is not None else None,
                    g2.mT @ x.reshape((-1, x.shape[-1])) if w_in is not None else None,
                    _poly.sum_keep(g2, (0,)).reshape((g2.shape[-1],)) if b_in is not None else None)
        g2 = g if g.ndim == 2 else g.reshape((-1, g.shape[-1]))
        gx = gw = gb = None
        if x_in is not None:
            gx = np.dot(g2, w).reshape(x.shape) if g.ndim != 2 else np.dot(g, w)
        if w_in is not None:
            x2 = x if x.ndim == 2 else x.reshape((-1, x.shape[-1]))
            buf = grad_buffer(w_in, w.shape, w.dtype)
            gw = np.dot(g2.T, x2) if buf is None else np.matmul(g2.T, x2, out=buf)
        if b_in is not None:
            gb = np.dot(_ones(g2.shape[0], g2.dtype), g2)
        return gx, gw, gb


_ones_cache: list = [np.ones(0)]


def _ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of n ones, kept between calls: the bias gradient is its product with
    the gradient (BLAS, 2.5-5x faster than ndarray.sum(axis=0) at layer sizes), and a
    training loop asks for the same length every step."""
    ones = _ones_cache[0]
    if ones.shape[0] != n or ones.dtype != dtype:
        ones = np.ones(n, dtype=dtype)
        ones.flags.writeable = False
        _ones_cache[0] = ones
    return ones


def _dim(a, dim):
    if dim is None:
        raise TypeError("softmax: pass dim explicitly (as PyTorch asks)")
    return _poly.normalize_dims(dim, a.ndim)[0]


def softmax(a, dim: int):
    """exp(a) / sum(exp(a)) along ``dim``, stable for large |a|."""
    return Softmax.apply(a, _dim(a, dim))


def log_softmax(a, dim: int):
    """log(softmax(a)) along ``dim``, computed without forming softmax (no log(0))."""
    return LogSoftmax.apply(a, _dim(a, dim))


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` as one operation; weight is (out_features, in_features).

    Example: ``y = cr.ops.linear(x, w, b)`` for x (N, in), w (out, in), b (out,)
    """
    return Linear.apply(x, weight, bias)


def _mismatch(x: np.ndarray, w: np.ndarray) -> None:
    """Raise the error for an input that does not fit the weight, if it is one of these (found
    in forward, on the arrays: the layer's hot path compares dtypes and lets the product check
    shapes). ``from None``: NumPy's own error, when it led here, would only repeat this one."""
    if w.ndim > 2:
        raise ValueError(f"linear: weight must be (out_features, in_features) or "
                         f"(in_features,), got shape {w.shape}") from None
    if x.shape[-1:] != w.shape[-1:]:
        raise ValueError(f"linear: input has {x.shape[-1] if x.ndim else 0} features "
                         f"(shape {x.shape}) but weight expects {w.shape[-1] if w.ndim else 0} "
                         f"(weight shape {w.shape})") from None
    if x.dtype != w.dtype:
        raise TypeError(f"linear: input has dtype {x.dtype} but the weight has dtype "
                        f"{w.dtype}; convert one of them (x.float(), x.double() or "
                        f"model.to(dtype))") from None
