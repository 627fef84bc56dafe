"""The pictures of a regression run, saved beside ``curves.png``: a parity plot (predicted
against true, with the identity line a perfect model would sit on) and a residual plot
(true minus predicted against predicted: a good fit leaves a band around 0 with no shape);
with a single input also the fitted curve through the data (``fit.png``).

    >>> import numpy as np, tempfile
    >>> y = np.arange(20.0)[:, None]
    >>> save_regression_plots(tempfile.mkdtemp(), y, y + 0.5, ["y"])   # doctest: +SKIP
    ['parity.png', 'residuals.png']
"""
from __future__ import annotations

import io
import math
import os
from typing import Sequence

import numpy as np

from chainrule.io import write_atomically

__all__ = ["REGRESSION_PLOTS", "save_regression_plots", "save_fit_plot"]

REGRESSION_PLOTS = ("parity.png", "residuals.png")


def _grid(n: int) -> tuple[int, int]:
    """Rows and columns of panels for ``n`` targets (at most 3 across)."""
    cols = min(n, 3)
    return math.ceil(n / cols), cols


def _save(fig, path: str) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_atomically(path, buffer.getvalue())


def save_regression_plots(folder: str, y_true: np.ndarray, y_pred: np.ndarray,
                          names: Sequence[str], dpi: int = 100) -> list[str]:
    """Write :data:`REGRESSION_PLOTS` into ``folder``, one panel per target (``y_true`` and
    ``y_pred`` of shape (N, K), in the targets' units); returns the file names. Needs
    matplotlib (``pip install chainrule[plot]``)."""
    from matplotlib.figure import Figure  # without pyplot: no GUI backend, no global state

    rows, cols = _grid(len(names))
    parity = Figure(figsize=(4.2 * cols, 4.0 * rows), dpi=dpi)
    residual = Figure(figsize=(4.6 * cols, 3.6 * rows), dpi=dpi)
    parity_axes = parity.subplots(rows, cols, squeeze=False).ravel()
    residual_axes = residual.subplots(rows, cols, squeeze=False).ravel()
    for k, name in enumerate(names):
        truth, pred = y_true[:, k], y_pred[:, k]
        ax = parity_axes[k]
        low = float(min(truth.min(), pred.min()))
        high = float(max(truth.max(), pred.max()))
        ax.plot([low, high], [low, high], color="grey", linewidth=1, label="predicted = true")
        ax.scatter(truth, pred, s=12, alpha=0.7)
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"predicted {name}")
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
        ax = residual_axes[k]
        ax.axhline(0.0, color="grey", linewidth=1)
        ax.scatter(pred, truth - pred, s=12, alpha=0.7)
        ax.set_xlabel(f"predicted {name}")
        ax.set_ylabel("residual (true - predicted)")
        ax.grid(alpha=0.3)
    for axes in (parity_axes, residual_axes):
        for ax in axes[len(names):]:
            ax.set_visible(False)
    parity.suptitle(f"test set: predicted against true ({len(y_true)} samples)")
    residual.suptitle("test set: residuals")
    for fig, name in zip((parity, residual), REGRESSION_PLOTS):
        fig.tight_layout()
        _save(fig, os.path.join(folder, name))
    return list(REGRESSION_PLOTS)


def save_fit_plot(folder: str, x: np.ndarray, y: np.ndarray, grid: np.ndarray,
                  curve: np.ndarray, x_name: str, y_name: str, dpi: int = 100) -> str:
    """``fit.png``: the test points (x, y) of a one-input regression and the model's curve
    (its predictions over ``grid``), all in the data's own units; returns the file name."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0), dpi=dpi)
    ax = fig.subplots()
    ax.scatter(x, y, s=12, alpha=0.6, label=f"test samples ({len(x)})")
    ax.plot(grid, curve, color="C1", linewidth=2, label="the model's prediction")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, os.path.join(folder, "fit.png"))
    return "fit.png"
