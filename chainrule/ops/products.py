"""Tensor products beyond ``matmul``: einsum, and the named products PyTorch offers (outer,
dot, inner, mv, addmm and friends, kron, tensordot, cross, dist).

``einsum`` is one primitive. Its gradient with respect to an operand is again an einsum: the
output's gradient contracted with the other operands, written to that operand's subscripts.
For that to be an einsum, the public function first brings the equation to a form where no
operand repeats a letter (its diagonal is taken, by ``diagonal``) and every letter of an
operand appears in the output or another operand (letters summed within one operand alone are
summed out first, by ``sum``). Those steps are differentiable ops of their own.
"""
from __future__ import annotations

import builtins
import string

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import ArgumentError, DtypeError, ShapeError
from chainrule.ops.layout import diagonal
from chainrule.ops.linalg import matmul
from chainrule.ops.promotion import promote
from chainrule.ops.reduce import norm, sum
from chainrule.ops.registry import S, op
from chainrule.ops.shape import index, reshape, stack
from chainrule.tensor import Tensor


class Einsum(Function):
    @staticmethod
    def forward(ctx, *arrays, inputs, output):
        ctx.inputs_subs, ctx.output = inputs, output
        ctx.save_for_backward(*arrays)
        equation = ",".join(inputs) + "->" + output
        return np.einsum(equation, *arrays, optimize=len(arrays) > 2)

    @staticmethod
    def backward(ctx, g):  # d/d operand k: einsum(out, others -> subscripts of k)
        arrays = ctx.saved_tensors
        subs = ctx.inputs_subs
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            others = [i for i in range(len(arrays)) if i != k]
            equation = ",".join([ctx.output] + [subs[i] for i in others]) + "->" + subs[k]
            grads.append(np.einsum(equation, g, *[arrays[i] for i in others]))
        return tuple(grads)


def _parse(equation: str, n_operands: int) -> tuple[list[str], str]:
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != n_operands:
        raise ArgumentError(f"einsum: the equation {equation!r} names {len(inputs)} operands but "
                            f"{n_operands} were given")
    for part in inputs + ([rhs] if arrow else []):
        bad = set(part.replace("...", "")) - set(string.ascii_letters)
        if bad or part.count("...") > 1 or ("." in part.replace("...", "")):
            raise ArgumentError(f"einsum: invalid subscripts {part!r} in {equation!r}")
    if not arrow:                        # implicit: letters used once, sorted; ellipsis first
        letters = "".join(inputs).replace("...", "")
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        rhs = ("..." if any("..." in p for p in inputs) else "") + "".join(once)
    return inputs, rhs


def _expand_ellipsis(inputs: list[str], output: str, ndims: list[int]) -> tuple[list[str], str]:
    """Replace ``...`` by explicit letters (unused ones), right-aligned as broadcasting is."""
    used = set("".join(inputs) + output)
    spare = [c for c in string.ascii_letters if c not in used]
    widths = []
    for subs, nd in zip(inputs, ndims):
        named = len(subs.replace("...", ""))
        if "..." in subs:
            widths.append(nd - named)
        elif named != nd:
            raise ShapeError(f"einsum: subscripts {subs!r} name {named} dims but the operand "
                             f"has {nd}")
        else:
            widths.append(0)
    width = builtins.max(widths, default=0)
    if width and len(spare) < width:
        raise ArgumentError("einsum: too many broadcast dims for the letters left")
    ell = "".join(spare[:width])
    new_inputs = [s.replace("...", ell[width - w:]) if "..." in s else s
                  for s, w in zip(inputs, widths)]
    return new_inputs, output.replace("...", ell)


def _sublist_form(args) -> tuple[str, list]:
    """``einsum(a, [0, 1], b, [1, 2], [0, 2])`` (sublists of ints, Ellipsis allowed) as an
    equation and its operands."""
    def letters(sub):
        return "".join("..." if s is Ellipsis else string.ascii_letters[s] for s in sub)
    operands, subs = list(args[0:-1:2]), [letters(s) for s in args[1::2]]
    equation = ",".join(subs)
    if len(args) % 2:
        equation += "->" + letters(args[-1])
    return equation, operands


