"""The command line's one error type for bad input, and the checks that raise it.

A command raises :class:`UserError` for anything wrong with what the user gave (options,
files, data); :func:`chainrule.cli.main` alone turns it into the one line
``chainrule: error: <message>`` on stderr and returns its ``status``, so a command never
prints its own errors and every one of them looks the same.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

__all__ = ["UserError", "check_number", "usage_errors"]


class UserError(ValueError):
    """Bad input from the user (options, data, files): the message is shown as is, on one line.

    Args:
        message: what was wrong, naming the option or file and what was expected.
        status: the exit status: 1 for bad files or data (the default), 2 for bad usage.
        command: when given, the message names the command: ``chainrule explain: error: ...``
            (the form ``explain`` and ``summary`` have always used).

    Example:
        >>> e = UserError("--lr must be > 0, got -1.0")
        >>> e.status, str(e)
        (1, '--lr must be > 0, got -1.0')
    """

    def __init__(self, message: str, status: int = 1, command: str | None = None):
        super().__init__(message)
        self.status = status
        self.command = command


@contextlib.contextmanager
def usage_errors(command: str) -> Iterator[None]:
    """Report every ValueError and TypeError raised inside as bad usage of ``command``
    (status 2, the command named in the message). ``explain`` and ``summary`` run library
    code (``trace``, ``summary``) whose argument checks are the user's errors there."""
    try:
        yield
    except (ValueError, TypeError) as e:
        raise UserError(str(e), status=2, command=command) from None


def check_number(name: str, value, low: float, high: float | None = None,
                 low_open: bool = False, high_open: bool = True) -> None:
    """Raise UserError unless ``value`` is a finite number in the interval from ``low`` to
    ``high`` (closed at ``low`` and open at ``high`` unless told otherwise).

    Example:
        >>> check_number("--dropout", 0.5, 0.0, 1.0)
        >>> check_number("--temperature", 0.0, 0.0, low_open=True)
        Traceback (most recent call last):
        ...
        chainrule.cli.errors.UserError: --temperature must be > 0, got 0.0
    """
    bad = value is None or not math.isfinite(value) or (value <= low if low_open else value < low)
    if high is not None and not bad:
        bad = value >= high if high_open else value > high
    if bad:
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
        raise UserError(f"{name} must be {lo}{hi}, got {value}")
