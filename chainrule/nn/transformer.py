"""Transformer, TransformerEncoder/Decoder and their layers, with PyTorch's arguments,
submodule names (so state dicts convert one to one), residual and normalisation order
(post-norm by default, pre-norm with ``norm_first``) and masks.

Masks, as in PyTorch: bool True = may *not* attend, floats are added to the attention
scores; ``*_mask`` are (L, S) or (N * nhead, L, S), ``*_key_padding_mask`` (N, S).
``is_causal`` flags are hints that the given mask is the causal one (it must still be
given: :meth:`Transformer.generate_square_subsequent_mask` makes it); they do not change the
result.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from chainrule.backend import ShapeError
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn._factory import param_dtype
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.container import ModuleList
from chainrule.nn.dropout import Dropout
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.normalization import LayerNorm
from chainrule.tensor import Tensor

__all__ = ["Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
           "TransformerDecoderLayer"]


def _activation(activation: str | Callable) -> Callable:
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"activation should be 'relu', 'gelu' or a callable, not {activation!r}")


class _Layer(Module):
    """What the encoder and decoder layers share: the feed-forward block and the layer
    description; they count no multiply-adds themselves (their sublayers do)."""

    def _build(self, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
               batch_first, norm_first, bias, dt, norms: int) -> None:
        """The sublayers, in PyTorch's order; the decoder's (3 norms) has cross-attention."""
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dt)
        if norms == 3:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first, dtype=dt)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dt)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dt)
        self.norm_first = norm_first
        for k in range(1, norms + 1):
            setattr(self, f"norm{k}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt))
        for k in range(1, norms + 1):
            setattr(self, f"dropout{k}", Dropout(dropout))
        self.activation = _activation(activation)

    def _ff_block(self, x: Tensor, last_dropout: Dropout) -> Tensor:
        return last_dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # the attention, linear and norm layers it holds count their own


class TransformerEncoderLayer(_Layer):
    """Self-attention then a feed-forward block (Linear -> activation -> Linear), each with
    a residual connection, dropout and LayerNorm: ``x = norm1(x + sa(x))``,
    ``x = norm2(x + ff(x))``, or with ``norm_first`` ``x = x + sa(norm1(x))``,
    ``x = x + ff(norm2(x))``. Input (S, N, E), or (N, S, E) with ``batch_first``.

    Example:
        >>> layer = cr.nn.TransformerEncoderLayer(d_model=32, nhead=4, batch_first=True)
        >>> layer(cr.randn(2, 10, 32)).shape
        (2, 10, 32)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = F.relu,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        dt = param_dtype(device, dtype)
        self._build(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                    batch_first, norm_first, bias, dt, norms=2)

    def forward(self, src: Tensor, src_mask=None, src_key_padding_mask=None,
                is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x), self.dropout2)
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x, self.dropout2))


class TransformerDecoderLayer(_Layer):
    """Self-attention over the target, attention to the encoder's output (``memory``), then
    the feed-forward block, each with a residual connection, dropout and LayerNorm (post-
    or, with ``norm_first``, pre-norm). Input (T, N, E), or (N, T, E) with ``batch_first``.

    Example:
        >>> layer = cr.nn.TransformerDecoderLayer(d_model=32, nhead=4, batch_first=True)
        >>> layer(cr.randn(2, 7, 32), cr.randn(2, 10, 32)).shape
        (2, 7, 32)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = F.relu,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        dt = param_dtype(device, dtype)
        self._build(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                    batch_first, norm_first, bias, dt, norms=3)

    def _mha_block(self, x: Tensor, memory: Tensor, attn_mask, key_padding_mask,
                   is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, memory, memory, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            return x + self._ff_block(self.norm3(x), self.dropout3)
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                           memory_is_causal))
        return self.norm3(x + self._ff_block(x, self.dropout3))


def _clones(layer: Module, n: int) -> ModuleList:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"num_layers must be a non-negative int, got {n!r}")
    return ModuleList([copy.deepcopy(layer) for _ in range(int(n))])


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (independent weights), then ``norm`` if
    given. ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``.

    Example:
        >>> layer = cr.nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, batch_first=True)
        >>> encoder = cr.nn.TransformerEncoder(layer, num_layers=2)
        >>> mask = cr.nn.Transformer.generate_square_subsequent_mask(10)
        >>> encoder(cr.randn(2, 10, 32), mask=mask, is_causal=True).shape
        (2, 10, 32)
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = int(num_layers)
        self.norm = norm
        # Accepted for PyTorch's signature: nested tensors are PyTorch's inference fast path.
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def forward(self, src: Tensor, mask=None, src_key_padding_mask=None,
                is_causal: bool | None = None) -> Tensor:
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                        is_causal=bool(is_causal))
        return out if self.norm is None else self.norm(out)

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # its layers count their own


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` (independent weights), then ``norm`` if
    given. ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``.

    Example:
        >>> layer = cr.nn.TransformerDecoderLayer(32, 4, dim_feedforward=64)
        >>> decoder = cr.nn.TransformerDecoder(layer, num_layers=2)
        >>> decoder(cr.randn(7, 2, 32), cr.randn(10, 2, 32)).shape
        (7, 2, 32)
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # its layers count their own


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need": ``encoder`` (a
    TransformerEncoder of ``num_encoder_layers`` layers and a final LayerNorm) reads
    ``src``, ``decoder`` (likewise) reads ``tgt`` and the encoder's output. Every weight
    matrix starts Xavier-uniform, as in PyTorch.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)``: src (S, N, E), tgt
    (T, N, E) ((N, S, E), (N, T, E) with ``batch_first``) -> (T, N, E).

    Example:
        >>> model = cr.nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2,
        ...                           num_decoder_layers=2, dim_feedforward=64)
        >>> tgt_mask = cr.nn.Transformer.generate_square_subsequent_mask(7)
        >>> model(cr.randn(10, 2, 32), cr.randn(7, 2, 32), tgt_mask=tgt_mask).shape
        (7, 2, 32)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = F.relu, custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        dt = param_dtype(device, dtype)
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(*layer_args, dtype=dt), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(*layer_args, dtype=dt), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise ShapeError(f"Transformer: the batch sizes of src (shape {src.shape}) and tgt "
                             f"(shape {tgt.shape}) must be equal (dim {batch_dim})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ShapeError(f"Transformer: the feature sizes of src (shape {src.shape}) and "
                             f"tgt (shape {tgt.shape}) must equal d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The causal mask (sz, sz): 0 on and below the diagonal, -inf above (position i
        attends to positions 0..i), in the default float dtype unless ``dtype`` is given.

        Example:
            >>> cr.nn.Transformer.generate_square_subsequent_mask(3)
            tensor([[0., -inf, -inf],
                    [0., 0., -inf],
                    [0., 0., 0.]])
        """
        dt = param_dtype(device, dtype)
        return Tensor(np.triu(np.full((sz, sz), -np.inf, dtype=dt), 1))

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # its encoder and decoder layers count their own
