"""Opening input files safely: only regular files, and never in a way that can block.

Every reader of a user's file (``cr.load``, the IDX reader, the command line's data, image
and spec readers) opens it through :func:`open_regular`. A named pipe (FIFO) opened for
reading blocks until a writer appears, and a device such as ``/dev/zero`` or
``/dev/urandom`` never ends, so reading either would hang or exhaust memory. The file is
opened without blocking and checked with ``fstat`` on the open descriptor (no window in
which the name could be swapped), and anything but a regular file is refused up front.

It sits below every layer (it needs only the standard library), so ``io`` and ``data``
share it without importing each other.
"""
from __future__ import annotations

import os
import stat
from typing import BinaryIO

__all__ = ["NotARegularFileError", "open_regular", "kind_of"]


class NotARegularFileError(ValueError):
    """A path that names a FIFO, a device or a socket instead of a file; ``path`` and
    ``kind`` (in words: 'a named pipe (FIFO)') say which."""

    def __init__(self, message: str, path: str = "", kind: str = ""):
        super().__init__(message)
        self.path, self.kind = path, kind


def kind_of(mode: int) -> str:
    """What a ``st_mode`` describes, in words: 'a named pipe (FIFO)', 'a folder', ..."""
    for test, words in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a regular file"


def open_regular(path: str | os.PathLike, who: str) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (symbolic links followed).

    Raises FileNotFoundError or PermissionError (naming ``who`` and the path) when it is
    missing or unreadable, IsADirectoryError for a folder, and :class:`NotARegularFileError`
    for a FIFO, a device or a socket, before a single byte is read.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
        >>> _ = open(path, "wb").write(b"abc")
        >>> with open_regular(path, "example") as f:
        ...     f.read()
        b'abc'
    """
    path = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"{who}: no such file: {path!r}") from None
    except PermissionError:
        raise PermissionError(f"{who}: cannot read {path!r}: permission denied") from None
    except IsADirectoryError:  # Windows cannot open folders at all
        raise IsADirectoryError(f"{who}: {path!r} is a folder, not a file") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(f"{who}: {path!r} is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise NotARegularFileError(f"{who}: {path!r} is {kind_of(mode)}, not a regular "
                                       f"file; refusing to read it (it could block or never end)",
                                       path, kind_of(mode))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
