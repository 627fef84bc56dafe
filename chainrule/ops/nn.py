"""Operations with their own backward because a fused rule is faster or more stable than the
composition: softmax, log-softmax and the linear layer.
"""
from __future__ import annotations

import numpy as np

from chainrule import kernels
from chainrule.autograd import Function
from chainrule.backend import DtypeError, ShapeError
from chainrule.ops import _poly
from chainrule.ops.linalg import matmul
from chainrule.ops.registry import S, op


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
        return y * (g - _poly.sum_keep(g * y, (ctx.dim,))), None


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
        return g - np.exp(out) * _poly.sum_keep(g, (ctx.dim,)), None


class Linear(Function):
    """y = x W^T + b for x (..., in), W (out, in), b (out,): one BLAS product over all leading
    dims, and a backward of two products and a column sum."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        if type(x) is not np.ndarray:
            x = np.asarray(x)
        if (x.dtype is not weight.dtype and x.dtype != weight.dtype) or weight.ndim > 2:
            _mismatch(x, weight)
        try:
            if x.ndim == 2:
                # np.dot: it skips matmul's broadcasting set-up (the same BLAS call).
                out = np.dot(x, weight.T)
            elif x.ndim > 2 and weight.ndim == 2:
                # One product over all leading dimensions: matmul would make one per leading
                # index (an LSTM's (T, B, F) input projection).
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
        vector = w.ndim == 1            # a weight vector: y = x . w, as a (1, in) matrix
        if vector:
            g, w = g[..., None], w[None, :]
        g2 = g if g.ndim == 2 else g.reshape((-1, g.shape[-1]))
        gx = gw = gb = None
        if x_in is not None:
            gx = np.dot(g2, w).reshape(x.shape)
        if w_in is not None:
            x2 = x if x.ndim == 2 else x.reshape((-1, x.shape[-1]))
            gw = kernels.product_into_grad(w_in, g2.T, x2)
        if b_in is not None:
            gb = kernels.column_sums(g2)
        if vector:
            gw, gb = (None if gw is None else gw[0]), (None if gb is None else gb[0])
        return gx, gw, gb

    @staticmethod
    def reference(x, weight, bias):
        out = matmul(x, weight.mT if weight.ndim == 2 else weight)
        return out if bias is None else out + bias


def _dim(a, dim, name: str):
    if dim is None:
        raise TypeError(f"{name}: pass dim explicitly (as PyTorch asks)")
    return _poly.one_dim(dim, a.ndim, name)


@op(samples=lambda s: [S(s.real(2, 3, 4), -1), S(s.real(3, 4), 0), S(s.real(), 0),
                       S(np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, -1e4, -1e4]]), 1)])
def softmax(a, dim: int, dtype=None):
    """exp(a) / sum(exp(a)) along ``dim``, stable for large |a|. Example: ``x.softmax(-1)``"""
    if dtype is not None:
        a = a.astype(dtype)
    if a.ndim == 0:
        return Softmax.apply(a.reshape(1), _dim(a, dim, "softmax")).reshape(())
    if a.data.size == 0:
        return a * 1
    return Softmax.apply(a, _dim(a, dim, "softmax"))


@op(samples=lambda s: [S(s.real(2, 3, 4), 1), S(s.real(3, 4), -1), S(s.real(), 0),
                       S(np.array([[1e4, -1e4, 0.0, 3.0], [1e4, 1e4 - 2.0, -5.0, 2e3]]), 1)])
def log_softmax(a, dim: int, dtype=None):
    """log(softmax(a)) along ``dim``, computed without forming softmax (no log(0)).
    Example: ``logits.log_softmax(1)``"""
    if dtype is not None:
        a = a.astype(dtype)
    if a.ndim == 0:
        return LogSoftmax.apply(a.reshape(1), _dim(a, dim, "log_softmax")).reshape(())
    if a.data.size == 0:
        return a * 1
    return LogSoftmax.apply(a, _dim(a, dim, "log_softmax"))


@op(namespace="F", method=False,
    samples=lambda s: [S(s.real(5, 3), s.real(2, 3), s.real(2)), S(s.real(2, 4, 3), s.real(2, 3)),
                       S(s.real(3), s.real(2, 3), s.real(2))])
def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` as one operation; weight is (out_features, in_features).

    Example: ``F.linear(cr.randn(5, 3), cr.randn(2, 3))`` has shape (5, 2).
    """
    return Linear.apply(input, weight, bias)


def _mismatch(x: np.ndarray, w: np.ndarray) -> None:
    """Raise the error for an input that does not fit the weight, if it is one of these (found
    in forward, on the arrays: the layer's hot path compares dtypes and lets the product check
    shapes). ``from None``: NumPy's own error, when it led here, would only repeat this one."""
    if w.ndim > 2:
        raise ShapeError(f"linear: weight must be (out_features, in_features) or "
                         f"(in_features,), got shape {w.shape}") from None
    if x.shape[-1:] != w.shape[-1:]:
        raise ShapeError(f"linear: input has {x.shape[-1] if x.ndim else 0} features "
                         f"(shape {x.shape}) but weight expects {w.shape[-1] if w.ndim else 0} "
                         f"(weight shape {w.shape})") from None
    if x.dtype != w.dtype:
        raise DtypeError(f"linear: input has dtype {x.dtype} but the weight has dtype "
                         f"{w.dtype}; convert one of them (x.float(), x.double() or "
                         f"model.to(dtype))") from None
