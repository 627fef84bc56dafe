"""Gradient flow: are the gradients reaching every layer at a useful size?

After a backward pass, :func:`gradient_flow` lists per parameter the gradient norm, the
weight norm and the update-to-weight ratio (how much one optimiser step changes the
weights, relative to their size). :func:`diagnose` runs one forward/backward on a copy of
a model and turns those numbers into a verdict in plain words:

* **vanishing** -- the earliest layers' weight gradients are orders of magnitude (below
  1e-3 times) smaller than the last layer's: the first layers barely learn. Typical cause:
  saturating activations (sigmoid/tanh) stacked deep, or too-small initial weights.
* **exploding** -- gradients that are NaN/Inf, that grow by more than 1e3 from the last
  layer back to the first, or updates larger than half the weights' norm per step (a
  healthy ratio is around 1e-3). Typical cause: too-large initial weights or learning rate.
* **healthy** -- none of the above.

:class:`GradientFlowCallback` collects the same statistics during training.

Example:
    >>> report = cr.explain.diagnose(model, x, y, cr.nn.MSELoss(), lr=0.1)   # doctest: +SKIP
    >>> print(report)                                                        # doctest: +SKIP
    >>> report.plot("gradient-flow.png")                                     # doctest: +SKIP
"""
from __future__ import annotations

import copy
import math
import textwrap
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from chainrule._html import escape, table as html_table
from chainrule.autograd import enable_grad
from chainrule.tensor import Tensor
from chainrule.train.callbacks import Callback

__all__ = ["ParameterFlow", "GradientFlow", "Finding", "DiagnosisReport", "gradient_flow",
           "diagnose", "weights_snapshot", "GradientFlowCallback", "VANISHING_RATIO",
           "EXPLODING_RATIO", "UPDATE_RATIO_LIMIT"]

#: earliest-layer / last-layer weight-gradient norm below this: vanishing
VANISHING_RATIO = 1e-3
#: earliest-layer / last-layer weight-gradient norm above this: exploding through depth
EXPLODING_RATIO = 1e3
#: update / weight norm above this for any weight matrix: steps too large
UPDATE_RATIO_LIMIT = 0.5
#: the rule of thumb for a healthy update / weight ratio
TYPICAL_UPDATE_RATIO = 1e-3


@dataclass
class ParameterFlow:
    """Statistics of one parameter: its gradient and weight norms (L2) and the update ratio
    ||delta w|| / ||w|` of one step (``None`` when neither lr nor weights before a step are
    known)."""

    name: str
    shape: tuple
    grad_norm: float
    weight_norm: float
    update_ratio: float | None
    finite: bool

    @property
    def is_weight(self) -> bool:
        """Weight matrices/kernels (2+ dims) carry the diagnosis; biases and norms' scales
        are reported but not judged (a bias that starts at zero has an infinite ratio)."""
        return len(self.shape) >= 2


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.3g}" if v == 0 or 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"


@dataclass
class GradientFlow:
    """Per-parameter gradient statistics, in the model's parameter order (for a Sequential,
    from the first layer to the last)."""

    params: list[ParameterFlow]
    lr: float | None = None

    @property
    def weights(self) -> list[ParameterFlow]:
        return [p for p in self.params if p.is_weight]

    def grad_norms(self) -> dict[str, float]:
        return {p.name: p.grad_norm for p in self.params}

    _HEAD = ("parameter", "shape", "grad norm", "weight norm", "update/weight")

    def _cells(self) -> list[tuple[str, ...]]:
        return [(p.name, "x".join(map(str, p.shape)) or "scalar", _fmt(p.grad_norm),
                 _fmt(p.weight_norm), _fmt(p.update_ratio)) for p in self.params]

    def table(self) -> str:
        head, rows = self._HEAD, self._cells()
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(head)]
        lines = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w)
                           for i, (h, w) in enumerate(zip(head, widths)))]
        lines.append("  ".join("-" * w for w in widths))
        for r in rows:
            lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        """Jupyter's display: the same table as ``str()``, as HTML."""
        return html_table(self._HEAD, self._cells(), right=range(2, 5))

    def plot(self, path: str, title: str | None = None) -> str:
        """Bar chart of the per-parameter gradient norms on a log scale, saved to ``path``."""
        return _plot_norms(self.params, path, title or "Gradient norm per parameter")


