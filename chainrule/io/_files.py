"""The file side shared by every safetensors reader and writer in :mod:`chainrule.io`.

* :func:`require_safetensors` imports the optional package, naming the extra when absent;
* :func:`write_atomically` (public as ``cr.io.write_atomically``, for every file a run
  writes) writes bytes under a temporary name in the target's folder, flushes them to disk,
  then renames over the target, so a crash mid-save leaves the previous file intact (and
  possibly a stray ``.NAME.*.tmp`` file beside it); :func:`check_target` checks the target
  first, so a writer fails before it builds the bytes;
* :func:`read_header` checks a safetensors file's framing itself, to say precisely what is
  wrong with a corrupt, truncated or foreign file (the package's own errors say less). It
  opens only a regular file (a FIFO would block for ever, a device never end) and caps the
  JSON header at :data:`MAX_HEADER_BYTES` before reading it;
* :func:`remove_stale_temporaries` clears the temporary files a killed save left behind.

Every function takes ``who`` (``"cr.load"``) to start its messages and, when reading,
``kind`` (``"chainrule checkpoint"``) to name what the file should have been.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import struct
from typing import Any

from chainrule._safe_open import NotARegularFileError, open_regular

# The JSON header (array table, and for cr.save the tree of the state) is parsed into Python
# objects, which take up to ~30x its size in memory (measured: 8 MiB of nested empty lists
# took 243 MiB), so it is capped well below safetensors' own 100 MB. A header takes about
# 150 bytes per array: 8 MiB holds ~50,000 arrays.
MAX_HEADER_BYTES = 8 * 2 ** 20
_ZIP_MAGIC = b"PK\x03\x04"
# The temporary files of write_atomically: ".NAME.<12 hex digits>.tmp" beside NAME.
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{12}\.tmp")


class CheckpointError(ValueError):
    """A file that cannot be read as what it should be: corrupt, truncated or foreign."""


def require_safetensors(who: str):
    """Import safetensors on first use: it is an optional extra."""
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as err:
        raise ImportError(f'{who} needs the safetensors package: '
                          f'pip install "chainrule[io]"') from err
    return safetensors


def as_path(path: Any, who: str) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{who}: path must be a str or os.PathLike, got "
                        f"{type(path).__name__}") from None


# ---------------------------------------------------------------------------- writing
def check_target(path: str, who: str) -> None:
    """Before building a file's bytes: its folder must exist and the path must not be one."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: folder '{folder}' for '{path}' does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: '{path}' is a folder, not a file name")


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
    try:
        fd, temp = _create_temp_file(folder, os.path.basename(path))
    except OSError as err:
        raise _naming(err, path, len(payload)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException as err:
        # also on KeyboardInterrupt: never leave our half-written file behind
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError):  # a full disk, a quota, a size limit: say which file
            raise _naming(err, path, len(payload)) from None
        raise
    _fsync_folder(folder)


def _naming(err: OSError, path: str, size: int) -> OSError:
    """The same error, naming the file we could not write (not our temporary) and its size:
    "cannot write 52,311 bytes (No space left on device): run/last.ckpt"."""
    reason = err.strerror or str(err)
    return type(err)(err.errno, f"cannot write {size:,} bytes ({reason})", path)


def is_temporary(name: str) -> bool:
    """Whether a file name is one :func:`write_atomically` gives its temporary files."""
    return _TEMP_NAME.fullmatch(name) is not None


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Delete the temporary files that a save killed mid-write (power cut, ``kill -9``) left
    in ``folder`` (``.NAME.<12 hex digits>.tmp``, the names :func:`write_atomically` uses)
    and return their names. Call it only while no other process writes into the folder
    (the command line holds the run folder's lock).

    Example:
        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> open(os.path.join(folder, ".last.ckpt.0123456789ab.tmp"), "wb").close()
        >>> remove_stale_temporaries(folder)
        ['.last.ckpt.0123456789ab.tmp']
    """
    removed = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if is_temporary(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(entry.name)
    return removed


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


# ---------------------------------------------------------------------------- reading
def check_file(path: str, who: str, kind: str) -> None:
    """A missing path or a folder gets the error Python users expect, with the path."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{who}: no such file: '{path}'")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: '{path}' is a folder, not a {kind}")


def read_header(path: str, who: str, kind: str) -> tuple[dict, int]:
    """The safetensors header of ``path`` and the offset where its array data starts.

    Checked here: an 8-byte little-endian header length, that many bytes of JSON holding an
    object, and array data that ends exactly where the file ends. Only a regular file is
    opened, and the header's length is checked against :data:`MAX_HEADER_BYTES` before the
    header is read."""
    def fail(problem: str) -> CheckpointError:
        return CheckpointError(f"{who}: '{path}' {problem}")

    try:
        f = open_regular(path, who)
    except NotARegularFileError as err:
        raise CheckpointError(str(err)) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if size == 0:
            raise fail(f"is empty (0 bytes): not a {kind}, or a save that never wrote")
        if head.startswith(_ZIP_MAGIC):
            raise fail(f"is a zip archive (e.g. from torch.save or np.savez), not a {kind}")
        if size < 8:
            raise fail(f"is only {size} bytes long: truncated, or not a {kind}")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > size - 8:
            raise fail(f"is not a complete safetensors file: its first 8 bytes give a header "
                       f"length of {header_len}, but only {size - 8} bytes follow "
                       f"(truncated, or not a {kind})")
        if header_len > MAX_HEADER_BYTES:
            raise fail(f"has a header of {header_len:,} bytes, more than the "
                       f"{MAX_HEADER_BYTES:,} chainrule reads (or writes): corrupt, or not a "
                       f"{kind}")
        raw = f.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise fail(f"has a header nested too deeply to read: corrupt, or not a {kind}") from None
    except (UnicodeDecodeError, ValueError):
        raise fail(f"has a header that is not valid JSON: the file is corrupt, or not a "
                   f"{kind}") from None
    if not isinstance(header, dict):
        raise fail(f"has a header that is not a JSON object: corrupt, or not a {kind}")
    data_len = size - 8 - header_len
    ends = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise fail(f"is corrupt: array '{name}' has bad data offsets {offsets!r}")
        ends.append(offsets[1])
    needed = max(ends, default=0)
    if needed > data_len:
        raise fail(f"is truncated: its arrays need {needed} bytes of data but only "
                   f"{data_len} follow the header")
    if needed < data_len:
        raise fail(f"is corrupt: {data_len - needed} unexpected bytes follow the array data")
    return header, 8 + header_len