@op(method=False, numpy={"einsum": lambda equation, *operands, **kw: einsum(equation, *operands)},
    samples=lambda s: [S("ij,jk->ik", s.real(3, 4), s.real(4, 2)), S("ii->i", s.real(3, 3)),
                       S("bij,bjk", s.real(2, 3, 4), s.real(2, 4, 2)), S("i,i", s.real(4), s.real(4)),
                       S("...ij->...ji", s.real(2, 3, 4)), S("ij->", s.real(3, 4)),
                       S("iij,jk->ki", s.real(3, 3, 2), s.real(2, 4)),
                       S("ab,bc,cd->ad", s.real(2, 3), s.real(3, 4), s.real(4, 2)),
                       S("ij,kl->ijkl", s.real(2, 2), s.real(2, 3))])
def einsum(equation, *operands):
    """Einstein summation: ``cr.einsum("bij,bjk->bik", a, b)`` (batched matrix product),
    ``"ii->i"`` (diagonal), ``"ij->"`` (sum), ``"...ij->...ji"`` (batched transpose); an
    equation without ``->`` outputs the letters used once, sorted. Operands may also come as
    one list, or in the sublist form ``einsum(a, [0, 1], b, [1, 2])``."""
    if not isinstance(equation, str):
        equation, operands = _sublist_form((equation,) + operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ops_ = [t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in operands]
    if len({t.dtype for t in ops_}) > 1:
        ops_ = list(promote(*ops_))
    inputs, output = _parse(equation, len(ops_))
    inputs, output = _expand_ellipsis(inputs, output, [t.ndim for t in ops_])
    if len(set(output)) != len(output):
        raise ArgumentError(f"einsum: output subscripts {output!r} repeat a letter")
    sizes: dict[str, int] = {}
    for subs, t in zip(inputs, ops_):
        for c, n in zip(subs, t.shape):
            if sizes.setdefault(c, n) != n and n != 1 and sizes[c] != 1:
                raise ShapeError(f"einsum: subscript {c!r} has size {sizes[c]} in one operand "
                                 f"and {n} in another ({equation!r})")
            sizes[c] = builtins.max(sizes[c], n)
    for c in output:
        if c not in sizes:
            raise ArgumentError(f"einsum: output subscript {c!r} appears in no operand")
    # Canonical form: no repeated letter within an operand (take its diagonal) ...
    for k, subs in enumerate(inputs):
        while len(set(subs)) != len(subs):
            c = next(c for c in subs if subs.count(c) > 1)
            first = subs.index(c)
            second = subs.index(c, first + 1)
            ops_[k] = diagonal(ops_[k], 0, first, second)
            subs = subs[:first] + subs[first + 1:second] + subs[second + 1:] + c
        inputs[k] = subs
    # ... and no letter found only in one operand and not in the output (sum it out).
    for k, subs in enumerate(inputs):
        elsewhere = set(output) | {c for i, s in enumerate(inputs) if i != k for c in s}
        lonely = tuple(i for i, c in enumerate(subs) if c not in elsewhere)
        if lonely:
            ops_[k] = sum(ops_[k], lonely)
            inputs[k] = "".join(c for c in subs if c in elsewhere)
    return Einsum.apply(*ops_, inputs=tuple(inputs), output=output)


# --------------------------------------------------------------- named products
def _vector(name: str, *xs):
    for x in xs:
        if x.ndim != 1:
            raise ShapeError(f"{name}: expects 1-D tensors, got shape {tuple(x.shape)}")


@op(aliases=("ger",), methods={"ger": True}, samples=lambda s: [S(s.real(3), s.real(4))])
def outer(input, vec2):
    """The outer product of two vectors: (n) x (m) -> (n, m). Example: ``cr.outer(a, b)``"""
    _vector("outer", input, vec2)
    return reshape(input, (-1, 1)) * reshape(vec2, (1, -1))


@op(samples=lambda s: [S(s.real(4), s.real(4))])
def dot(input, tensor):
    """The dot product of two vectors (a 0-d tensor). Example: ``cr.dot(a, b)``"""
    _vector("dot", input, tensor)
    if input.shape != tensor.shape:
        raise ShapeError(f"dot: vectors of sizes {input.shape[0]} and {tensor.shape[0]}")
    if input.dtype != tensor.dtype:
        raise DtypeError(f"dot: expected both vectors to have the same dtype, but found "
                         f"{input.dtype} and {tensor.dtype}")
    return matmul(input, tensor)


@op(samples=lambda s: [S(s.real(4), s.real(4))])
def vdot(input, other):
    """The dot product of two vectors (conjugating the first, a no-op for real tensors).
    Example: ``cr.vdot(a, b)``"""
    return dot(input, other)


@op(samples=lambda s: [S(s.real(2, 4), s.real(3, 4)), S(s.real(4), s.real(4)), S(s.real(), s.real(2, 3))])
def inner(input, other):
    """The sum of products over the last dims: (..., k) x (..., k) -> (a..., b...); a number
    times a tensor if either is 0-d. Example: ``cr.inner(a, b)``"""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise ShapeError(f"inner: last dims {input.shape[-1]} and {other.shape[-1]} differ "
                         f"(shapes {tuple(input.shape)} and {tuple(other.shape)})")
    return tensordot(input, other, ([-1], [-1]))


@op(samples=lambda s: [S(s.real(3, 4), s.real(4))])
def mv(input, vec):
    """Matrix times vector: (n, m) x (m) -> (n). Example: ``cr.mv(w, x)``"""
    if input.ndim != 2 or vec.ndim != 1:
        raise ShapeError(f"mv: expects a matrix and a vector, got shapes {tuple(input.shape)} "
                         f"and {tuple(vec.shape)}")
    return matmul(input, vec)


def _scaled_sum(input, product, beta, alpha):
    """beta * input + alpha * product, as PyTorch: beta = 0 ignores input (NaN included);
    for integer tensors the factors are integers too (0.5 becomes 0)."""
    if product.dtype.kind in "biu":
        alpha, beta = int(alpha), int(beta)
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        return product
    return (input * beta if beta != 1 else input) + product


@op(samples=lambda s: [S(s.real(3, 2), s.real(3, 4), s.real(4, 2)),
                       S(s.real(2), s.real(3, 4), s.real(4, 2), beta=0.5, alpha=2.0)])
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2). Example: ``cr.addmm(b, x, w)``"""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise ShapeError(f"addmm: expects two matrices, got shapes {tuple(mat1.shape)} and "
                         f"{tuple(mat2.shape)}")
    return _scaled_sum(input, matmul(mat1, mat2), beta, alpha)


@op(samples=lambda s: [S(s.real(3), s.real(3, 4), s.real(4)), S(s.real(3), s.real(3, 4), s.real(4), beta=2.0, alpha=0.5)])
def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta * input + alpha * (mat @ vec). Example: ``cr.addmv(b, w, x)``"""
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


