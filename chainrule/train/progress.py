"""What ``fit`` shows while it trains.

* ``verbose=1`` on a terminal with tqdm installed: a progress bar while an epoch runs, with
  the running loss and metrics, samples/s and the ETA, replaced by the epoch's line when it
  ends. In a Jupyter notebook with tqdm and ipywidgets installed, the same bar as a
  notebook widget (tqdm.auto picks it).
* ``verbose=1`` without a terminal (a log file, CI) or without tqdm, and ``verbose=2``:
  one plain line per epoch.
* ``verbose=0``: nothing.

Messages that explain a stop (NaN loss, Ctrl-C) always go to stderr.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from chainrule.train.callbacks import Callback
from chainrule.train.state import TrainState


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is an optional extra: pip install 'chainrule[progress]'
        return None
    return tqdm


def _is_widget(tqdm) -> bool:
    """True for tqdm's notebook widget bar, which tqdm.auto returns inside a Jupyter kernel
    that has ipywidgets (it draws itself in the notebook, whatever the output stream)."""
    notebook = sys.modules.get("tqdm.notebook")
    return notebook is not None and tqdm is not None and issubclass(tqdm, notebook.tqdm)


def format_logs(logs: dict, skip: tuple = ()) -> str:
    """``loss 0.1234 - accuracy 0.9612 - lr 0.001`` (compact, for humans)."""
    parts = []
    for k, v in logs.items():
        if k in skip:
            continue
        parts.append(f"{k} {v:.4g}" if k == "lr" else f"{k} {v:.4f}")
    return " - ".join(parts)


class ProgressBar(Callback):
    """The progress display ``fit`` attaches when ``verbose`` > 0.

    ``mode`` is ``"bar"`` (tqdm), ``"lines"`` (one line per epoch) or ``"auto"``: a bar when
    ``stream`` is a terminal and tqdm is installed, or in a Jupyter notebook that can show
    tqdm's widget (tqdm and ipywidgets installed, output to the notebook), lines otherwise.
    """

    order = 1000  # after every other callback, so the line shows the final logs

    def __init__(self, mode: str = "auto", stream: TextIO | None = None):
        if mode not in ("auto", "bar", "lines"):
            raise ValueError(f"ProgressBar: mode must be 'auto', 'bar' or 'lines', got {mode!r}")
        self.stream = stream
        tqdm = _tqdm()
        out = self._out()
        if mode == "auto":
            terminal = getattr(out, "isatty", lambda: False)()
            notebook = stream is None and _is_widget(tqdm)
            mode = "bar" if tqdm is not None and (terminal or notebook) else "lines"
        elif mode == "bar" and tqdm is None:
            mode = "lines"
        self.mode = mode
        self._tqdm = tqdm
        self._bar = None
        self._t0 = 0.0
        self._samples = 0

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    # ------------------------------------------------------------ messages
    def write(self, msg: str) -> None:
        """Print a message without breaking an open bar."""
        if self._bar is not None:
            self._tqdm.write(msg, file=self._out())
        else:
            print(msg, file=self._out(), flush=True)

    def on_train_begin(self, state: TrainState) -> None:
        state.writer = self.write

    # --------------------------------------------------------------- epochs
    def on_epoch_begin(self, state: TrainState) -> None:
        self._t0, self._samples = time.perf_counter(), 0
        if self.mode == "bar":
            # The bar lives while the epoch runs; the epoch's summary line replaces it.
            # The widget draws its own bar and splits the text around a plain {bar}.
            bar = "{bar}" if _is_widget(self._tqdm) else "{bar:20}"
            self._bar = self._tqdm(total=state.num_batches, desc=f"Epoch {state.epoch}/{state.epochs}",
                                   unit="batch", file=self._out(), leave=False, dynamic_ncols=True,
                                   bar_format="{desc} {percentage:3.0f}%|" + bar + "| {n_fmt}/"
                                              "{total_fmt} [{elapsed}<{remaining}] {postfix}")

    def on_batch_end(self, state: TrainState) -> None:
        self._samples += state.batch_size
        if self._bar is None:
            return
        self._bar.update(1)
        # Refresh the numbers at the bar's own pace (it redraws at most ~10 times a second).
        if self._bar.n == 1 or self._bar.n == self._bar.total or \
                time.perf_counter() - getattr(self, "_last_post", 0.0) > 0.25:
            self._last_post = time.perf_counter()
            post = [f"{k} {_short(v)}" for k, v in state.running_logs().items()]
            self._bar.set_postfix_str(" - ".join(post + [f"{self._rate():,.0f} samples/s"]),
                                      refresh=False)

    def _rate(self) -> float:
        return self._samples / max(time.perf_counter() - self._t0, 1e-9)

    def on_epoch_end(self, state: TrainState) -> None:
        seconds = time.perf_counter() - self._t0
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        print(f"Epoch {state.epoch}/{state.epochs} - {seconds:.1f}s - "
              f"{self._samples / max(seconds, 1e-9):,.0f} samples/s - {format_logs(state.logs)}",
              file=self._out(), flush=True)

    def on_train_end(self, state: TrainState) -> None:
        if self._bar is not None:  # stopped inside an epoch (NaN, Ctrl-C)
            self._bar.close()
            self._bar = None


def _short(v: float) -> str:
    return f"{v:.4g}" if abs(v) >= 1000 or abs(v) < 1e-3 and v != 0 else f"{v:.4f}"
