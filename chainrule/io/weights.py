"""Weights in and out of PyTorch: state dicts as plain safetensors files.

``save_safetensors(state_dict, path)`` writes the file ``safetensors.torch.save_file`` writes
for the same tensors, byte for byte: the tensors named by their state-dict keys, with their
dtypes, shapes and row-major data, and no metadata unless you give some. So a chainrule
model's weights load into its PyTorch twin::

    cr.io.save_safetensors(model.state_dict(), "model.safetensors")      # chainrule
    torch_model.load_state_dict(safetensors.torch.load_file("model.safetensors"))  # PyTorch

and ``load_safetensors`` reads what ``safetensors.torch.save_file(torch_model.state_dict(),
path)`` wrote, for ``model.load_state_dict``. Any safetensors file reads, whatever its
metadata (PyTorch ignores metadata too; Hugging Face tools write ``{"format": "pt"}``).

NumPy has no bfloat16, so BF16 tensors load as float32: the widening is exact (a bfloat16
is the top half of a float32). The 8-, 6- and 4-bit float types are refused with a message.
"""
from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from chainrule.io._files import (
    CheckpointError, as_path, check_file, check_target, read_header, require_safetensors,
    write_atomically)
from chainrule.io._tree import STORABLE_DTYPES, little_endian
from chainrule.tensor import Tensor

__all__ = ["save_safetensors", "load_safetensors"]

_KIND = "safetensors file"
# safetensors dtype names NumPy can hold, as safetensors.numpy reads them.
_NUMPY_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
    "I32": np.int32, "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32,
    "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_, "C64": np.complex64}


def save_safetensors(state_dict: Mapping[str, Tensor | np.ndarray], path: str | os.PathLike,
                     metadata: Mapping[str, str] | None = None) -> None:
    """Write ``state_dict`` (name -> Tensor or NumPy array) to ``path`` as a safetensors
    file that ``safetensors.torch.load_file`` reads into a PyTorch state dict; atomically.

    ``metadata`` is optional text (str -> str) stored in the header, as in
    ``safetensors.torch.save_file``; Hugging Face tools expect ``{"format": "pt"}``.

    Example:
        >>> import chainrule as cr, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "linear.safetensors")
        >>> cr.io.save_safetensors(cr.nn.Linear(3, 2).state_dict(), path)
        >>> {k: v.shape for k, v in cr.io.load_safetensors(path).items()}
        {'bias': (2,), 'weight': (2, 3)}
    """
    who = "cr.io.save_safetensors"
    safetensors = require_safetensors(who)
    path = as_path(path, who)
    arrays = _arrays_of(state_dict, who)
    text = _checked_metadata(metadata, who)
    check_target(path, who)
    write_atomically(path, safetensors.numpy.save(arrays, metadata=text))


def _arrays_of(state_dict, who: str) -> dict[str, np.ndarray]:
    if hasattr(state_dict, "state_dict") and callable(state_dict.state_dict):
        raise TypeError(f"{who}: expected a state dict (name -> tensor), got a "
                        f"{type(state_dict).__name__}; pass model.state_dict()")
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{who}: expected a state dict (a mapping of name -> tensor), got "
                        f"{type(state_dict).__name__}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"{who}: state dict keys must be str, got {type(name).__name__} "
                            f"key {name!r}")
        if name == "__metadata__":
            raise ValueError(f"{who}: '__metadata__' is reserved by the safetensors format "
                             f"and cannot name a tensor")
        arr = value._array if isinstance(value, Tensor) else value
        if not isinstance(arr, np.ndarray):
            try:  # NumPy scalars, and foreign arrays that convert (a CPU torch tensor)
                arr = np.asarray(arr)
            except (TypeError, ValueError, RuntimeError) as err:
                raise TypeError(f"{who}: the value for {name!r} is a {type(value).__name__}, "
                                f"which cannot be read as an array ({err})") from None
        if arr.dtype.name not in STORABLE_DTYPES:
            raise TypeError(f"{who}: the value for {name!r} has dtype {arr.dtype}, which "
                            f"safetensors cannot store; storable: "
                            f"{', '.join(sorted(STORABLE_DTYPES))}")
        arrays[name] = little_endian(arr)
    return arrays


def _checked_metadata(metadata, who: str) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError(f"{who}: metadata must map str to str (as safetensors stores it), got "
                        f"{metadata!r}")
    return dict(metadata)


def load_safetensors(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read every tensor of a safetensors file into a dict name -> Tensor (no grad), ready
    for ``model.load_state_dict``, in the order their data lies in the file (the order
    ``safetensors.torch.load_file`` returns them in).

    Raises ``FileNotFoundError`` for a missing file and :class:`~chainrule.io.CheckpointError`
    (a ``ValueError``) naming the path and the problem for a corrupt, truncated or foreign
    file, or one holding a dtype NumPy has no type for.

    Example:
        >>> import chainrule as cr, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> cr.io.save_safetensors({"w": cr.ones(2)}, path)
        >>> cr.io.load_safetensors(path)
        {'w': tensor([1., 1.])}
    """
    who = "cr.io.load_safetensors"
    safetensors = require_safetensors(who)
    path = as_path(path, who)
    check_file(path, who, _KIND)
    header, data_start = read_header(path, who, _KIND)
    for name, entry in header.items():
        dtype = entry.get("dtype")
        if name != "__metadata__" and dtype not in _NUMPY_DTYPES and dtype != "BF16":
            raise CheckpointError(
                f"{who}: '{path}' holds tensor '{name}' of dtype {dtype}, which NumPy (and so "
                f"chainrule) has no type for; convert it in PyTorch before saving, e.g. "
                f"{{k: v.float() for k, v in state_dict.items()}}")
    out: dict[str, Tensor] = {}
    try:
        # safe_open checks the rest (dtype sizes against offsets, overlaps) as it opens
        with safetensors.safe_open(path, framework="numpy") as f:
            for name in sorted(f.keys(), key=lambda n: header[n]["data_offsets"]):
                entry = header[name]
                if entry["dtype"] == "BF16":
                    arr = _read_bfloat16(path, data_start + entry["data_offsets"][0],
                                         entry["shape"])
                else:
                    arr = np.array(f.get_tensor(name))  # a writable copy we own
                out[name] = Tensor(arr)
    except safetensors.SafetensorError as err:
        raise CheckpointError(f"{who}: '{path}' is corrupt: safetensors cannot read it "
                              f"({err})") from None
    return out


def _read_bfloat16(path: str, offset: int, shape: list[int]) -> np.ndarray:
    """BF16 values as float32: each is the top 16 bits of the float32 of the same value,
    so shifting its bits up by 16 widens it exactly (NaN and inf included)."""
    count = int(np.prod(shape, dtype=np.int64))
    with open(path, "rb") as f:
        f.seek(offset)
        half = np.frombuffer(f.read(2 * count), dtype="<u2")
    return (half.astype(np.uint32) << 16).view(np.float32).reshape(shape)
