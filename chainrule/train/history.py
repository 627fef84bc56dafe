"""History: what ``fit`` logged, one row per epoch, as Keras users know it.

``history.history`` is a dict of lists (``{"loss": [...], "val_accuracy": [...], "lr": [...]}``)
and ``history.epoch`` the epoch numbers the rows belong to, counted from 1 as the progress
display, the CSV files and the checkpoints count them. It saves to CSV and JSON, loads
back from JSON (a checkpoint carries it that way), and draws its curves to a PNG (in a
Jupyter notebook, a History shown as a cell's result draws its curves inline).
"""
from __future__ import annotations

import base64
import csv
import io
import json
import math
import os
from typing import Iterable, Mapping

from chainrule._html import table
from chainrule.io import write_atomically

_NAN = float("nan")


class History:
    """Per-epoch training record.

    Example:
        >>> h = History()
        >>> h.append(1, {"loss": 0.9, "accuracy": 0.6, "val_loss": 1.0})
        >>> h.append(2, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.7})
        >>> h.history["loss"]
        [0.9, 0.5]
        >>> h.best("val_loss")
        (2, 0.7)
    """

    def __init__(self, history: Mapping[str, Iterable[float]] | None = None,
                 epoch: Iterable[int] | None = None):
        self.history: dict[str, list[float]] = {k: [float(v) for v in vals]
                                                for k, vals in (history or {}).items()}
        lengths = {len(v) for v in self.history.values()}
        if len(lengths) > 1:
            raise ValueError(f"History: every column needs one value per epoch, got lengths "
                             f"{ {k: len(v) for k, v in self.history.items()} }")
        n = lengths.pop() if lengths else 0
        self.epoch: list[int] = list(range(1, n + 1)) if epoch is None else [int(e) for e in epoch]
        if len(self.epoch) != n:
            raise ValueError(f"History: {len(self.epoch)} epoch numbers for {n} rows")
        # How the fit call that returned this history ended (not saved with it).
        self.stop_reason: str | None = None
        self.interrupted = False
        self.diverged = False

    # ------------------------------------------------------------------ rows
    def append(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Add one epoch's values; a key seen for the first time is NaN for earlier rows,
        and a known key missing from ``logs`` is NaN for this row."""
        n = len(self.epoch)
        for key in logs:
            if key not in self.history:
                self.history[key] = [_NAN] * n
        for key, column in self.history.items():
            column.append(float(logs[key]) if key in logs else _NAN)
        self.epoch.append(int(epoch))

    def __len__(self) -> int:
        return len(self.epoch)

    def __getitem__(self, key: str) -> list[float]:
        try:
            return self.history[key]
        except KeyError:
            raise KeyError(f"History: no column {key!r}; have {sorted(self.history)}") from None

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def keys(self) -> list[str]:
        return list(self.history)

    def last(self) -> dict[str, float]:
        """The most recent row as a dict (empty before the first epoch)."""
        return {k: v[-1] for k, v in self.history.items()} if self.epoch else {}

    def best(self, monitor: str, mode: str = "auto") -> tuple[int, float]:
        """``(epoch, value)`` of the best row for ``monitor`` (ties: the earliest)."""
        values = self[monitor]
        better = _is_better_fn(resolve_mode(monitor, mode), 0.0)
        best_i = None
        for i, v in enumerate(values):
            if not math.isnan(v) and (best_i is None or better(v, values[best_i])):
                best_i = i
        if best_i is None:
            raise ValueError(f"History.best: column {monitor!r} has no finite value")
        return self.epoch[best_i], values[best_i]

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={self.keys()})"

    def __eq__(self, other) -> bool:
        return isinstance(other, History) and self.to_dict() == other.to_dict()

    # ----------------------------------------------------------- save / load
    def to_dict(self) -> dict:
        """A JSON-ready dict; NaN becomes None because JSON has no NaN."""
        return {"epoch": list(self.epoch),
                "history": {k: [None if math.isnan(v) else v for v in col]
                            for k, col in self.history.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "History":
        if not isinstance(d, Mapping) or "history" not in d or "epoch" not in d:
            raise ValueError("History.from_dict: expected a dict with 'epoch' and 'history' keys")
        return cls({k: [_NAN if v is None else v for v in col] for k, col in d["history"].items()},
                   d["epoch"])

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the history as JSON (``{"epoch": [...], "history": {...}}``), atomically."""
        write_atomically(path, (json.dumps(self.to_dict(), indent=1) + "\n").encode("utf-8"))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "History":
        """Read a history written by :meth:`to_json`."""
        with open(path, encoding="utf-8") as f:
            try:
                d = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"History.from_json: {os.fspath(path)!r} is not valid JSON ({e})") from None
        return cls.from_dict(d)

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write one row per epoch: ``epoch,loss,accuracy,...`` (NaN left empty), atomically."""
        keys = self.keys()
        text = io.StringIO(newline="")
        w = csv.writer(text)
        w.writerow(["epoch"] + keys)
        for i, e in enumerate(self.epoch):
            w.writerow([e] + [_fmt(self.history[k][i]) for k in keys])
        write_atomically(path, text.getvalue().encode("utf-8"))

    # ------------------------------------------------------------------ plot
    def plot(self, path: str | os.PathLike, dpi: int = 100) -> None:
        """Save a PNG with one panel for the loss and one per metric, train and validation
        curves together (needs matplotlib: ``pip install chainrule[plot]``), atomically."""
        image = io.BytesIO()  # written in one step, as every file of a run is
        self._figure(dpi).savefig(image, format="png")
        write_atomically(path, image.getvalue())

    def _figure(self, dpi: int):
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'chainrule[plot]'") from None
        # Panels: every train column that is not the learning rate, each with its val_ twin.
        names = [k for k in self.keys() if not k.startswith("val_") and k != "lr"]
        names += [k[4:] for k in self.keys() if k.startswith("val_") and k[4:] not in self.history
                  and k[4:] not in names]
        if not names:
            raise ValueError("History.plot: nothing to plot yet (no epochs logged)")
        # Figure without pyplot: no global state, no GUI backend, safe in scripts and threads.
        fig = Figure(figsize=(5 * len(names), 3.6), dpi=dpi)
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        for ax, name in zip(axes, names):
            for key, label in ((name, "train"), ("val_" + name, "validation")):
                if key in self.history:
                    ax.plot(self.epoch, self.history[key], marker="o", markersize=3, label=label)
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        return fig

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """Jupyter's display: the curves as a PNG when matplotlib is installed, otherwise
        (or before the first epoch) the table of values per epoch."""
        bundle = {"text/plain": repr(self)}
        if self.epoch:
            try:
                fig = self._figure(dpi=80)
            except ImportError:
                pass
            else:
                png = io.BytesIO()
                fig.savefig(png, format="png")
                bundle["image/png"] = base64.b64encode(png.getvalue()).decode("ascii")
                return bundle
        keys = self.keys()
        rows = [[e] + [_fmt_cell(self.history[k][i]) for k in keys]
                for i, e in enumerate(self.epoch)]
        bundle["text/html"] = table(["epoch"] + keys, rows, right=range(len(keys) + 1),
                                    caption=repr(self))
        return bundle


def _fmt_cell(v: float) -> str:
    return "" if math.isnan(v) else f"{v:.4g}"


def _fmt(v: float) -> str:
    return "" if math.isnan(v) else repr(v)


def resolve_mode(monitor: str, mode: str) -> str:
    """``"min"`` or ``"max"``; ``"auto"`` picks max for accuracy-like names, else min."""
    if mode not in ("min", "max", "auto"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.lower()
    higher_is_better = ("acc", "f1", "precision", "recall", "auc", "r2", "iou")
    return "max" if any(s in name for s in higher_is_better) else "min"


def _is_better_fn(mode: str, min_delta: float):
    """``better(current, best)`` for the mode: an improvement by more than ``min_delta``."""
    delta = abs(min_delta)
    if mode == "min":
        return lambda current, best: current < best - delta
    return lambda current, best: current > best + delta
