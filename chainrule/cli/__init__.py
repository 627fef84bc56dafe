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
2 for any bad input. Running out of memory is one such line too. Anything else that goes
wrong is a bug in chainrule: one line saying so (status 3), with the full traceback in
``error.log`` in the run folder when there is one, and on stderr with ``chainrule --debug``.

Layout: one module per command (:mod:`~chainrule.cli.train`, :mod:`~chainrule.cli.evaluate`,
:mod:`~chainrule.cli.predict`, :mod:`~chainrule.cli.export`, :mod:`~chainrule.cli.sample`,
:mod:`~chainrule.cli.prune`, :mod:`~chainrule.cli.quantize`, :mod:`~chainrule.cli.distill`,
:mod:`~chainrule.cli.federate`, :mod:`~chainrule.cli.explain`, :mod:`~chainrule.cli.summary`,
:mod:`~chainrule.cli.playground`) and the modules they share: :mod:`~chainrule.cli.errors`
(the one error type, :class:`UserError`), :mod:`~chainrule.cli.data`, :mod:`~chainrule.cli.tables`
and :mod:`~chainrule.cli.images` (data preparation), :mod:`~chainrule.cli.targets` (classes or
numbers; regression targets' units), :mod:`~chainrule.cli.inputs` (every input file checked
before it is read, and read within limits), :mod:`~chainrule.cli.limits` (the memory a size
may ask for), :mod:`~chainrule.cli.models` (model building), :mod:`~chainrule.cli.optimizers`,
:mod:`~chainrule.cli.run_folder` (claiming and locking a run folder),
:mod:`~chainrule.cli.run_config` (the schema of a run's config), :mod:`~chainrule.cli.runs`
(checkpoint loading and run files), :mod:`~chainrule.cli.transfer` (``train --init-from``),
:mod:`~chainrule.cli.after_training` (what prune, quantize and distill share),
:mod:`~chainrule.cli.output` and :mod:`~chainrule.cli.plots` (what the commands print and
draw), :mod:`~chainrule.cli.distributed` (the commands under ``mpiexec``) and
:mod:`~chainrule.cli.network_spec` (the small networks of ``explain`` and ``summary``).

Adding a command ``chainrule NAME``:

1. Write ``chainrule/cli/NAME.py`` with ``NAME = "NAME"``, ``HELP = "one line for chainrule
   --help"``, ``add_arguments(parser)`` (adds the options to the command's argparse parser;
   it may set ``parser.description``) and ``run(args) -> int`` (does the work, prints the
   result to stdout and returns the exit status, 0 on success).
2. In ``run``, raise :class:`~chainrule.cli.errors.UserError` for anything wrong with the
   user's input, naming the option or file and what was expected; never print an error
   yourself: :func:`main` turns it into the one-line message and the exit status. Open
   input files after :func:`~chainrule.cli.inputs.input_file` (read them inside
   :func:`~chainrule.cli.inputs.reading`), check a size that drives a large allocation with
   :func:`~chainrule.cli.limits.check_fits`, and write into a run folder only while holding
   it (:mod:`~chainrule.cli.run_folder`).
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
import warnings
from typing import Sequence

from chainrule import kernels
from chainrule._version import __version__
from chainrule.cli import (distill, evaluate, explain, export, federate, playground, predict,
                           prune, quantize, sample, summary, train)
from chainrule.cli.distributed import report_error
from chainrule.cli.errors import UserError
from chainrule.cli.limits import memory_limit
from chainrule.explain.summary import format_bytes
from chainrule.io import write_atomically

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
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command_parser = sub.add_parser(command.NAME, help=command.HELP)
        command.add_arguments(command_parser)
        # also after the command; SUPPRESS keeps the command from resetting a --debug before it
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help="show the full traceback of an internal error")
    return parser


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.strerror}: {e.filename}"
    text = str(e).strip() or type(e).__name__
    if isinstance(e, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command is None:
        parser.print_help(sys.stderr)
        names = [command.NAME for command in COMMANDS]
        raise UserError(f"choose a command: {', '.join(names[:-1])} or {names[-1]}", status=2)
    command = next(c for c in COMMANDS if c.NAME == args.command)
    return int(command.run(args))


def _internal_error(e: BaseException, argv: Sequence[str] | None, debug: bool) -> str:
    """The one line for an exception no check anticipated; the traceback goes to the run
    folder's error.log (when the command had one) and, with ``--debug``, to stderr."""
    details = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    if debug:
        sys.stderr.write(details)
    where = "rerun with --debug to see the traceback"
    folder = getattr(e, "run_folder", None)
    if folder is not None:
        log = os.path.join(folder, "error.log")
        command = " ".join(["chainrule", *(sys.argv[1:] if argv is None else argv)])
        try:
            write_atomically(log, f"chainrule {__version__}\n{command}\n\n{details}".encode())
            where = f"the traceback is in {log}"
        except OSError:
            pass
    return (f"chainrule: internal error: {type(e).__name__}: {_one_line(e)} (a bug in chainrule, "
            f"not in your input, is likely; {where}, and please report it)")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning from inside chainrule or a library it uses, as one line on stderr (not
    Python's two-line 'file:line: Category: message' with a source line)."""
    text = " ".join(str(message).split())
    print(f"chainrule: warning: {text}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Example:
        >>> main(["summary", "--layers", "4,3,2", "--format", "json"])    # doctest: +SKIP
        0
    """
    # The command owns its process: keep freed activations' memory for the next step instead
    # of faulting it back in page by page (lenet's convolutions: 2x slower without).
    kernels.tune_malloc()
    with warnings.catch_warnings():  # restores Python's own display for in-process callers
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser, debug = build_parser(), False
    try:
        args = parser.parse_args(argv)
        debug = bool(getattr(args, "debug", False))
        return _run(parser, args)
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
    except MemoryError:
        limit, source = memory_limit()
        return report_error(
            f"chainrule: error: out of memory: this input needs more than the "
            f"{format_bytes(limit)} that {source} allows; use smaller data, a smaller model "
            f"or a smaller --batch-size", 1)
    except RecursionError:
        return report_error("chainrule: error: an input is nested too deeply to process", 1)
    except Exception as e:
        # Under mpiexec, report_error also names the failing rank and ends every rank.
        return report_error(_internal_error(e, argv, debug), 3)
