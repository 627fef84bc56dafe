"""Attention (public as ``chainrule.nn.functional.*``): ``scaled_dot_product_attention`` and
``multi_head_attention_forward``, the body of :class:`chainrule.nn.MultiheadAttention`.

Both are compositions of engine operations (matrix products, the fused softmax, dropout),
so their gradients and second derivatives come from those:

    weights = softmax(q k^T * scale + bias)      (bias: the masks, 0 or -inf / added floats)
    output  = dropout(weights) v

Masks follow PyTorch's two conventions, which are opposite for bool masks:
``scaled_dot_product_attention`` takes True as *may attend*; ``MultiheadAttention`` (and the
Transformer layers) take True as *may not attend*. Float masks are added to the scores in
both. Where every key of a query is masked, ``scaled_dot_product_attention`` returns zeros
for that query (as PyTorch does), the explicit-weights path of multi-head attention NaN
(as PyTorch's does).
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import ops
from chainrule.backend import ShapeError
from chainrule.nn import functional as F
from chainrule.ops.registry import Const, S, op
from chainrule.tensor import Tensor

_F = dict(namespace="F", method=False)


# ------------------------------------------------------------------------------ masks
def _mask_value(mask):
    """A mask as a constant array, or as the Tensor itself when it is a float mask that
    requires grad (then the scores' gradient flows into it)."""
    if mask is None:
        return None
    if isinstance(mask, Tensor):
        return mask if mask.requires_grad else mask._array
    return np.asarray(mask)


def additive_mask(mask, dtype, name: str, what: str, true_means_keep: bool):
    """A mask as the float bias added to the scores: bool masks become 0 / -inf (which
    meaning True has depends on the caller), float masks are used as they are."""
    m = _mask_value(mask)
    if m is None:
        return None
    if m.dtype == np.bool_:
        blocked = ~m if true_means_keep else m
        return np.where(blocked, -np.inf, 0.0).astype(dtype)
    if m.dtype.kind != "f":
        raise TypeError(f"{name}: {what} must be a bool or floating-point mask, got dtype "
                        f"{m.dtype}")
    return m if isinstance(m, Tensor) else m.astype(dtype, copy=False)


def _add_masks(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def causal_bias(target_len: int, source_len: int, dtype) -> np.ndarray:
    """(L, S) of 0 where query i may see key j (j <= i), -inf above the diagonal."""
    return np.triu(np.full((target_len, source_len), -np.inf, dtype=dtype), 1)


def attend(q: Tensor, k: Tensor, v: Tensor, bias, dropout_p: float, scale: float,
           empty_rows: str) -> tuple[Tensor, Tensor]:
    """(output, weights) of attention: weights = softmax(q k^T scale + bias) over the keys,
    output = dropout(weights) v. ``empty_rows``: what a query whose every key is masked
    gets, "zero" (PyTorch's scaled_dot_product_attention) or "nan" (the plain softmax)."""
    scores = ops.matmul(q * scale, k.mT)
    keep = None
    if bias is not None:
        if empty_rows == "zero":
            values = bias._array if isinstance(bias, Tensor) else bias
            dead = np.isneginf(values).all(axis=-1, keepdims=True)
            if dead.any():
                keep = (~dead).astype(scores.dtype)
                bias = ops.where(dead, 0.0, bias) if isinstance(bias, Tensor) \
                    else np.where(dead, 0.0, bias).astype(bias.dtype)
        scores = scores + bias
    weights = ops.softmax(scores, -1)
    if keep is not None:
        weights = weights * keep
    dropped = F.dropout(weights, dropout_p, True) if dropout_p > 0 else weights
    return ops.matmul(dropped, v), weights


# ------------------------------------------------------- scaled dot-product attention
def _sdpa_samples(s):
    q, k, v = s.real(2, 2, 3, 4), s.real(2, 2, 5, 4), s.real(2, 2, 5, 3)
    keep = s.bools(3, 5)
    keep[:, 0] = True
    return [S(q, k, v), S(s.real(2, 4, 3), s.real(2, 4, 3), s.real(2, 4, 2), is_causal=True),
            S(q, k, v, attn_mask=keep), S(q, k, v, Const(s.real(3, 5)), scale=0.3),
            S(q, k, v, attn_mask=np.array([[True] * 5, [False] * 5, [True] * 5])),
            S(s.real(1, 4, 2, 3), s.real(1, 2, 4, 3), s.real(1, 2, 4, 2), enable_gqa=True)]


@op(**_F, samples=_sdpa_samples)
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False) -> Tensor:
    """softmax(query key^T * scale + mask) value over (..., L, E) queries, (..., S, E) keys
    and (..., S, Ev) values; scale defaults to 1/sqrt(E).

    ``attn_mask``: bool (True: may attend) or float (added to the scores), broadcastable to
    (..., L, S). ``is_causal``: query i sees keys 0..i (top-left aligned, no attn_mask with
    it). ``dropout_p``: dropout on the attention weights (always applied when > 0, as in
    PyTorch: pass 0.0 in evaluation). ``enable_gqa``: grouped-query attention, the key/value
    heads (dim -3) shared by consecutive groups of query heads.

    Example:
        >>> q = k = v = cr.randn(2, 4, 10, 16)        # batch, heads, length, head size
        >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
        (2, 4, 10, 16)
    """
    name = "scaled_dot_product_attention"
    for what, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim < 2:
            raise ShapeError(f"{name}: {what} must have at least 2 dims (..., length, "
                             f"features), got shape {t.shape}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{name}: query, key and value must have the same dtype, got "
                        f"{query.dtype}, {key.dtype} and {value.dtype}")
    if query.dtype.kind != "f":
        raise TypeError(f"{name}: expected floating-point query, key and value, got {query.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise ShapeError(f"{name}: query (shape {query.shape}) and key (shape {key.shape}) "
                         f"must have the same feature size (last dim)")
    if key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"{name}: key (shape {key.shape}) and value (shape {value.shape}) "
                         f"must have the same length (dim -2)")
    if enable_gqa:
        key, value = _shared_heads(name, query, key), _shared_heads(name, query, value)
    target_len, source_len = query.shape[-2], key.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{name}: explicit attn_mask should not be set when is_causal=True")
        bias = causal_bias(target_len, source_len, query.dtype)
    else:
        bias = additive_mask(attn_mask, query.dtype, name, "attn_mask", true_means_keep=True)
    if bias is not None:
        try:
            np.broadcast_shapes(bias.shape, query.shape[:-2] + (target_len, source_len))
        except ValueError:
            raise ShapeError(f"{name}: attn_mask of shape {tuple(bias.shape)} does not "
                             f"broadcast to the scores' shape "
                             f"{query.shape[:-2] + (target_len, source_len)}") from None
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    out, _ = attend(query, key, value, bias, dropout_p, scale, empty_rows="zero")
    return out


