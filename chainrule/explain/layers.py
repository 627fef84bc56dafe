"""Layer views: what each named layer of a model computed for an input, the gradient of the
prediction with respect to it, and how many of its units were dead or saturated.

    >>> import chainrule as cr
    >>> model = cr.nn.Sequential(cr.nn.Conv2d(1, 6, 3), cr.nn.ReLU(), cr.nn.Flatten(),
    ...                          cr.nn.Linear(6 * 26 * 26, 10))
    >>> views = cr.explain.layers(model, cr.randn(1, 1, 28, 28))
    >>> views["0"].activation.shape          # the conv layer's 6 feature maps
    (1, 6, 26, 26)
    >>> text = str(views)                    # one line per layer
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from chainrule import nn
from chainrule.autograd import enable_grad, grad
from chainrule.explain.attribution._common import select
from chainrule.tensor import Tensor

__all__ = ["layers", "LayerView", "LayerViews", "SATURATION"]

# An output this close to a squashing function's bound has a derivative below about 0.02
# (tanh: 1 - 0.99^2; sigmoid: 0.99 * 0.01): backpropagation barely passes through it.
SATURATION = 0.99
_RELU_LIKE = (nn.ReLU,)
_SQUASHING = {nn.Tanh: (-1.0, 1.0), nn.Sigmoid: (0.0, 1.0)}


@dataclass
class LayerView:
    """One layer's output for the input, and the gradient of the explained value with
    respect to it. ``dead``: units (values of one example's output) that are exactly zero
    after a ReLU, for every example; ``saturated``: tanh/sigmoid outputs within 1 %
    of their bounds, for every example; ``None`` for layers that are neither."""
    name: str
    kind: str
    activation: np.ndarray
    gradient: np.ndarray | None
    dead: int | None = None
    saturated: int | None = None

    @property
    def units(self) -> int:
        return int(np.prod(self.activation.shape[1:]))

    def line(self) -> str:
        act = self.activation
        g = "-" if self.gradient is None else f"{float(np.sqrt((self.gradient ** 2).sum())):.3g}"
        counts = []
        if self.dead is not None:
            counts.append(f"dead {self.dead}/{self.units} ({100 * self.dead / self.units:.0f}%)")
        if self.saturated is not None:
            counts.append(f"saturated {self.saturated}/{self.units} "
                          f"({100 * self.saturated / self.units:.0f}%)")
        return (f"{self.name:<14} {self.kind:<12} {str(tuple(act.shape)):<18} "
                f"{float(act.mean()):>9.3g} {float(act.std()):>9.3g} {g:>9}  "
                f"{', '.join(counts)}")


class LayerViews:
    """The views of every layer, by name (``views["conv1"]``), in the order they ran."""

    def __init__(self, views: Sequence[LayerView], output: np.ndarray, target):
        self.views = list(views)
        self.output = output
        self.target = target
        self._by_name = {v.name: v for v in self.views}

    def __getitem__(self, name: str) -> LayerView:
        if name not in self._by_name:
            raise KeyError(f"no layer named {name!r}; the model's layers are "
                           f"{', '.join(self._by_name)}")
        return self._by_name[name]

    def __iter__(self) -> Iterator[LayerView]:
        return iter(self.views)

    def __len__(self) -> int:
        return len(self.views)

    def __str__(self) -> str:
        head = (f"{'layer':<14} {'type':<12} {'shape':<18} {'mean':>9} {'std':>9} "
                f"{'|grad|':>9}  dead / saturated units")
        return "\n".join([head, "-" * len(head)] + [v.line() for v in self.views])

    def plot_feature_maps(self, name: str, path: str | os.PathLike, example: int = 0,
                          gradients: bool = False, columns: int = 8) -> str:
        """Draw one layer's feature maps ``(C, H, W)`` of one example as a grid of images
        (or its gradients, with ``gradients=True``), written to ``path``; returns it."""
        from chainrule.explain.attribution.figures import new_figure, save_figure
        view = self[name]
        maps = view.gradient if gradients else view.activation
        if maps is None:
            raise ValueError(f"layer {name!r} has no gradient (the explained value does not "
                             f"depend on it)")
        if maps.ndim != 4:
            raise ValueError(f"layer {name!r} has output shape {maps.shape}, not feature maps "
                             f"(N, C, H, W); plot_feature_maps draws conv layers")
        maps = maps[example]
        cols = min(columns, len(maps))
        rows = math.ceil(len(maps) / cols)
        fig = new_figure(1.5 * cols, 1.5 * rows + 0.5)
        axes = fig.subplots(rows, cols, squeeze=False)
        limit = float(np.abs(maps).max()) or 1.0
        for i, ax in enumerate(axes.flat):
            ax.set_xticks([])
            ax.set_yticks([])
            if i >= len(maps):
                ax.axis("off")
                continue
            if gradients:
                ax.imshow(maps[i], cmap="bwr", vmin=-limit, vmax=limit, interpolation="nearest")
            else:
                ax.imshow(maps[i], cmap="viridis", interpolation="nearest")
            ax.set_title(f"{i}", fontsize=7)
        what = "gradients" if gradients else "feature maps"
        fig.suptitle(f"layer {name} ({view.kind}): {what}, {tuple(maps.shape)}", fontsize=10)
        fig.tight_layout()
        return save_figure(fig, path)


def _counts(module: nn.Module, act: np.ndarray) -> tuple[int | None, int | None]:
    per_unit = act.reshape(len(act), -1)
    if isinstance(module, _RELU_LIKE):
        return int(np.all(per_unit == 0, axis=0).sum()), None
    for kind, (low, high) in _SQUASHING.items():
        if isinstance(module, kind):
            # distance to the nearer bound, as a fraction of the range
            scaled = (per_unit - low) / (high - low)
            near = np.minimum(scaled, 1 - scaled) < 1 - SATURATION
            return None, int(np.all(near, axis=0).sum())
    return None, None


def layers(model: nn.Module, x, target=None, names: Sequence[str] | None = None) -> LayerViews:
    """Run ``model`` on ``x`` (a batch, usually of one input) and record every leaf layer's
    output, its gradient, and dead-ReLU / saturation counts.

    ``target`` picks the value explained (as in the attribution methods): default, each
    example's largest output (the predicted class). ``names`` limits the record to those
    layers (dotted names from ``model.named_modules()``). Layers whose output is not a
    tensor (an LSTM's tuple) are listed with their first element.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"layers: model must be an nn.Module, got {type(model).__name__}")
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    leaves = [(name, m) for name, m in model.named_modules()
              if name and not any(True for _ in m.children())]
    if names is not None:
        known = {name for name, _ in model.named_modules()}
        missing = [n for n in names if n not in known]
        if missing:
            raise KeyError(f"layers: no layer named {', '.join(map(repr, missing))}; the "
                           f"model's layers are {', '.join(n for n, _ in leaves)}")
        leaves = [(name, m) for name, m in model.named_modules() if name in set(names)]
    seen: list[tuple[str, nn.Module, Tensor]] = []
    handles = []
    for name, module in leaves:
        def record(mod, args, out, name=name):
            first = out[0] if isinstance(out, tuple) else out
            if isinstance(first, Tensor):
                seen.append((name, mod, first))
        handles.append(module.register_forward_hook(record))
    leaf = Tensor(x._array, requires_grad=x.dtype.kind == "f")
    try:
        with enable_grad():
            out = model(leaf)
            if target is None and int(np.prod(out.shape[1:])) > 1:
                target = [tuple(int(i) for i in np.unravel_index(np.argmax(row), row.shape))
                          if row.ndim > 1 else int(np.argmax(row)) for row in out._array]
            picked = select(out, target)
            tracked = [t for _, _, t in seen if t.requires_grad]
            got = grad(picked.sum(), tracked, allow_unused=True) if tracked else ()
    finally:
        for h in handles:
            h.remove()
    grads = {id(t): (None if g is None else g._array) for t, g in zip(tracked, got)}
    views = []
    for name, module, t in seen:
        dead, saturated = _counts(module, t._array)
        views.append(LayerView(name, type(module).__name__, t._array, grads.get(id(t)), dead,
                               saturated))
    return LayerViews(views, out._array, target)
