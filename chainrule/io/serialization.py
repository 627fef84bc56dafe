"""``cr.save`` / ``cr.load``: nested training state in one safetensors file, without pickle.

File format (version 1): a standard safetensors file. Its arrays are the NumPy arrays and
Tensors of the state, named by their path (``model.fc.weight``); its ``__metadata__`` holds
``{"format": "chainrule", "version": "1", "writer": "chainrule X.Y.Z", "tree": <JSON>}``
where the tree (see :mod:`chainrule.io._tree`) rebuilds the dicts, lists, tuples and Python
values around the arrays. Nothing in the file is ever executed, so loading a stranger's file
is safe.

Writes are atomic: the file is written under a temporary name in the target's folder,
flushed to disk, then renamed over the target, so a crash mid-save leaves the previous file
intact (and possibly a stray ``.NAME.<12 hex digits>.tmp`` file beside it, which
``cr.io.remove_stale_temporaries`` clears).

Reading never takes more memory than the file honestly holds: only regular files are
opened (a FIFO or a device is refused before a byte is read), the JSON header is capped at
``MAX_HEADER_BYTES`` before it is read, and each stored array may be referenced once, so
the arrays rebuilt add up to at most the file's size.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Any

from chainrule._version import __version__
from chainrule.io._files import (
    MAX_HEADER_BYTES, CheckpointError, as_path, check_file, check_target, read_header,
    require_safetensors, write_atomically)
from chainrule.io._tree import TreeError, decode, encode

FORMAT = "chainrule"
VERSION = "1"
_KIND = "chainrule checkpoint"


# ---------------------------------------------------------------------------- saving
def save(obj: Any, path: str | os.PathLike) -> None:
    """Save nested state (dicts with str/int keys, lists, tuples, NumPy arrays and scalars,
    Tensors, int, float, str, bool, None) to ``path``, atomically.

    Dtypes and shapes are kept exactly (0-d and empty arrays too); Tensors come back as
    Tensors that do not require grad; ints of any size and nan/inf floats round-trip.

    Example:
        >>> import chainrule as cr, numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
        >>> cr.save({"step": 3, "w": cr.tensor([1.0, 2.0]), "rng": cr.get_rng_state()}, path)
        >>> cr.load(path)["w"]
        tensor([1., 2.])
    """
    safetensors = require_safetensors("cr.save")
    path = as_path(path, "cr.save")
    tree, arrays = encode(obj)
    metadata = {"format": FORMAT, "version": VERSION, "writer": f"chainrule {__version__}",
                "tree": json.dumps(tree, allow_nan=False, separators=(",", ":"))}
    check_target(path, "cr.save")
    # safetensors builds the file in memory; we write it ourselves to control every step
    payload = safetensors.numpy.save(arrays, metadata=metadata)
    (header_len,) = struct.unpack("<Q", payload[:8])
    if header_len > MAX_HEADER_BYTES:  # cr.load would refuse it: never write such a file
        raise ValueError(f"cr.save: the structure of this state takes {header_len:,} bytes of "
                         f"JSON, more than the {MAX_HEADER_BYTES:,} a checkpoint may hold; store "
                         f"long lists of numbers as NumPy arrays")
    write_atomically(path, payload)


# ---------------------------------------------------------------------------- loading
def load(path: str | os.PathLike, map_location=None, *, weights_only: bool | None = None) -> Any:
    """Load what :func:`save` wrote to ``path``.

    ``map_location`` and ``weights_only`` are ``torch.load``'s, accepted so PyTorch code runs
    unchanged: everything loads onto the CPU (``map_location`` may be None, ``"cpu"``, a CPU
    device, or a dict mapping locations to ``"cpu"``), and a chainrule file holds only
    arrays and plain values that are never executed, so it loads the same whether or not
    ``weights_only`` asks for that safety.

    Raises ``FileNotFoundError`` for a missing file, ``PermissionError`` for an unreadable
    one, ``IsADirectoryError`` for a folder, and :class:`CheckpointError` (a ``ValueError``)
    naming the path and the problem for a corrupt, truncated or foreign file and for a FIFO
    or a device (refused before a byte is read).

    Example:
        >>> import chainrule as cr, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "state.safetensors")
        >>> cr.save({"epoch": 2, "history": [0.5, 0.25]}, path)
        >>> cr.load(path)
        {'epoch': 2, 'history': [0.5, 0.25]}
    """
    _check_map_location(map_location)
    if weights_only not in (None, True, False):
        raise TypeError(f"cr.load: weights_only must be True, False or None, got {weights_only!r}")
    safetensors = require_safetensors("cr.load")
    path = as_path(path, "cr.load")
    check_file(path, "cr.load", _KIND)
    header, _ = read_header(path, "cr.load", _KIND)
    tree = _tree_of(header, path)
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            stored = set(f.keys())

            def fetch(name: str):
                if name not in stored:
                    raise KeyError(name)
                return f.get_tensor(name)

            return decode(tree, fetch)
    except TreeError as err:
        raise CheckpointError(f"cr.load: '{path}' is corrupt: {err}") from None
    except RecursionError:
        raise CheckpointError(f"cr.load: '{path}' nests its structure too deeply to "
                              f"rebuild") from None
    except safetensors.SafetensorError as err:
        raise CheckpointError(f"cr.load: '{path}' is corrupt: safetensors cannot read it "
                              f"({err})") from None


def _check_map_location(map_location) -> None:
    """Only the CPU exists here: accept every spelling of it and refuse any other place."""
    if map_location is None:
        return
    if callable(map_location) and not isinstance(map_location, str):
        raise TypeError("cr.load: a function as map_location is not supported: chainrule "
                        "loads every array onto the CPU (pass map_location='cpu' or None)")
    targets = map_location.values() if isinstance(map_location, dict) else [map_location]
    for target in targets:
        if str(target).split(":")[0] != "cpu":
            raise ValueError(f"cr.load: map_location {map_location!r} names a device chainrule "
                             f"does not have; it runs on the CPU (map_location='cpu' or None)")


def _fail(path: str, problem: str) -> CheckpointError:
    return CheckpointError(f"cr.load: '{path}' {problem}")


def _tree_of(header: dict, path: str) -> Any:
    """The JSON tree from the header's metadata, after checking the format marker."""
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise _fail(path, "is a safetensors file without the chainrule marker "
                          "(__metadata__ format='chainrule'), so not written by cr.save; "
                          "read plain safetensors files with safetensors.numpy.load_file")
    version = metadata.get("version")
    if version != VERSION:
        raise _fail(path, f"has chainrule checkpoint format version {version!r}; this "
                          f"chainrule reads version {VERSION!r} (a newer chainrule wrote it?)")
    tree = metadata.get("tree")
    if not isinstance(tree, str):
        raise _fail(path, f"is corrupt: its structure (the 'tree' metadata) should be a string "
                          f"of JSON, but is {type(tree).__name__}")
    try:
        return json.loads(tree, parse_constant=_reject_constant)
    except RecursionError:
        raise _fail(path, "is corrupt: its structure (the 'tree' metadata) is nested too "
                          "deeply to read") from None
    except ValueError:
        raise _fail(path, "is corrupt: its structure (the 'tree' metadata) is not valid "
                          "JSON") from None


def _reject_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")
