"""``chainrule playground``: backpropagation you can watch and click, in the browser.

    chainrule playground                   # a free port on 127.0.0.1, opens the browser
    chainrule playground --port 8765 --no-browser

Starts the web app of :mod:`chainrule.playground` (needs ``pip install 'chainrule[playground]'``),
prints its address and serves until Ctrl-C. Training runs in this process, one session per
browser tab; exported checkpoints go to ``--runs-dir``.
"""
from __future__ import annotations

import argparse
import importlib.util

from chainrule.cli.errors import UserError

NAME = "playground"
HELP = "train in the browser; click a weight to see its gradient"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Start the playground, a local web app: pick a data set, shape a "
                          "network, press play and watch chainrule train it; click any weight "
                          "or bias to see its gradient derived with the real numbers.")
    parser.add_argument("--port", type=int, default=0, metavar="N",
                        help="port to listen on (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                        help="address to listen on (default 127.0.0.1: this computer only)")
    parser.add_argument("--no-browser", action="store_true",
                        help="print the address without opening a browser")
    parser.add_argument("--runs-dir", default="runs", metavar="DIR",
                        help="where exported checkpoints go (default: runs)")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be from 0 (any free port) to 65535, got {args.port}")
    missing = [m for m in ("starlette", "uvicorn", "websockets")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"the playground needs {', '.join(missing)}: pip install "
                        f"'chainrule[playground]'")
    from chainrule.playground.server import serve
    try:
        serve(args.host, args.port, open_browser=not args.no_browser, runs_dir=args.runs_dir)
    except OSError as e:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    return 0