def _require_matplotlib():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib "
                          "(or pip install chainrule[plot])") from None
    return Figure


def _plot_norms(params: list[ParameterFlow], path: str, title: str) -> str:
    Figure = _require_matplotlib()
    fig = Figure(figsize=(max(5.0, 0.55 * len(params) + 2), 3.8))
    ax = fig.add_subplot(1, 1, 1)
    names = [p.name for p in params]
    # log axes cannot show 0 or non-finite values: draw them at the bottom, in red
    good = [p.grad_norm for p in params if math.isfinite(p.grad_norm) and p.grad_norm > 0]
    floor = min(good) / 10 if good else 1e-12
    heights = [p.grad_norm if math.isfinite(p.grad_norm) and p.grad_norm > 0 else floor
               for p in params]
    colors = ["tab:blue" if p.is_weight else "tab:gray" for p in params]
    colors = [c if math.isfinite(p.grad_norm) and p.grad_norm > 0 else "tab:red"
              for c, p in zip(colors, params)]
    ax.bar(range(len(params)), heights, color=colors)
    ax.set_yscale("log")
    ax.set_xticks(range(len(params)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("gradient L2 norm (log scale)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    return str(path)


# ---------------------------------------------------------------------------- collecting
def weights_snapshot(model) -> dict[str, np.ndarray]:
    """Copies of every parameter's values by name: take one before ``optimizer.step()`` and
    pass it as ``gradient_flow(model, before=...)`` to measure the real update ratios."""
    return {n: np.array(p.data, copy=True) for n, p in model.named_parameters()}


def _norm(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(a * a)))


def gradient_flow(model, lr: float | None = None, before: dict | None = None) -> GradientFlow:
    """Gradient and weight norms of every parameter after a backward pass.

    Args:
        model: a Module whose parameters hold gradients (call ``loss.backward()`` first).
        lr: the learning rate of plain SGD; the update ratio is then lr ||g|| / ||w||.
        before: weights from :func:`weights_snapshot` taken before an optimiser step; the
            update ratio is then ||w - w_before|| / ||w_before|| (right for any optimiser).

    Parameters without a gradient (frozen, or unused in the forward pass) are skipped.

    Example:
        >>> loss.backward()                                  # doctest: +SKIP
        >>> print(cr.explain.gradient_flow(model, lr=0.1))   # doctest: +SKIP
    """
    if not hasattr(model, "named_parameters"):
        raise TypeError(f"gradient_flow: expected a Module, got {type(model).__name__}")
    if lr is not None and (not isinstance(lr, (int, float)) or lr < 0):
        raise ValueError(f"gradient_flow: lr must be a non-negative number, got {lr!r}")
    stats = []
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        g = np.asarray(p.grad.data, dtype=np.float64)
        finite = bool(np.all(np.isfinite(g)))
        gn = _norm(g)
        if before is not None and name in before:
            old = np.asarray(before[name].data if isinstance(before[name], Tensor)
                             else before[name], dtype=np.float64)
            wn = _norm(old)
            moved = _norm(np.asarray(p.data, dtype=np.float64) - old)
            ratio = moved / wn if wn > 0 else (math.inf if moved > 0 else 0.0)
        else:
            wn = _norm(p.data)
            if lr is None:
                ratio = None
            else:
                ratio = lr * gn / wn if wn > 0 else (math.inf if lr * gn > 0 else 0.0)
        stats.append(ParameterFlow(name, tuple(int(s) for s in p.shape), gn, wn, ratio, finite))
    if not stats:
        raise ValueError("gradient_flow: no parameter has a gradient; run loss.backward() first")
    return GradientFlow(stats, float(lr) if lr is not None else None)


# ----------------------------------------------------------------------------- judging
@dataclass
class Finding:
    """One problem found: ``kind`` is "vanishing" or "exploding"."""

    kind: str
    message: str


def _assess(flow: GradientFlow, loss_value: float | None = None) -> list[Finding]:
    found: list[Finding] = []
    bad = [p.name for p in flow.params if not p.finite]
    if loss_value is not None and not math.isfinite(loss_value):
        found.append(Finding("exploding", f"the loss is {loss_value}: the forward pass already "
                                          f"overflowed"))
    if bad:
        found.append(Finding("exploding", f"gradients contain NaN or Inf in {', '.join(bad)}"))
    if found:
        return found
    weights = flow.weights
    if len(weights) >= 2:
        last = weights[-1]
        earlier = weights[:-1]
        if last.grad_norm == 0:
            if all(p.grad_norm == 0 for p in earlier):
                found.append(Finding("vanishing", "every weight gradient is exactly zero: no "
                                                  "signal reaches any layer (dead units or a "
                                                  "constant loss)"))
        else:
            low = min(earlier, key=lambda p: p.grad_norm)
            high = max(earlier, key=lambda p: p.grad_norm)
            if low.grad_norm / last.grad_norm < VANISHING_RATIO:
                found.append(Finding(
                    "vanishing",
                    f"the gradient of {low.name} is {_fmt(low.grad_norm / last.grad_norm)} "
                    f"times that of the last layer ({last.name}): {_fmt(low.grad_norm)} vs "
                    f"{_fmt(last.grad_norm)}; the early layers barely learn"))
            if high.grad_norm / last.grad_norm > EXPLODING_RATIO:
                found.append(Finding(
                    "exploding",
                    f"the gradient grows {_fmt(high.grad_norm / last.grad_norm)} times from the "
                    f"last layer ({last.name}) back to {high.name}: {_fmt(high.grad_norm)} vs "
                    f"{_fmt(last.grad_norm)}"))
    ratios = [p for p in weights if p.update_ratio is not None]
    if ratios:
        worst = max(ratios, key=lambda p: p.update_ratio)
        if worst.update_ratio > UPDATE_RATIO_LIMIT:
            found.append(Finding(
                "exploding",
                f"one step changes {worst.name} by {_fmt(worst.update_ratio)} times its own "
                f"norm (update/weight ratio; about {TYPICAL_UPDATE_RATIO:g} is healthy): the "
                f"steps are far too large"))
    return found


_ADVICE = {
    "vanishing": [
        "use ReLU (or LeakyReLU/GELU) instead of sigmoid/tanh in the hidden layers",
        "initialise with He (nn.init.kaiming_normal_) for ReLU, Xavier "
        "(nn.init.xavier_uniform_) for tanh/sigmoid",
        "add batch normalisation (nn.BatchNorm1d) after the hidden Linear layers",
        "use fewer layers or residual (skip) connections",
    ],
    "exploding": [
        "lower the learning rate (try 10x smaller)",
        "clip gradients: nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)",
        "initialise with He/Xavier (nn.init.kaiming_normal_ / xavier_uniform_) instead of "
        "large weights",
        "add batch normalisation (nn.BatchNorm1d) to keep activations in range",
    ],
}


@dataclass
class DiagnosisReport:
    """What :func:`diagnose` found: ``status`` ("healthy", "vanishing", "exploding" or
    "vanishing+exploding"), a plain-words ``verdict``, the ``findings``, the ``advice`` and
    the per-parameter ``flow``."""

    status: str
    verdict: str
    findings: list[Finding]
    advice: list[str]
    flow: GradientFlow
    loss: float | None

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"

    def __str__(self) -> str:
        facts = self._facts()
        lines = [f"Gradient flow: {self._WORDS[self.status]}"] + \
            ([", ".join(facts)] if facts else []) + ["", self.flow.table()]

        def bullets(items):
            return [line for item in items for line in
                    textwrap.wrap(item, 79, initial_indent="  - ", subsequent_indent="    ")]
        if self.findings:
            lines += ["", "Findings:"] + bullets(f"{f.kind}: {f.message}" for f in self.findings)
        if self.advice:
            lines += ["", "Try:"] + bullets(self.advice)
        if self.healthy:
            lines += [""] + textwrap.wrap(self.verdict[0].upper() + self.verdict[1:] + ".", 79)
        return "\n".join(lines)

    _WORDS = {"healthy": "healthy", "vanishing": "vanishing gradients",
              "exploding": "exploding gradients",
              "vanishing+exploding": "vanishing and exploding gradients"}

    def _facts(self) -> list[str]:
        return ([f"loss = {_fmt(self.loss)}"] if self.loss is not None else []) + \
            ([f"lr = {self.flow.lr:g}"] if self.flow.lr is not None else [])

    def _repr_html_(self) -> str:
        """Jupyter's display: the verdict (green when healthy, red otherwise), the
        per-parameter table, the findings and the advice, with ``str()``'s figures."""
        colour = "#1a7f37" if self.healthy else "#cf222e"
        facts = ", ".join(self._facts())
        out = [f'<p><b style="color:{colour}">Gradient flow: '
               f'{escape(self._WORDS[self.status])}</b>'
               + (f" ({escape(facts)})" if facts else "") + "</p>",
               self.flow._repr_html_()]

        def bullets(title: str, items: list[str]) -> str:
            return (f"<p><b>{title}</b></p><ul>"
                    + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>")
        if self.findings:
            out.append(bullets("Findings", [f"{f.kind}: {f.message}" for f in self.findings]))
        if self.advice:
            out.append(bullets("Try", self.advice))
        if self.healthy:
            out.append(f"<p>{escape(self.verdict[0].upper() + self.verdict[1:])}.</p>")
        return "".join(out)

    def plot(self, path: str) -> str:
        """Per-parameter gradient norms on a log scale (matplotlib), saved to ``path``."""
        return _plot_norms(self.flow.params, path, f"Gradient norm per parameter: {self.status}")


def _report(flow: GradientFlow, loss_value: float | None) -> DiagnosisReport:
    findings = _assess(flow, loss_value)
    kinds = sorted({f.kind for f in findings}, key=["vanishing", "exploding"].index)
    if not kinds:
        status = "healthy"
        verdict = ("healthy: gradients reach every layer at a similar scale"
                   + (" and the update sizes are reasonable" if flow.lr is not None else ""))
    else:
        status = "+".join(kinds)
        words = {"vanishing": "vanishing gradients", "exploding": "exploding gradients"}
        verdict = " and ".join(words[k] for k in kinds) + ": " + findings[0].message
    advice = [a for k in kinds for a in _ADVICE[k]]
    return DiagnosisReport(status, verdict, findings, list(dict.fromkeys(advice)), flow,
                           loss_value)


def diagnose(model, x, y, loss_fn: Callable, lr: float | None = 0.01) -> DiagnosisReport:
    """One forward/backward pass on a copy of ``model`` (the model itself and its gradients
    are left untouched), and a verdict on the gradient flow.

    Args:
        model: any Module.
        x, y: a representative batch (Tensors or arrays).
        loss_fn: ``loss_fn(model(x), y)`` -> scalar Tensor, e.g. ``cr.nn.MSELoss()``.
        lr: the learning rate you train with (SGD); ``None`` skips the update-ratio check.

    Example:
        >>> model = cr.nn.Sequential(*[m for _ in range(10)
        ...                            for m in (cr.nn.Linear(32, 32), cr.nn.Sigmoid())])
        >>> report = cr.explain.diagnose(model, cr.randn(64, 32), cr.randn(64, 32),
        ...                              cr.nn.MSELoss(), lr=0.1)
        >>> report.status
        'vanishing'
    """
    if not callable(loss_fn):
        raise TypeError(f"diagnose: loss_fn must be callable (e.g. cr.nn.MSELoss()), got "
                        f"{type(loss_fn).__name__}")
    work = copy.deepcopy(model)
    work.zero_grad()
    xt = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    yt = y if isinstance(y, Tensor) else Tensor(np.asarray(y))
    with enable_grad(), np.errstate(over="ignore", invalid="ignore"):
        loss = loss_fn(work(xt), yt)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError("diagnose: loss_fn must return a scalar Tensor")
        loss.backward()
    return _report(gradient_flow(work, lr=lr), float(loss.item()))


# ----------------------------------------------------------------------------- training
class GradientFlowCallback(Callback):
    """Collect gradient-flow statistics while training, and judge each epoch.

    Call ``on_batch_end(model)`` after ``loss.backward()`` (after or before
    ``optimizer.step()``; the gradients are still there until the next ``zero_grad``) and
    ``on_epoch_end(epoch)`` at the end of each epoch. With ``chainrule.train.fit`` pass it
    in ``callbacks=[...]``: the hooks then receive the loop state, and the learning rate
    and the real update sizes (weights before/after the step) are taken from it.

    After each epoch ``epochs`` gains a dict with the epoch number, the mean gradient norm
    and the mean update ratio of every parameter over its batches, and the verdict
    (``status``: "healthy", "vanishing", ...), judged as :func:`diagnose` judges.

    Example:
        >>> cb = GradientFlowCallback(lr=0.1)
        >>> for epoch in range(1, 4):                        # doctest: +SKIP
        ...     for xb, yb in loader:
        ...         opt.zero_grad(); loss_fn(model(xb), yb).backward(); opt.step()
        ...         cb.on_batch_end(model)
        ...     cb.on_epoch_end(epoch)
        >>> cb.epochs[-1]["status"]                          # doctest: +SKIP
        'healthy'
    """

    order = 50   # after the loop's own bookkeeping, before the progress display

    def __init__(self, lr: float | None = None, every: int = 1, verbose: bool = False):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"GradientFlowCallback: every must be a positive int, got {every!r}")
        self.lr = lr
        self.every = every
        self.verbose = verbose
        self.batches: list[dict[str, Any]] = []   # this epoch's per-batch stats
        self.epochs: list[dict[str, Any]] = []    # one summary per finished epoch
        self._before: dict | None = None
        self._count = 0

    # chainrule.train.fit passes its TrainState; a plain loop passes the model / epoch.
    @staticmethod
    def _model_of(arg):
        return arg if hasattr(arg, "named_parameters") else getattr(arg, "model", arg)

    def on_batch_begin(self, state) -> None:
        """With the training loop: remember the weights, to measure the real update."""
        sampled = self._count % self.every == 0      # the batch on_batch_end will record
        self._before = weights_snapshot(self._model_of(state)) if sampled else None

    def on_batch_end(self, model_or_state) -> None:
        """Record the gradient norms (and update ratios) of this batch."""
        self._count += 1
        if (self._count - 1) % self.every:
            self._before = None
            return
        model = self._model_of(model_or_state)
        lr = self.lr
        if lr is None and hasattr(model_or_state, "optimizer"):
            lr = float(model_or_state.optimizer.param_groups[0]["lr"])
        try:
            flow = gradient_flow(model, lr=lr, before=self._before)
        finally:
            self._before = None
        self.batches.append({"flow": flow})

    def on_epoch_end(self, epoch_or_state) -> None:
        """Average this epoch's batches, judge them, and start the next epoch."""
        epoch = epoch_or_state if isinstance(epoch_or_state, (int, np.integer)) else \
            getattr(epoch_or_state, "epoch", len(self.epochs) + 1)
        if not self.batches:
            return
        names = [p.name for p in self.batches[0]["flow"].params]
        mean = {}
        for i, name in enumerate(names):
            ps = [b["flow"].params[i] for b in self.batches if len(b["flow"].params) > i]
            ratios = [p.update_ratio for p in ps if p.update_ratio is not None]
            mean[name] = ParameterFlow(
                name, ps[0].shape, float(np.mean([p.grad_norm for p in ps])),
                float(np.mean([p.weight_norm for p in ps])),
                float(np.mean(ratios)) if ratios else None, all(p.finite for p in ps))
        flow = GradientFlow(list(mean.values()), self.batches[-1]["flow"].lr)
        report = _report(flow, None)
        self.epochs.append({
            "epoch": int(epoch), "batches": len(self.batches),
            "grad_norm": {n: p.grad_norm for n, p in mean.items()},
            "update_ratio": {n: p.update_ratio for n, p in mean.items()},
            "status": report.status, "verdict": report.verdict, "report": report})
        if self.verbose and not report.healthy:
            print(f"epoch {epoch}: gradient flow: {report.verdict}", flush=True)
        self.batches = []

    def plot(self, path: str) -> str:
        """Mean gradient norm of every parameter per epoch, log scale, saved to ``path``."""
        if not self.epochs:
            raise ValueError("GradientFlowCallback.plot: no finished epoch yet")
        Figure = _require_matplotlib()
        fig = Figure(figsize=(6.5, 4))
        ax = fig.add_subplot(1, 1, 1)
        epochs = [e["epoch"] for e in self.epochs]
        for name in self.epochs[0]["grad_norm"]:
            ax.plot(epochs, [max(e["grad_norm"].get(name, np.nan), 1e-30) for e in self.epochs],
                    marker="o", label=name)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean gradient L2 norm (log scale)")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(path)
        return str(path)