def _shared_heads(name: str, query: Tensor, t: Tensor) -> Tensor:
    """Key or value heads (dim -3) repeated so each group of query heads reads its own
    (PyTorch's repeat_interleave along the head dim)."""
    if query.ndim < 3 or t.ndim < 3 or query.shape[-3] % t.shape[-3]:
        raise ShapeError(f"{name}: with enable_gqa the query heads (dim -3 of shape "
                         f"{query.shape}) must be a multiple of the key/value heads (shape "
                         f"{t.shape})")
    groups = query.shape[-3] // t.shape[-3]
    if groups == 1:
        return t
    lead, heads = t.shape[:-3], t.shape[-3]
    expanded = t.unsqueeze(-3).expand(lead + (heads, groups) + t.shape[-2:])
    return expanded.reshape(lead + (heads * groups,) + t.shape[-2:])


# -------------------------------------------------------------- multi-head attention
def _mha_samples(s):
    # Small: the generated gradgradcheck perturbs every input element, weights included.
    def packed(e, **extra):
        return dict(in_proj_weight=s.real(3 * e, e), in_proj_bias=s.real(3 * e),
                    bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
                    out_proj_weight=s.real(e, e), out_proj_bias=s.real(e), **extra)
    pad = np.array([[False, False, False], [False, True, True]])
    return [
        S(s.real(2, 1, 4), s.real(2, 1, 4), s.real(2, 1, 4), 4, 2, **packed(4)),
        S(s.real(2, 2, 2), s.real(3, 2, 2), s.real(3, 2, 2), 2, 2,
          **packed(2, key_padding_mask=pad, average_attn_weights=False)),
        S(s.real(2, 2), s.real(3, 2), s.real(3, 2), 2, 2,
          **packed(2, attn_mask=Const(s.real(2, 3)))),
        S(s.real(2, 1, 2), s.real(3, 1, 3), s.real(3, 1, 1), 2, 2,
          None, s.real(6), s.real(1, 1, 2), s.real(1, 1, 2), True, 0.0,
          s.real(2, 2), None, use_separate_proj_weight=True, q_proj_weight=s.real(2, 2),
          k_proj_weight=s.real(2, 3), v_proj_weight=s.real(2, 1),
          attn_mask=np.triu(np.ones((2, 3), dtype=bool), 2)),
    ]


