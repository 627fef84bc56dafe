"""Matrix product, 1-D, 2-D and batched with broadcast batch dims (NumPy's ``@`` rules)."""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import ShapeError
from chainrule.ops.promotion import promote, settled
from chainrule.ops.registry import S, op


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError:
            if a.ndim == 0 or b.ndim == 0:
                raise ShapeError(f"matmul: both operands need at least one dimension, got "
                                 f"shapes {a.shape} and {b.shape}") from None
            inner_a, inner_b = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
            if inner_a != inner_b:
                why = f"inner dims {inner_a} and {inner_b} must match"
            else:
                why = f"batch dims {a.shape[:-2]} and {b.shape[:-2]} cannot be broadcast together"
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                             f"({why})") from None

    @staticmethod
    def backward(ctx, g):  # C = AB:  dA = G B^T,  dB = A^T G  (batch dims summed by the engine)
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:          # dot product: g is a scalar
            return (g * b if need_a else None), (g * a if need_b else None)
        if a.ndim == 1:                          # (k) @ (..., k, m) -> (..., m)
            g2 = g.reshape(g.shape[:-1] + (1, g.shape[-1]))
            ga = (g2 @ b.mT).reshape(g.shape[:-1] + (a.shape[0],)) if need_a else None
            gb = a.reshape((a.shape[0], 1)) @ g2 if need_b else None
            return ga, gb
        if b.ndim == 1:                          # (..., n, k) @ (k) -> (..., n)
            g2 = g.reshape(g.shape + (1,))
            ga = g2 @ b.reshape((1, b.shape[0])) if need_a else None
            gb = (a.mT @ g2).reshape(g.shape[:-1] + (b.shape[0],)) if need_b else None
            return ga, gb
        return (g @ b.mT if need_a else None), (a.mT @ g if need_b else None)


@op(operators={"__matmul__": "self", "__rmatmul__": "reflected"}, numpy=("matmul",),
    samples=lambda s: [S(s.real(4), s.real(4)), S(s.real(4), s.real(4, 3)), S(s.real(3, 4), s.real(4)),
                       S(s.real(3, 4), s.real(4, 2)), S(s.real(2, 3, 4), s.real(2, 4, 5)),
                       S(s.real(2, 1, 3, 4), s.real(5, 4, 2)), S(s.real(4), s.real(2, 4, 3)),
                       S(s.real(2, 3, 4), s.real(4))])
def matmul(a, b):
    """Matrix product with NumPy/PyTorch semantics (``a @ b``). Example: ``x @ w.T``"""
    if not settled(a, b):
        a, b = promote(a, b)
    return MatMul.apply(a, b)


def _shape(x) -> tuple:
    return tuple(getattr(x, "shape", np.shape(x)))


@op(samples=lambda s: [S(s.real(3, 4), s.real(4, 2))])
def mm(a, b):
    """Product of two matrices (2-D only, as ``torch.mm``). Example: ``cr.mm(a, b)``"""
    if len(_shape(a)) != 2 or len(_shape(b)) != 2:
        raise ShapeError(f"mm: expects two 2-D tensors, got shapes {_shape(a)} and {_shape(b)}")
    return matmul(a, b)


@op(samples=lambda s: [S(s.real(2, 3, 4), s.real(2, 4, 5))])
def bmm(a, b):
    """Batched product of (B, n, k) and (B, k, m) tensors (as ``torch.bmm``).
    Example: ``cr.bmm(q, k.mT)``"""
    sa, sb = _shape(a), _shape(b)
    if len(sa) != 3 or len(sb) != 3 or sa[0] != sb[0]:
        raise ShapeError(f"bmm: expects (B, n, k) and (B, k, m) tensors with the same B, got "
                         f"shapes {sa} and {sb}")
    return matmul(a, b)
