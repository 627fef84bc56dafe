"""The files a command reads: checked before use, and read within limits.

Every file named on the command line or in a run's config goes through :func:`input_file`
first: a missing file, a folder, an unreadable file, a FIFO or a device (which would block
or never end) is refused up front with one line naming the option and the path. Reading
then happens inside :func:`reading`, which turns running out of memory, numbers too large
for their array and nesting too deep for the parser into one line naming the file and the
limit, instead of a traceback.

    >>> input_file("no-such.csv", "data file")
    Traceback (most recent call last):
    ...
    chainrule.cli.errors.UserError: data file 'no-such.csv' does not exist
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator

from chainrule._safe_open import NotARegularFileError, open_regular
from chainrule.cli.errors import UserError
from chainrule.cli.limits import memory_limit
from chainrule.explain.summary import format_bytes

__all__ = ["input_file", "reading", "read_text_file", "parse_json", "MAX_SPEC_BYTES"]

# Network specs and --weights files are small hand-written JSON/YAML; a 64 MiB cap keeps
# their parse (tens of bytes of Python objects per byte of JSON) within a few GB.
MAX_SPEC_BYTES = 64 * 2 ** 20


def input_file(path: str, what: str) -> str:
    """``path`` if it names a readable regular file; else UserError naming ``what``."""
    try:
        with open_regular(path, what):
            pass
    except FileNotFoundError:
        raise UserError(f"{what} {path!r} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path!r} is a folder, not a file") from None
    except PermissionError:
        raise UserError(f"cannot read {what} {path!r}: permission denied") from None
    except NotARegularFileError as e:
        raise UserError(f"{what} {path!r} is {e.kind}, not a regular file; refusing to read it "
                        f"(it could block forever or never end)") from None
    return path


@contextlib.contextmanager
def reading(path: str, what: str) -> Iterator[None]:
    """Run the reading of ``path`` (a ``what``: "data file", "image", ...) so that resource
    limits end in a UserError naming the file: MemoryError, OverflowError (a number too large
    for its array) and RecursionError (nesting too deep to parse)."""
    try:
        yield
    except MemoryError:
        limit, source = memory_limit()
        try:
            size = f"{format_bytes(os.path.getsize(path))} on disk"
        except OSError:
            size = "size unknown"
        raise UserError(f"not enough memory to read {what} {path!r} ({size}); the limit is "
                        f"{format_bytes(limit)} ({source})") from None
    except OverflowError as e:
        raise UserError(f"{what} {path!r} holds a number too large for its array ({e}): "
                        f"integers must fit in 64 bits and numbers in float64") from None
    except RecursionError:
        raise UserError(f"{what} {path!r} is nested too deeply to read") from None


def read_text_file(path: str, what: str, max_bytes: int = MAX_SPEC_BYTES) -> str:
    """The UTF-8 text of a small file (a spec, a JSON option), refused beyond ``max_bytes``."""
    input_file(path, what)
    with open_regular(path, what) as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise UserError(f"{what} {path!r} is larger than the {format_bytes(max_bytes)} a "
                        f"{what} may be")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{what} {path!r} is not UTF-8 text ({e})") from None


def parse_json(text: str, what: str) -> Any:
    """JSON from ``text``; nesting too deep for the parser is a UserError, not a crash
    (``json.JSONDecodeError`` passes through for the caller to word)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise UserError(f"{what} is nested too deeply to read") from None
