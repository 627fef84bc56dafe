"""Pictures of attributions (matplotlib, without pyplot's global state): heatmaps over an
image, bars per tabular feature, colours over the characters of a text. Every figure is
written atomically (a uniquely named temporary file in the same folder, then a rename)."""
from __future__ import annotations

import io
import os
from typing import Sequence

import numpy as np

from chainrule.io import write_atomically

__all__ = ["save_figure", "new_figure", "image_panels", "feature_bars", "text_colours",
           "Panel"]


def new_figure(width: float, height: float):
    """A matplotlib Figure (no pyplot: no GUI backend, no global state)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("drawing attributions needs matplotlib: pip install matplotlib "
                          "(or pip install chainrule[plot])") from None
    return Figure(figsize=(width, height), dpi=100)


def save_figure(fig, path: str | os.PathLike) -> str:
    """Render ``fig`` in the format its suffix names (png, pdf, svg, ...) and write it
    atomically; returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write the figure {path!r}: folder {folder!r} does "
                                f"not exist")
    suffix = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format=suffix)
    write_atomically(path, buffer.getvalue())
    return path


class Panel:
    """One heatmap: a title, the map (H, W) and whether its sign matters.

    Signed maps use a diverging colour scale centred on zero (red: raises the target,
    blue: lowers it); unsigned ones (saliency, Grad-CAM) a sequential one."""

    def __init__(self, title: str, values: np.ndarray, signed: bool):
        self.title, self.values, self.signed = title, np.asarray(values, np.float64), signed


def _overlay(ax, image: np.ndarray, panel: Panel) -> None:
    ax.imshow(image, cmap="gray", interpolation="nearest")
    v = panel.values
    limit = float(np.abs(v).max()) or 1.0
    if panel.signed:
        im = ax.imshow(v, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.65,
                       interpolation="nearest")
    else:
        im = ax.imshow(v, cmap="inferno", vmin=0, vmax=limit, alpha=0.6,
                       interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    ax.set_title(panel.title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def image_panels(image: np.ndarray | None, panels: Sequence[Panel], title: str = "",
                 rows: Sequence[tuple[np.ndarray, Sequence[Panel], str]] | None = None):
    """The input image beside each panel's heatmap laid over it; ``rows`` (instead of
    ``image`` and ``panels``) draws several inputs, one per row (each ``(image, panels,
    row title)``). Returns the Figure."""
    rows = list(rows) if rows is not None else [(image, panels, "input")]
    cols = 1 + max(len(p) for _, p, _ in rows)
    fig = new_figure(2.6 * cols, 2.5 * len(rows) + (0.4 if title else 0))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (img, ps, row_title) in enumerate(rows):
        axes[r, 0].imshow(img, cmap="gray", interpolation="nearest")
        axes[r, 0].set_title(row_title or "input", fontsize=9)
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        for c in range(1, cols):
            if c - 1 < len(ps):
                _overlay(axes[r, c], img, ps[c - 1])
            else:
                axes[r, c].axis("off")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def feature_bars(names: Sequence[str], series: dict[str, np.ndarray], title: str,
                 top: int = 20):
    """Horizontal bars of per-feature attributions, one panel per method (``series``: method
    name -> values). The ``top`` features largest in magnitude under the first method are
    shown, largest at the top; red pushes towards the target class, blue away. Returns the
    Figure."""
    first = np.asarray(next(iter(series.values())), np.float64)
    order = np.argsort(-np.abs(first))[:top][::-1]
    fig = new_figure(3.6 * len(series) + 1.5, 1.1 + 0.28 * len(order))
    axes = fig.subplots(1, len(series), squeeze=False)[0]
    for k, (ax, (method, values)) in enumerate(zip(axes, series.items())):
        values = np.asarray(values, np.float64)
        colours = ["tab:red" if values[i] > 0 else "tab:blue" for i in order]
        ax.barh(range(len(order)), values[order], color=colours)
        ax.set_yticks(range(len(order)))
        ax.set_yticklabels([names[i] for i in order] if k == 0 else [], fontsize=8)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(method, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    note = f" (top {len(order)} of {len(first)} features)" if len(first) > len(order) else ""
    fig.suptitle(title + note, fontsize=10)
    fig.tight_layout()
    return fig


def text_colours(chars: Sequence[str], series: dict[str, np.ndarray], title: str,
                 per_line: int = 32):
    """The characters in boxes coloured by their attribution, one block per method
    (``series``: method name -> one value per character; red raises the target, blue
    lowers it), ``per_line`` characters a line. Returns the Figure."""
    from matplotlib import colormaps
    cmap = colormaps["bwr"]
    lines = max(1, -(-len(chars) // per_line))
    width = min(len(chars), per_line)
    fig = new_figure(0.3 * width + 1.6, (0.42 * lines + 0.45) * len(series) + 0.6)
    axes = fig.subplots(len(series), 1, squeeze=False)[:, 0]
    for ax, (method, values) in zip(axes, series.items()):
        values = np.asarray(values, np.float64)
        limit = float(np.abs(values).max()) or 1.0
        for i, (ch, v) in enumerate(zip(chars, values)):
            row, col = divmod(i, per_line)
            ax.add_patch(_box(col, -row, cmap(0.5 + 0.5 * v / limit)))
            shown = {"\n": "\u21b5", " ": "\u2423", "\t": "\u21e5"}.get(ch, ch)
            ax.text(col + 0.5, -row + 0.5, shown, ha="center", va="center", fontsize=10,
                    family="monospace")
        ax.set_xlim(0, width)
        ax.set_ylim(-lines + 1, 1)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(method, fontsize=9, loc="left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _box(x: float, y: float, colour):
    from matplotlib.patches import Rectangle
    return Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white")
