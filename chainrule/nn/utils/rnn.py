"""Batches of sequences of different lengths: padding and PyTorch-style packing.

``pad_sequence`` stacks sequences into one zero-padded (T, B, *) tensor. A
:class:`PackedSequence` stores only the real steps, time-major, longest sequences first
(``data`` of shape (sum of lengths, *) and ``batch_sizes[t]`` = how many sequences reach
step t), exactly as ``torch.nn.utils.rnn`` does, so the recurrent layers can tell where each
sequence ends. Every conversion is one differentiable gather, so gradients flow through.

    >>> seqs = [cr.randn(5, 3), cr.randn(2, 3), cr.randn(4, 3)]
    >>> padded = pad_sequence(seqs)                              # (5, 3, 3)
    >>> packed = pack_padded_sequence(padded, [5, 2, 4], enforce_sorted=False)
    >>> out, h_n = cr.nn.GRU(3, 8)(packed)                       # out is a PackedSequence
    >>> out, lengths = pad_packed_sequence(out)                  # (5, 3, 8), [5, 2, 4]
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from chainrule import ops
from chainrule.tensor import Tensor

__all__ = ["PackedSequence", "pad_sequence", "unpad_sequence", "pack_padded_sequence",
           "pad_packed_sequence", "pack_sequence", "unpack_sequence"]


class PackedSequence(NamedTuple):
    """Real steps of a batch of sequences, time-major and longest first.

    ``data`` (sum(lengths), *), ``batch_sizes`` (int64, one per time step),
    ``sorted_indices`` (batch order used, or None when the input was already sorted) and
    ``unsorted_indices`` (its inverse)."""
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    @property
    def is_cuda(self) -> bool:
        return False

    def lengths(self) -> np.ndarray:
        """Each sequence's length, in the original batch order."""
        bs = self.batch_sizes._array
        lengths = (bs[:, None] > np.arange(bs[0])[None, :]).sum(axis=0)
        if self.unsorted_indices is not None:
            lengths = lengths[self.unsorted_indices._array]
        return lengths.astype(np.int64)


def _as_tensor(a) -> Tensor:
    return a if isinstance(a, Tensor) else Tensor(np.asarray(a))