def _projections(query, key, value, in_proj_weight, in_proj_bias, separate, q_w, k_w, v_w):
    """q, k, v from the packed (3E, E) weight or the three separate ones; self-attention
    (query is key is value) takes one product for all three, as PyTorch does."""
    e = query.shape[-1]
    b = [None] * 3 if in_proj_bias is None else ops.chunk(in_proj_bias, 3)
    if separate:
        return (F.linear(query, q_w, b[0]), F.linear(key, k_w, b[1]),
                F.linear(value, v_w, b[2]))
    if in_proj_weight is None:
        raise ValueError("multi_head_attention_forward: in_proj_weight is None but "
                         "use_separate_proj_weight is False")
    if query is key and key is value:
        return ops.chunk(F.linear(query, in_proj_weight, in_proj_bias), 3, -1)
    w = ops.chunk(in_proj_weight, 3)
    if key is value:
        k, v = ops.chunk(F.linear(key, in_proj_weight[e:], None if in_proj_bias is None
                                  else in_proj_bias[e:]), 2, -1)
        return F.linear(query, w[0], b[0]), k, v
    return F.linear(query, w[0], b[0]), F.linear(key, w[1], b[1]), F.linear(value, w[2], b[2])


@op(**_F, samples=_mha_samples)
def multi_head_attention_forward(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float,
        out_proj_weight: Tensor, out_proj_bias, training: bool = True, key_padding_mask=None,
        need_weights: bool = True, attn_mask=None, use_separate_proj_weight: bool = False,
        q_proj_weight=None, k_proj_weight=None, v_proj_weight=None, static_k=None,
        static_v=None, average_attn_weights: bool = True, is_causal: bool = False):
    """Multi-head attention with PyTorch's arguments and layout: query (L, N, E), key
    (S, N, kdim), value (S, N, vdim), or unbatched (L, E) ... Returns ``(output (L, N, E),
    weights)``, weights (N, L, S) averaged over heads, (N, heads, L, S) with
    ``average_attn_weights=False``, or None when ``need_weights`` is False.

    Masks (bool: True = may not attend; float: added to the scores): ``key_padding_mask``
    (N, S), ``attn_mask`` (L, S) or (N * heads, L, S). ``is_causal`` is a hint that
    attn_mask is the causal mask (which must be given). ``bias_k``/``bias_v`` (1, 1, E)
    append one learned key and value; ``add_zero_attn`` appends a zero key and value;
    ``static_k``/``static_v`` (N * heads, S, E / heads) replace the projected keys/values.

    Example:
        >>> x = cr.randn(5, 2, 8)
        >>> w, b = cr.randn(24, 8), cr.zeros(24)
        >>> out, weights = F.multi_head_attention_forward(
        ...     x, x, x, 8, 2, w, b, None, None, False, 0.0, cr.randn(8, 8), None)
        >>> out.shape, weights.shape
        ((5, 2, 8), (2, 5, 5))
    """
    name = "multi_head_attention_forward"
    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ShapeError(f"{name}: query, key and value must all be 3-D (length, batch, "
                         f"features) or all 2-D (unbatched), got shapes {query.shape}, "
                         f"{key.shape} and {value.shape}")
    if not batched:
        query, key, value = (t if t is None else t.unsqueeze(1) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = _mask_value(key_padding_mask)[None]
    target_len, bsz, embed_dim = query.shape
    if embed_dim != embed_dim_to_check:
        raise ShapeError(f"{name}: expected query with {embed_dim_to_check} features, got "
                         f"shape {query.shape}")
    if embed_dim % num_heads:
        raise ValueError(f"{name}: embed_dim {embed_dim} is not divisible by num_heads "
                         f"{num_heads}")
    head_dim = embed_dim // num_heads
    if key.shape[:2] != value.shape[:2] or (not use_separate_proj_weight and key.shape != value.shape):
        raise ShapeError(f"{name}: key (shape {key.shape}) and value (shape {value.shape}) "
                         f"do not match")
    if key.shape[1] != bsz:
        raise ShapeError(f"{name}: query (shape {query.shape}) and key (shape {key.shape}) "
                         f"have different batch sizes (dim 1)")
    if is_causal and attn_mask is None:
        raise ValueError(f"{name}: need attn_mask if specifying the is_causal hint; "
                         f"Transformer.generate_square_subsequent_mask makes the causal one")
    dtype = query.dtype
    mask = additive_mask(attn_mask, dtype, name, "attn_mask", true_means_keep=False)
    if mask is not None:
        if mask.ndim == 2:
            if tuple(mask.shape) != (target_len, key.shape[0]):
                raise ShapeError(f"{name}: the 2-D attn_mask should be of size "
                                 f"{(target_len, key.shape[0])}, got {tuple(mask.shape)}")
            mask = mask[None]
        elif mask.ndim != 3 or tuple(mask.shape) != (bsz * num_heads, target_len, key.shape[0]):
            raise ShapeError(f"{name}: the attn_mask should be of size "
                             f"{(target_len, key.shape[0])} or "
                             f"{(bsz * num_heads, target_len, key.shape[0])}, got "
                             f"{tuple(mask.shape)}")
    padding = additive_mask(key_padding_mask, dtype, name, "key_padding_mask",
                            true_means_keep=False)

    q, k, v = _projections(query, key, value, in_proj_weight, in_proj_bias,
                           use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight)
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise ValueError(f"{name}: bias_k/bias_v cannot be added to static keys/values")
        k = ops.cat([k, bias_k.expand((1, bsz, embed_dim))], 0)
        v = ops.cat([v, bias_v.expand((1, bsz, embed_dim))], 0)
        mask, padding = _pad_key(mask), _pad_key(padding)
    elif (bias_k is None) != (bias_v is None):
        raise ValueError(f"{name}: give both bias_k and bias_v, or neither")

    # (length, batch, E) -> (batch * heads, length, head_dim): PyTorch's head layout.
    q = q.reshape((target_len, bsz * num_heads, head_dim)).transpose(0, 1)
    k = _heads(name, "static_k", static_k, k, bsz * num_heads, head_dim)
    v = _heads(name, "static_v", static_v, v, bsz * num_heads, head_dim)
    if add_zero_attn:
        zeros = np.zeros((bsz * num_heads, 1, head_dim), dtype=dtype)
        k, v = ops.cat([k, zeros], 1), ops.cat([v, zeros], 1)
        mask, padding = _pad_key(mask), _pad_key(padding)
    source_len = k.shape[1]
    if padding is not None:
        if tuple(padding.shape) != (bsz, source_len):
            raise ShapeError(f"{name}: expected key_padding_mask of shape {(bsz, source_len)} "
                             f"(batch, source length), got {tuple(padding.shape)}")
        per_head = padding.reshape((bsz, 1, 1, source_len))
        per_head = (ops.expand(per_head, (bsz, num_heads, 1, source_len)) if isinstance(per_head, Tensor)
                    else np.broadcast_to(per_head, (bsz, num_heads, 1, source_len)))
        mask = _add_masks(mask, per_head.reshape((bsz * num_heads, 1, source_len)))
    if not training:
        dropout_p = 0.0
    out, weights = attend(q, k, v, mask, dropout_p, 1.0 / math.sqrt(head_dim),
                          empty_rows="nan" if need_weights else "zero")
    out = out.transpose(0, 1).reshape((target_len * bsz, embed_dim))
    out = F.linear(out, out_proj_weight, out_proj_bias).reshape((target_len, bsz, embed_dim))
    if need_weights:
        weights = weights.reshape((bsz, num_heads, target_len, source_len))
        if average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            weights = weights.squeeze(0)
    else:
        weights = None
    return (out if batched else out.squeeze(1)), weights


def _pad_key(mask):
    """A mask with one more key column, which every query may attend (the appended
    bias_k or zero key)."""
    if mask is None:
        return None
    if isinstance(mask, Tensor):
        return ops.pad(mask, (0, 1))
    return np.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, 1)])


def _heads(name: str, what: str, static, t: Tensor, rows: int, head_dim: int) -> Tensor:
    """Projected keys/values (S, N, E) as (N * heads, S, head_dim), or the static ones."""
    if static is None:
        return t.reshape((t.shape[0], rows, head_dim)).transpose(0, 1)
    if static.shape[0] != rows or static.shape[2] != head_dim:
        raise ShapeError(f"{name}: expected {what} of shape ({rows}, S, {head_dim}) "
                         f"(batch * heads, length, head_dim), got {tuple(static.shape)}")
    return static
