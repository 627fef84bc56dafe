"""``cr.save`` / ``cr.load``: nested training state in one safetensors file, without pickle.

File format (version 1): a standard safetensors file. Its arrays are the NumPy arrays and
Tensors of the state, named by their path (``model.fc.weight``); its ``__metadata__`` holds
``{"format": "chainrule", "version": "1", "writer": "chainrule X.Y.Z", "tree": <JSON>}``
where the tree (see :mod:`chainrule.io._tree`) rebuilds the dicts, lists, tuples and Python
values around the arrays. Nothing in the file is ever executed, so loading a stranger's file
is safe.

Writes are atomic: the file is written under a temporary name in the target's folder,
flushed to disk, then renamed over the target, so a crash mid-save leaves the previous file
intact (and possibly a stray ``.NAME.*.tmp`` file beside it).
"""
from __future__ import annotations

import json
import os
import secrets
import struct
from typing import Any

from chainrule._version import __version__
from chainrule.io._tree import TreeError, decode, encode

FORMAT = "chainrule"
VERSION = "1"
_MAX_HEADER = 100_000_000  # the limit safetensors itself enforces
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A file that is not a readable chainrule checkpoint (corrupt, truncated or foreign)."""


def _safetensors():
    """Import safetensors on first use: it is an optional extra."""
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as err:
        raise ImportError('cr.save / cr.load need the safetensors package: '
                          'pip install "chainrule[io]"') from err
    return safetensors


def _as_path(path: Any, fn: str) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got "
                        f"{type(path).__name__}") from None


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
    safetensors = _safetensors()
    path = _as_path(path, "cr.save")
    tree, arrays = encode(obj)
    metadata = {"format": FORMAT, "version": VERSION, "writer": f"chainrule {__version__}",
                "tree": json.dumps(tree, allow_nan=False, separators=(",", ":"))}
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cr.save: folder '{folder}' for '{path}' does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cr.save: '{path}' is a folder, not a file name")
    # safetensors builds the file in memory; we write it ourselves to control every step
    write_atomically(path, safetensors.numpy.save(arrays, metadata=metadata))


def write_atomically(path: str | os.PathLike, payload: bytes) -> None:
    """Replace the file at ``path`` with ``payload`` in one step: a reader (or a crash) sees
    the old file or the new one, never a part. The bytes go to a uniquely named temporary
    file in the same folder, are flushed to disk, and the file is renamed over ``path``.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "config.json")
        >>> write_atomically(path, b'{"epochs": 3}\\n')
        >>> open(path).read()
        '{"epochs": 3}\\n'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = _create_temp_file(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        # also on KeyboardInterrupt: never leave our half-written file behind
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def _create_temp_file(folder: str, name: str) -> tuple[int, str]:
    """Open a new, uniquely named file next to the target (same file system, so the final
    rename is atomic); mode 0o666 lets the umask apply as for any new file (mkstemp's 0o600
    would make checkpoints private)."""
    while True:
        temp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable. Folders cannot be opened on Windows: skip there."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- loading
def load(path: str | os.PathLike) -> Any:
    """Load what :func:`save` wrote to ``path``.

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` (a
    ``ValueError``) naming the path and the problem for a corrupt, truncated or foreign file.

    Example:
        >>> import chainrule as cr, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "state.safetensors")
        >>> cr.save({"epoch": 2, "history": [0.5, 0.25]}, path)
        >>> cr.load(path)
        {'epoch': 2, 'history': [0.5, 0.25]}
    """
    safetensors = _safetensors()
    path = _as_path(path, "cr.load")
    if not os.path.exists(path):
        raise FileNotFoundError(f"cr.load: no such file: '{path}'")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cr.load: '{path}' is a folder, not a checkpoint file")
    header = _read_header(path)
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


def _fail(path: str, problem: str) -> CheckpointError:
    return CheckpointError(f"cr.load: '{path}' {problem}")


def _read_header(path: str) -> dict:
    """Read and check the safetensors header ourselves, to say precisely what is wrong:
    an 8-byte little-endian header length, that many bytes of JSON, then the array data,
    which must end exactly where the file ends."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if size == 0:
            raise _fail(path, "is empty (0 bytes): not a chainrule checkpoint, or a save "
                              "that never wrote")
        if head.startswith(_ZIP_MAGIC):
            raise _fail(path, "is a zip archive (e.g. from torch.save or np.savez), not a "
                              "chainrule checkpoint")
        if size < 8:
            raise _fail(path, f"is only {size} bytes long: truncated, or not a chainrule "
                              f"checkpoint")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > size - 8 or header_len > _MAX_HEADER:
            raise _fail(path, f"is not a complete safetensors file: its first 8 bytes give a "
                              f"header length of {header_len}, but only {size - 8} bytes follow "
                              f"(truncated, or not a chainrule checkpoint)")
        raw = f.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _fail(path, "has a header that is not valid JSON: the file is corrupt, or not "
                          "a chainrule checkpoint") from None
    if not isinstance(header, dict):
        raise _fail(path, "has a header that is not a JSON object: corrupt, or not a "
                          "chainrule checkpoint")
    data_len = size - 8 - header_len
    ends = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise _fail(path, f"is corrupt: array '{name}' has bad data offsets {offsets!r}")
        ends.append(offsets[1])
    needed = max(ends, default=0)
    if needed > data_len:
        raise _fail(path, f"is truncated: its arrays need {needed} bytes of data but only "
                          f"{data_len} follow the header")
    if needed < data_len:
        raise _fail(path, f"is corrupt: {data_len - needed} unexpected bytes follow the "
                          f"array data")
    return header


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
    try:
        return json.loads(metadata.get("tree", ""), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise _fail(path, "is corrupt: its structure (the 'tree' metadata) is not valid "
                          "JSON") from None


def _reject_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")