def _lengths_array(name: str, lengths, batch: int, steps: int) -> np.ndarray:
    arr = np.asarray(lengths._array if isinstance(lengths, Tensor) else lengths)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{name}: lengths must be a 1-D list of ints, got {lengths!r}")
    if arr.shape[0] != batch:
        raise ValueError(f"{name}: got {arr.shape[0]} lengths for a batch of {batch} sequences")
    if arr.size and arr.min() < 1:
        raise ValueError(f"{name}: every sequence needs at least one step, got lengths {arr.tolist()}")
    if arr.size and arr.max() > steps:
        raise ValueError(f"{name}: a length of {arr.max()} exceeds the padded length {steps}")
    return arr.astype(np.int64)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences of shape (L_i, *) into (T, B, *) (or (B, T, *) with ``batch_first``),
    T = max L_i, filling with ``padding_value`` after each sequence (before it with
    ``padding_side='left'``).

    Example:
        >>> pad_sequence([cr.ones(3, 2), cr.ones(1, 2)]).shape
        (3, 2, 2)
    """
    seqs = [_as_tensor(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequence: expected a non-empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got {padding_side!r}")
    trailing = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.ndim == 0 or s.shape[1:] != trailing:
            raise ValueError(f"pad_sequence: sequence {i} has shape {s.shape}; every sequence "
                             f"must be (length, {', '.join(map(str, trailing))})")
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        extra = longest - s.shape[0]
        if extra:
            widths = (0, 0) * (s.ndim - 1) + ((0, extra) if padding_side == "right" else (extra, 0))
            s = ops.pad(s, widths, value=padding_value)
        padded.append(s)
    return ops.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """The inverse of :func:`pad_sequence`: a list of the B sequences, each cut to its length.

    Example:
        >>> [s.shape for s in unpad_sequence(cr.zeros(4, 2, 3), [4, 2])]
        [(4, 3), (2, 3)]
    """
    x = padded_sequences if not batch_first else padded_sequences.transpose(0, 1)
    lens = _lengths_array("unpad_sequence", lengths, x.shape[1], x.shape[0])
    return [x[:int(n), i] for i, n in enumerate(lens)]


def _pack(x: Tensor, lengths: np.ndarray, order: np.ndarray) -> tuple[Tensor, np.ndarray]:
    """Gather the real steps of time-major ``x`` (T, B, *) in the given batch order."""
    sorted_lengths = lengths[order]
    steps = int(sorted_lengths.max())
    real = np.arange(steps)[:, None] < sorted_lengths[None, :]      # (T, B) in sorted order
    t_idx, j_idx = np.nonzero(real)                                  # time-major, then by rank
    return x[t_idx, order[j_idx]], real.sum(axis=1).astype(np.int64)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *)) whose sequence b has ``lengths[b]`` real
    steps. With ``enforce_sorted`` (the default, as in PyTorch) the lengths must decrease;
    pass ``enforce_sorted=False`` to let it sort (and remember the order).

    Example:
        >>> packed = pack_padded_sequence(cr.randn(4, 2, 3), [4, 2])
        >>> packed.batch_sizes.tolist()
        [2, 2, 1, 1]
    """
    x = _as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected (T, B, *) input, got shape {x.shape}")
    if batch_first:
        x = x.transpose(0, 1)
    lens = _lengths_array("pack_padded_sequence", lengths, x.shape[1], x.shape[0])
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise ValueError(f"pack_padded_sequence: lengths {lens.tolist()} must be sorted in "
                             "decreasing order when enforce_sorted=True; pass "
                             "enforce_sorted=False to sort them here")
        order = np.arange(lens.shape[0])
        sorted_indices = unsorted_indices = None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices = Tensor(order.astype(np.int64))
        unsorted_indices = Tensor(np.argsort(order).astype(np.int64))
    data, batch_sizes = _pack(x, lens, order)
    return PackedSequence(data, Tensor(batch_sizes), sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None
                        ) -> tuple[Tensor, Tensor]:
    """Unpack to a padded (T, B, *) tensor (or (B, T, *)) in the original batch order, plus
    the lengths (int64). ``total_length`` pads T further (it must be at least the longest).

    Example:
        >>> padded, lengths = pad_packed_sequence(packed)
    """
    data = sequence.data
    bs = sequence.batch_sizes._array.astype(np.int64)
    steps, batch = bs.shape[0], int(bs[0])
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is less than "
                             f"the longest sequence ({steps})")
        steps_out = int(total_length)
    else:
        steps_out = steps
    real = np.arange(batch)[None, :] < bs[:, None]                  # (T, B) in sorted order
    rows = np.full((steps_out, batch), data.shape[0], dtype=np.int64)   # the padding row
    rows[:steps][real] = np.arange(data.shape[0])
    lengths = real.sum(axis=0).astype(np.int64)
    if sequence.unsorted_indices is not None:
        rows = rows[:, sequence.unsorted_indices._array]
        lengths = lengths[sequence.unsorted_indices._array]
    fill = Tensor(np.full((1,) + data.shape[1:], padding_value, dtype=data.dtype))
    padded = ops.cat([data, fill], 0)[rows]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, Tensor(lengths)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_i, *) sequences (``pad_sequence`` then ``pack_padded_sequence``).

    Example:
        >>> pack_sequence([cr.ones(3, 2), cr.ones(1, 2)]).data.shape
        (4, 2)
    """
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences a :class:`PackedSequence` holds, in the original order.

    Example:
        >>> [s.shape for s in unpack_sequence(pack_sequence([cr.ones(3, 2), cr.ones(1, 2)]))]
        [(3, 2), (1, 2)]
    """
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
