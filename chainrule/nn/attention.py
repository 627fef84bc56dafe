"""MultiheadAttention, with PyTorch's arguments, parameter names, shapes and initialisation,
so state dicts convert one to one:

* ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,): the query, key and value
  projections stacked (or, when ``kdim``/``vdim`` differ from E, ``q_proj_weight`` (E, E),
  ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim), and ``in_proj_weight`` None);
* ``out_proj`` a Linear(E, E); ``bias_k``/``bias_v`` (1, 1, E) with ``add_bias_kv``.

The computation is :func:`chainrule.nn.functional.multi_head_attention_forward`.
"""
from __future__ import annotations

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn._factory import param_dtype
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


class MultiheadAttention(Module):
    """Attention from ``num_heads`` heads of size embed_dim / num_heads, concatenated and
    projected: ``out = concat_h(softmax(q_h k_h^T / sqrt(d)) v_h) W_o^T + b_o``.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` takes (L, N, E) queries and (S, N, kdim) /
    (S, N, vdim) keys and values ((N, L, E) ... with ``batch_first``; unbatched (L, E) ...)
    and returns ``(output, weights)``: weights averaged over heads (N, L, S), per head
    (N, heads, L, S) with ``average_attn_weights=False``, or None with ``need_weights=False``.
    Bool masks mark with True the keys a query may *not* attend; float masks are added to
    the scores. ``dropout`` drops attention weights in training mode.

    Example:
        >>> mha = cr.nn.MultiheadAttention(16, 4, batch_first=True)
        >>> x = cr.randn(2, 5, 16)
        >>> out, weights = mha(x, x, x)
        >>> out.shape, weights.shape
        ((2, 5, 16), (2, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than "
                             f"0, got embed_dim={embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = dropout, batch_first
        self.head_dim = embed_dim // num_heads
        dt = param_dtype(device, dtype)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype=dt))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(np.empty((embed_dim, embed_dim), dtype=dt))
            self.k_proj_weight = Parameter(np.empty((embed_dim, self.kdim), dtype=dt))
            self.v_proj_weight = Parameter(np.empty((embed_dim, self.vdim), dtype=dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.empty(3 * embed_dim, dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dt)
        if add_bias_kv:
            self.bias_k = Parameter(np.empty((1, 1, embed_dim), dtype=dt))
            self.bias_v = Parameter(np.empty((1, 1, embed_dim), dtype=dt))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's initialisation: Xavier-uniform projections, zero biases (the output
        projection's weight keeps Linear's default), Xavier-normal bias_k/bias_v."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask=None,
                need_weights: bool = True, attn_mask=None, average_attn_weights: bool = True,
                is_causal: bool = False):
        batched = query.ndim == 3
        if self.batch_first and batched:
            # Transpose each distinct tensor once, so self-attention stays recognisable
            # (query is key is value) and takes one projection product.
            swapped = {}
            query, key, value = (swapped.setdefault(id(t), t.transpose(0, 1))
                                 for t in (query, key, value))
        separate = not self._qkv_same_embed_dim
        out, weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=separate, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal)
        if self.batch_first and batched:
            out = out.transpose(0, 1)
        return out, weights

    def forward_macs(self, inputs: tuple, output) -> int:
        """The projections (queries: L N E E, keys: S N E kdim, values: S N E vdim, output:
        L N E E) and the two attention products (N L S' E each, S' the keys attended,
        bias_k and the zero key included)."""
        out = output[0]
        query = inputs[0]
        key = inputs[1] if len(inputs) > 1 else query
        if out.ndim == 3:
            seq_dim = 1 if self.batch_first else 0
            target, batch = out.shape[seq_dim], out.shape[1 - seq_dim]
            source = key.shape[seq_dim]
        else:
            target, batch, source = out.shape[0], 1, key.shape[0]
        e = self.embed_dim
        attended = source + (self.bias_k is not None) + bool(self.add_zero_attn)
        projections = batch * (target * e * e * 2 + source * e * (self.kdim + self.vdim))
        return projections + 2 * batch * target * attended * e