@op(samples=lambda s: [S(s.real(3, 4), s.real(3), s.real(4)), S(s.real(4), s.real(3), s.real(4), beta=0.5, alpha=2.0)])
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """beta * input + alpha * outer(vec1, vec2). Example: ``cr.addr(m, u, v)``"""
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha)


def _check_batches(name, b1, b2):
    if b1.ndim != 3 or b2.ndim != 3 or b1.shape[0] != b2.shape[0]:
        raise ShapeError(f"{name}: expects (B, n, k) and (B, k, m) tensors with the same B, got "
                         f"shapes {tuple(b1.shape)} and {tuple(b2.shape)}")


@op(samples=lambda s: [S(s.real(2, 3, 2), s.real(2, 3, 4), s.real(2, 4, 2)),
                       S(s.real(3, 2), s.real(2, 3, 4), s.real(2, 4, 2), beta=0.5, alpha=2.0)])
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * bmm(batch1, batch2). Example: ``cr.baddbmm(bias, q, k)``"""
    _check_batches("baddbmm", batch1, batch2)
    return _scaled_sum(input, matmul(batch1, batch2), beta, alpha)


@op(samples=lambda s: [S(s.real(3, 2), s.real(2, 3, 4), s.real(2, 4, 2)),
                       S(s.real(2), s.real(2, 3, 4), s.real(2, 4, 2), beta=0.5, alpha=2.0)])
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (the sum over the batch of batch1[b] @ batch2[b]).
    Example: ``cr.addbmm(m, a, b)``"""
    _check_batches("addbmm", batch1, batch2)
    return _scaled_sum(input, sum(matmul(batch1, batch2), 0), beta, alpha)


