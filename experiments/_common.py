"""What the experiment scripts share: the base runs they start from (trained once by
``chainrule train`` and kept in a work folder), MNIST subsets for the miniature runs the
tests make, Markdown tables, and writing a results section into a docs page.

Every script takes ``--quick`` (a miniature run on a few hundred digits, for the tests),
``--work DIR`` (where base runs and intermediate files go) and ``--docs PAGE`` (the page
whose results section it rewrites, between ``<!-- results:begin -->`` and
``<!-- results:end -->``; plots go to an ``img/`` folder beside it).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from typing import Sequence

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:          # run from a checkout without installing it
    sys.path.insert(0, ROOT)

from chainrule import cli  # noqa: E402
from chainrule.cli.after_training import kib as kib_text, run_data  # noqa: E402,F401
from chainrule.cli.runs import load_run  # noqa: E402
from chainrule.data import datasets, write_idx  # noqa: E402
from chainrule.io import write_atomically  # noqa: E402

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def parser(doc: str, page: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="a miniature run on a few hundred digits (what the tests run)")
    ap.add_argument("--work", default=os.path.join(ROOT, "experiments", "work"),
                    help="folder for base runs and intermediate files")
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs", page),
                    help="the page whose results section is rewritten")
    return ap


def chainrule(*args) -> None:
    """Run a ``chainrule`` command in this process; any failure stops the experiment."""
    argv = [str(a) for a in args]
    print("$ chainrule " + " ".join(argv), flush=True)
    status = cli.main(argv)
    if status != 0:
        raise SystemExit(f"chainrule {' '.join(argv)} failed with status {status}")


def idx_subset(work: str, n_train: int, n_test: int) -> list[str]:
    """The first ``n_train``/``n_test`` MNIST digits as IDX files (the quick runs' data);
    returns the ``chainrule train`` options that read them."""
    os.makedirs(work, exist_ok=True)
    x_tr, y_tr = datasets.load_mnist("train")
    x_te, y_te = datasets.load_mnist("test")
    files = {"--idx-images": x_tr[:n_train], "--idx-labels": y_tr[:n_train].astype(np.uint8),
             "--idx-test-images": x_te[:n_test], "--idx-test-labels": y_te[:n_test].astype(np.uint8)}
    args = []
    for flag, array in files.items():
        path = os.path.join(work, flag.strip("-") + ".idx")
        if not os.path.exists(path):
            write_idx(path, array)
        args += [flag, path]
    return args


def base_run(work: str, name: str, train_args: Sequence, quick: bool) -> str:
    """The run folder ``work/name``, trained with ``chainrule train <train_args>`` unless it
    is there already (so several experiments share one LeNet)."""
    folder = os.path.join(work, name)
    if not os.path.exists(os.path.join(folder, "best.ckpt")):
        data = idx_subset(work, 1200, 400) if quick else []
        chainrule("train", *data, *train_args, "--out", folder, "--quiet")
    return folder


def loaded(folder: str):
    """(LoadedRun, its data: the run's own splits and preprocessing)."""
    run = load_run(folder)
    return run, run_data(run)


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i else ":---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def provenance(command: str) -> str:
    """When, how and where the numbers below were measured."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f"Measured {when} with `{command}` ({platform.python_implementation()} "
            f"{platform.python_version()}, {os.cpu_count()} cores, a machine shared with other "
            f"work: load average {load:.1f} when the run ended, so times are noisy).")


def figure_path(docs: str, name: str) -> tuple[str, str]:
    """(file path, link relative to the page) of a plot beside the docs page."""
    folder = os.path.join(os.path.dirname(os.path.abspath(docs)), "img")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name), f"img/{name}"


def save_figure(fig, docs: str, name: str) -> str:
    """Save a matplotlib figure as ``img/<name>`` beside the docs page (and close it);
    returns the link to put in the page."""
    path, link = figure_path(docs, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return link


def write_results(docs: str, markdown: str) -> None:
    """Replace the results section of ``docs`` (a new page holds only the section)."""
    section = f"{BEGIN}\n{markdown.strip()}\n{END}"
    text = open(docs, encoding="utf-8").read() if os.path.exists(docs) else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + section + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(docs)), exist_ok=True)
    write_atomically(docs, text.encode("utf-8"))
    print(f"results written to {docs}")


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
