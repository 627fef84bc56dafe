"""Matrix product, 1-D, 2-D and batched with broadcast batch dims (NumPy's ``@`` rules)."""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError:
            inner_a, inner_b = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
            if inner_a != inner_b:
                why = f"inner dims {inner_a} and {inner_b} must match"
            else:
                why = f"batch dims {a.shape[:-2]} and {b.shape[:-2]} cannot be broadcast together"
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
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


def matmul(a, b):
    """Matrix product with NumPy/PyTorch semantics (``a @ b``)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, got shapes "
                         f"{np.shape(a)} and {np.shape(b)}")
    return MatMul.apply(a, b)


def mm(a, b):
    """Product of two matrices (2-D only, as ``torch.mm``)."""
    if np.ndim(a) != 2 or np.ndim(b) != 2:
        raise ValueError(f"mm: expects two 2-D tensors, got shapes {np.shape(a)} and {np.shape(b)}")
    return matmul(a, b)


def bmm(a, b):
    """Batched product of (B, n, k) and (B, k, m) tensors (as ``torch.bmm``)."""
    if np.ndim(a) != 3 or np.ndim(b) != 3 or np.shape(a)[0] != np.shape(b)[0]:
        raise ValueError(f"bmm: expects (B, n, k) and (B, k, m) tensors with the same B, got "
                         f"shapes {np.shape(a)} and {np.shape(b)}")
    return matmul(a, b)