@op(samples=lambda s: [S(s.real(2, 3), s.real(2, 2)), S(s.real(2), s.real(3, 2))])
def kron(input, other):
    """The Kronecker product: every entry of ``input`` times the whole of ``other``.
    Example: ``cr.kron(a, b)``"""
    a, b = input, other
    nd = builtins.max(a.ndim, b.ndim)
    a = reshape(a, (1,) * (nd - a.ndim) + tuple(a.shape))
    b = reshape(b, (1,) * (nd - b.ndim) + tuple(b.shape))
    # (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...) -> (a0 b0, a1 b1, ...)
    ai = reshape(a, tuple(d for n in a.shape for d in (n, 1)))
    bi = reshape(b, tuple(d for n in b.shape for d in (1, n)))
    return reshape(ai * bi, tuple(x * y for x, y in zip(a.shape, b.shape)))


@op(method=False, samples=lambda s: [S(s.real(2, 3, 4), s.real(3, 4, 2)), S(s.real(2, 3), s.real(3, 4), 1),
                                     S(s.real(2, 3, 4), s.real(4, 2, 3), ([1, 2], [2, 0]))])
def tensordot(a, b, dims=2):
    """Contract ``dims`` dims: the last ``dims`` of ``a`` with the first ``dims`` of ``b``,
    or the listed pairs ``([dims of a], [dims of b])``. Example: ``cr.tensordot(a, b, 1)``"""
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, (int, np.integer)):
        if dims < 0:
            raise ArgumentError(f"tensordot: dims must be non-negative, got {dims}")
        da = list(range(a.ndim - dims, a.ndim))
        db = list(range(dims))
    else:
        da, db = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
    if len(da) != len(db):
        raise ArgumentError(f"tensordot: {len(da)} dims of a paired with {len(db)} of b")
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"tensordot: dim {i} of a ({a.shape[i]}) and dim {j} of b "
                             f"({b.shape[j]}) differ")
        sb[j % builtins.max(b.ndim, 1)] = sa[i % builtins.max(a.ndim, 1)]
    out = [c for c in sa if c not in sb] + [c for c in sb if c not in sa]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


@op(samples=lambda s: [S(s.real(4, 3), s.real(4, 3)), S(s.real(3, 2), s.real(3, 2), 0)])
def cross(input, other, dim: int | None = None):
    """The cross product of 3-vectors along ``dim`` (the first dim of size 3 when None, as
    ``torch.cross``). Example: ``cr.cross(a, b, dim=1)``"""
    a, b = promote(input, other)
    if dim is None:
        dim = next((d for d, n in enumerate(a.shape) if n == 3), None)
        if dim is None:
            raise ShapeError(f"cross: no dim of size 3 in shape {tuple(a.shape)}")
    d = dim % builtins.max(a.ndim, 1)
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise ShapeError(f"cross: dim {dim} must have size 3, got shapes {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")

    def part(t, k):
        return index(t, (slice(None),) * d + (k,))
    a0, a1, a2 = (part(a, k) for k in range(3))
    b0, b1, b2 = (part(b, k) for k in range(3))
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


@op(samples=lambda s: [S(s.real(3, 4), s.real(4)), S(s.real(3), s.real(3), 1), S(s.distinct(3), s.distinct(3) + 9, float("inf"))])
def dist(input, other, p=2):
    """The p-norm of input - other. Example: ``cr.dist(a, b)``"""
    return norm(input - other, p)


@op(method=False, samples=lambda s: [S(s.real(2, 3), s.real(3, 4), s.real(4, 2))])
def chain_matmul(*matrices):
    """The product of a chain of matrices, left to right. Example:
    ``cr.chain_matmul(a, b, c)``"""
    if not matrices:
        raise ArgumentError("chain_matmul: expects at least one matrix")
    for m in matrices:
        if m.ndim != 2:
            raise ShapeError(f"chain_matmul: expects matrices, got shape {tuple(m.shape)}")
    out = matrices[0]
    for m in matrices[1:]:
        out = matmul(out, m)
    return out
