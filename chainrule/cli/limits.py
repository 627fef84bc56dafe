"""The memory the command line may use, and the checks that refuse an input needing more,
before anything is allocated.

An allocation larger than the machine can give either fails deep inside NumPy with a
``MemoryError`` traceback or, worse, succeeds on paper and gets the process killed later.
So every size the user (or a file) chooses that drives a large allocation -- the model's
parameters, a summary's input batch, a run's text windows -- is checked here first, and
refused with one line naming the input, what it needs and the limit.

    >>> check_fits("--hidden 10,10", 1024)                 # a few kB: always fine
    >>> check_fits("--hidden 10**6,10**6", 2 ** 80)        # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.cli.errors.UserError: --hidden 10**6,10**6 needs 1073741824.00 PiB, more than ...
"""
from __future__ import annotations

import os

from chainrule.cli.errors import UserError
from chainrule.explain.summary import format_bytes

__all__ = ["memory_limit", "check_fits"]


def memory_limit() -> tuple[int, str]:
    """The most memory this process can hope to get, in bytes, and where that limit comes
    from: the smaller of the machine's physical memory and the address-space or data-size
    limit set on the process (``ulimit -v`` / ``ulimit -d``)."""
    limits: list[tuple[int, str]] = []
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and page_size > 0:
            limits.append((pages * page_size, "this machine's physical memory"))
    except (AttributeError, ValueError, OSError):  # not on every platform (Windows)
        pass
    try:
        import resource
        for which, words in ((resource.RLIMIT_AS, "the process's address-space limit "
                                                  "(ulimit -v)"),
                             (resource.RLIMIT_DATA, "the process's data-size limit (ulimit -d)")):
            soft, _ = resource.getrlimit(which)
            if soft != resource.RLIM_INFINITY and soft > 0:
                limits.append((soft, words))
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    if not limits:
        return 2 ** 63, "no known limit"
    return min(limits)


def check_fits(what: str, nbytes: int) -> None:
    """Raise UserError naming ``what`` when ``nbytes`` is more than :func:`memory_limit`."""
    limit, source = memory_limit()
    if nbytes > limit:
        raise UserError(f"{what} needs {format_bytes(nbytes)}, more than {source} allows "
                        f"({format_bytes(limit)})")
