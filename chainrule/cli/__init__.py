"""The ``chainrule`` command (also ``python -m chainrule``).

    chainrule train                      # MLP on the shipped MNIST -> runs/mnist-mlp-<time>/
    chainrule train --data sonar --hidden 64,32 --dropout 0.2 --epochs 100
    chainrule train --data diabetes      # a regression: scores in the target's units
    chainrule train --resume runs/mnist-mlp-20240101-120000
    chainrule evaluate runs/mnist-mlp-20240101-120000
    chainrule predict runs/mnist-mlp-20240101-120000 digit.png
    chainrule export runs/mnist-mlp-20240101-120000             # -> model.onnx
    chainrule train --data shakespeare --model lstm --out runs/shakespeare
    chainrule sample runs/shakespeare --prompt "ROMEO:" --length 300 --temperature 0.8
    chainrule explain --example 2-3-1
    chainrule summary --layers 784,128,10 --batch-size 32
    chainrule playground                 # the browser playground on 127.0.0.1
    chainrule prune runs/mnist-mlp-20240101-120000 --amount 0.9 --finetune-epochs 2
    chainrule quantize runs/mnist-cnn-20240101-120000
    chainrule distill --teacher runs/mnist-cnn-20240101-120000 --model mlp --hidden 64
    chainrule federate --clients 10 --alpha 0.3 --rounds 50

Every problem with the user's input ends in one line on stderr, ``chainrule: error: ...``,
and a non-zero exit status (2 for bad options, 1 for bad files or data, 130 for Ctrl-C).
``explain`` and ``summary`` name themselves (``chainrule explain: error: ...``) and exit with
2 for any bad input.

Layout: one module per command (:mod:`~chainrule.cli.train`, :mod:`~chainrule.cli.evaluate`,
:mod:`~chainrule.cli.predict`, :mod:`~chainrule.cli.export`, :mod:`~chainrule.cli.sample`,
:mod:`~chainrule.cli.prune`, :mod:`~chainrule.cli.quantize`, :mod:`~chainrule.cli.distill`,
:mod:`~chainrule.cli.federate`, :mod:`~chainrule.cli.explain`, :mod:`~chainrule.cli.summary`,
:mod:`~chainrule.cli.playground`) and the modules they share: :mod:`~chainrule.cli.errors`
(the one error type, :class:`UserError`), :mod:`~chainrule.cli.data`, :mod:`~chainrule.cli.tables`
and :mod:`~chainrule.cli.images` (data preparation), :mod:`~chainrule.cli.targets` (classes or
numbers; regression targets' units), :mod:`~chainrule.cli.models` (model building),
:mod:`~chainrule.cli.optimizers`, :mod:`~chainrule.cli.runs` (run folders and checkpoint
loading), :mod:`~chainrule.cli.transfer` (``train --init-from``),
:mod:`~chainrule.cli.after_training` (what prune, quantize and distill share),
:mod:`~chainrule.cli.output` and :mod:`~chainrule.cli.plots` (what the commands print and
draw) and
:mod:`~chainrule.cli.network_spec` (the small networks of ``explain`` and ``summary``).

Adding a command ``chainrule NAME``:

1. Write ``chainrule/cli/NAME.py`` with ``NAME = "NAME"``, ``HELP = "one line for chainrule
   --help"``, ``add_arguments(parser)`` (adds the options to the command's argparse parser;
   it may set ``parser.description``) and ``run(args) -> int`` (does the work, prints the
   result to stdout and returns the exit status, 0 on success).
2. In ``run``, raise :class:`~chainrule.cli.errors.UserError` for anything wrong with the
   user's input, naming the option or file and what was expected; never print an error
   yourself: :func:`main` turns it into the one-line message and the exit status.
3. In this file, import the module and add it to ``COMMANDS`` (its place there is its place
   in ``chainrule --help``).
4. Test it through :func:`main` or ``python -m chainrule NAME`` in ``tests/test_cli.py`` (or
   its own ``tests/test_<area>.py``), bad input included; the tests of the package already
   check that every listed command declares itself and that its ``--help`` works.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Sequence

from chainrule._version import __version__
from chainrule.cli import (distill, evaluate, explain, export, federate, playground, predict,
                           prune, quantize, sample, summary, train)
from chainrule.cli.distributed import report_error
from chainrule.cli.errors import UserError

__all__ = ["COMMANDS", "UserError", "build_parser", "main"]

# Every command, in the order ``chainrule --help`` lists them.
COMMANDS = (train, evaluate, predict, export, sample, prune, quantize, distill, federate,
            playground, explain, summary)


class _Formatter(argparse.HelpFormatter):
    """argparse's help, measuring the command names at the indent they are printed with:
    Python before 3.12 measures them two columns short, which would push the help of a name
    longer than 8 characters (``playground``) onto a line of its own."""

    def add_argument(self, action):
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS:
            for sub in self._iter_indented_subactions(action):   # indented as printed
                width = len(self._format_action_invocation(sub)) + self._current_indent
                self._action_max_length = max(self._action_max_length, width)


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are UserErrors (status 2), shown by :func:`main` like any other."""

    def error(self, message: str):
        raise UserError(f"{message} (see '{self.prog} --help')", status=2)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``chainrule`` and of every command in :data:`COMMANDS`."""
    parser = _Parser(prog="chainrule", description="Train, evaluate and explain neural networks "
                     "built on chainrule (NumPy autograd).", formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.add_arguments(sub.add_parser(command.NAME, help=command.HELP))
    return parser


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.strerror}: {e.filename}"
    text = str(e).strip() or type(e).__name__
    if isinstance(e, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        names = [command.NAME for command in COMMANDS]
        raise UserError(f"choose a command: {', '.join(names[:-1])} or {names[-1]}", status=2)
    command = next(c for c in COMMANDS if c.NAME == args.command)
    return int(command.run(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Example:
        >>> main(["summary", "--layers", "4,3,2", "--format", "json"])    # doctest: +SKIP
        0
    """
    # Under mpiexec, report_error also names the failing rank and ends every rank.
    try:
        return _run(build_parser(), argv)
    except KeyboardInterrupt:
        return report_error("\nchainrule: interrupted", 130)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (ValueError, OSError, KeyError) as e:
        # A UserError (a subclass of ValueError) says what the user got wrong; the library's
        # own errors name the argument, the file and the problem: either way one line, not a
        # traceback.
        error = e if isinstance(e, UserError) else UserError(_one_line(e))
        name = "chainrule" if error.command is None else f"chainrule {error.command}"
        return report_error(f"{name}: error: {_one_line(error)}", error.status)
    except Exception:
        traceback.print_exc()
        return report_error("chainrule: internal error (a bug in chainrule, not in your "
                            "input, is likely); please report the command and the traceback "
                            "above", 3)
