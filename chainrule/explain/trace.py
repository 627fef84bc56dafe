"""One training step of a small fully-connected network, worked out number by number.

``trace(model, x, y)`` reads the weights of a ``Sequential`` of ``Linear`` layers (each
optionally followed by ``Sigmoid``, ``Tanh``, ``ReLU`` or ``Identity``), copies them to float64
and computes one step of gradient descent with the textbook formulas, written out here
independently of the autograd engine:

    forward      z_l = W_l a_{l-1} + b_l,        a_l = f_l(z_l),   a_0 = x
    output error delta_L = dJ/dz_L
    hidden error delta_l = (W_{l+1}^T delta_{l+1}) * f_l'(z_l)      (* is elementwise)
    gradients    dJ/dW_l = delta_l a_{l-1}^T,   dJ/db_l = delta_l
    update       w <- w - alpha dJ/dw

Before anything is shown, every value and gradient is compared with what chainrule's
autograd computes for the same model and loss (a float64 copy of the model's own modules,
run forward and backward); a disagreement raises :class:`TraceMismatchError`.

Losses (the per-sample loss sums over output units; for a batch, J is the mean over the
samples, so every delta carries a factor 1/B):

    "mse"       J = sum_k (y_k - yhat_k)^2              (no 1/2: the classic 2-3-1 example)
    "mse_half"  J = 1/2 sum_k (y_k - yhat_k)^2
    "ce"        J = -sum_k y_k log softmax(z_L)_k       (targets: class indices or one-hot;
                the last Linear gives logits, as for PyTorch's CrossEntropyLoss)
    "bce"       J = -sum_k [y_k log yhat_k + (1 - y_k) log(1 - yhat_k)],  yhat = sigmoid(z_L)
                (the last Linear is followed by Sigmoid, or by nothing: then the loss
                applies the sigmoid, as BCEWithLogitsLoss does)

With one output unit and one sample "mse" equals ``nn.MSELoss()``; in general it is
``MSELoss(reduction="sum") / batch_size``.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.autograd import enable_grad, no_grad
from chainrule.explain import render as R
from chainrule.ops import log, log_softmax, sigmoid
from chainrule.tensor import Tensor

__all__ = ["trace", "Trace", "TraceStep", "TraceMismatchError", "LOSSES", "ACTIVATIONS"]

LOSSES = ("mse", "mse_half", "ce", "bce")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
FORMATS = ("text", "markdown", "steps", "json")

# Tolerance of the autograd cross-check: both sides are float64 evaluations of the same
# formulas in a different order, so they agree to rounding (~1e-16 relative).
_RTOL = 1e-9
_ATOL = 1e-13


class TraceMismatchError(AssertionError):
    """A hand-derived value of the trace disagrees with chainrule's autograd."""


@dataclass
class TraceStep:
    """One line of the worked example: a named quantity, its formula and its value.

    ``kind`` is one of "linear", "activation", "loss", "loss_grad", "output_error",
    "hidden_error", "grad_weight", "grad_bias", "update_weight", "update_bias".
    ``value`` and the ``operands`` (the values substituted into the formula) are float64
    ndarrays; for a batch they hold one row per sample. ``checked`` is True when the value
    was compared with chainrule's autograd (forward values and all gradients are).
    """

    step: int
    kind: str
    layer: int | None
    name: str
    formula: str
    latex: str
    value: np.ndarray
    operands: dict[str, np.ndarray] = field(default_factory=dict)
    activation: str | None = None
    checked: bool = False

    def to_dict(self) -> dict:
        """JSON-friendly copy: arrays become nested lists."""
        return {
            "step": self.step, "kind": self.kind, "layer": self.layer, "name": self.name,
            "formula": self.formula, "latex": self.latex, "activation": self.activation,
            "checked": self.checked, "value": np.asarray(self.value).tolist(),
            "operands": {k: np.asarray(v).tolist() for k, v in self.operands.items()},
        }


@dataclass
class Trace:
    """Everything a rendering needs: the network, the data, and the steps in order."""

    sizes: list[int]                 # [n_0, n_1, ..., n_L]
    activations: list[str]           # what follows each Linear ("identity" for nothing)
    output: str                      # the function giving yhat from z_L
    loss: str
    lr: float
    x: np.ndarray                    # (B, n_0)
    y: np.ndarray                    # (B, n_L); one-hot for "ce"
    single: bool                     # one sample given as a vector
    has_bias: list[bool]
    steps: list[TraceStep]
    losses: list[float]              # J before the update of each step
    final_loss: float                # J after the last update
    parameters: list[tuple[np.ndarray, np.ndarray | None]]   # after the last update

    @property
    def batch_size(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_steps(self) -> int:
        return len(self.losses)

    def to_text(self, precision: int = 6) -> str:
        return R.render_text(self, precision)

    def to_markdown(self, precision: int = 6) -> str:
        return R.render_markdown(self, precision)

    def to_dicts(self) -> list[dict]:
        return [s.to_dict() for s in self.steps]

    def to_json(self, indent: int | None = 2) -> str:
        """The whole trace as JSON: the network, the data, the steps and the losses."""
        doc = {
            "sizes": self.sizes, "activations": self.activations, "output": self.output,
            "loss": self.loss, "lr": self.lr, "batch_size": self.batch_size,
            "x": self.x.tolist(), "y": self.y.tolist(), "losses": self.losses,
            "final_loss": self.final_loss, "steps": self.to_dicts(),
            "parameters": [{"weight": w.tolist(), "bias": None if b is None else b.tolist()}
                           for w, b in self.parameters],
        }
        return json.dumps(doc, indent=indent)

    def __str__(self) -> str:
        return self.to_text()


class Rendered(str):
    """Text that shows itself as text (not as a quoted repr) in a REPL or notebook."""

    def __repr__(self) -> str:
        return str(self)


class RenderedMarkdown(Rendered):
    """Markdown that Jupyter renders (LaTeX included) when it is a cell's result."""

    def _repr_markdown_(self) -> str:
        return str(self)


# ----------------------------------------------------------------------- reading the model
@dataclass
class _Layer:
    weight: np.ndarray
    bias: np.ndarray | None
    activation: str
    linear: Any = None        # the Linear module
    act_module: Any = None    # the activation module (None when nothing follows)


def _flatten_modules(model) -> list:
    if isinstance(model, nn.Sequential):
        out = []
        for child in model.children():
            out.extend(_flatten_modules(child))
        return out
    return [model]


def _activation_name(module) -> str:
    table = [(nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"), (nn.ReLU, "relu"),
             (nn.Identity, "identity"), (nn.Softmax, "softmax")]
    for cls, name in table:
        if type(module) is cls:
            if name == "softmax" and module.dim not in (-1, 1, None):
                raise ValueError(f"trace: Softmax must act over the last dim (features), "
                                 f"got dim={module.dim}")
            return name
    raise TypeError(
        f"trace: cannot explain a {type(module).__name__} layer; the model must be a "
        f"Sequential of Linear layers, each optionally followed by Sigmoid, Tanh, ReLU or "
        f"Identity (Softmax only last, with loss='ce')")


def _read_layers(model) -> list[_Layer]:
    modules = _flatten_modules(model)
    if not modules or not isinstance(modules[0], nn.Linear):
        first = type(modules[0]).__name__ if modules else "nothing"
        raise TypeError(f"trace: the model must start with a Linear layer, it starts with "
                        f"{first}")
    layers: list[_Layer] = []
    i = 0
    while i < len(modules):
        lin = modules[i]
        if not isinstance(lin, nn.Linear):
            raise TypeError(f"trace: expected a Linear layer at position {i} of the model, got "
                            f"{type(lin).__name__} (at most one activation follows each Linear)")
        act, act_mod = "identity", None
        if i + 1 < len(modules) and not isinstance(modules[i + 1], nn.Linear):
            act_mod = modules[i + 1]
            act = _activation_name(act_mod)
            i += 1
        w = np.array(lin.weight._array, dtype=np.float64)
        b = None if lin.bias is None else np.array(lin.bias._array, dtype=np.float64)
        layers.append(_Layer(w, b, act, lin, act_mod))
        i += 1
    for k in range(1, len(layers)):
        if layers[k].weight.shape[1] != layers[k - 1].weight.shape[0]:
            raise ValueError(f"trace: layer {k + 1} expects {layers[k].weight.shape[1]} inputs "
                             f"but layer {k} gives {layers[k - 1].weight.shape[0]} outputs")
    for k, layer in enumerate(layers[:-1]):
        if layer.activation == "softmax":
            raise TypeError(f"trace: Softmax may only follow the last Linear (with loss='ce'), "
                            f"found after layer {k + 1}")
    return layers


def _output_function(loss: str, last_activation: str) -> str:
    if loss == "ce":
        if last_activation not in ("identity", "softmax"):
            raise ValueError(f"trace: loss='ce' applies softmax to the logits of the last "
                             f"Linear; the model's last layer is followed by {last_activation} "
                             f"(remove it, or end with Softmax)")
        return "softmax"
    if loss == "bce":
        if last_activation not in ("identity", "sigmoid"):
            raise ValueError(f"trace: loss='bce' needs a sigmoid output; the model's last layer "
                             f"is followed by {last_activation} (use Sigmoid or nothing)")
        return "sigmoid"
    if last_activation == "softmax":
        raise ValueError(f"trace: a Softmax output goes with loss='ce', not loss={loss!r}")
    return last_activation


# ------------------------------------------------------------------------- data checking
def _array(v, what: str) -> np.ndarray:
    if isinstance(v, Tensor):
        v = v._array
    try:
        return np.asarray(v)
    except (TypeError, ValueError):
        raise TypeError(f"trace: {what} must be numbers, a list or an array, got "
                        f"{type(v).__name__}") from None


def _prepare_x(x, n_in: int) -> tuple[np.ndarray, bool]:
    arr = _array(x, "x").astype(np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 1:
        if arr.shape[0] != n_in:
            raise ValueError(f"trace: x has {arr.shape[0]} values but the first Linear expects "
                             f"{n_in} inputs")
        return arr.reshape(1, n_in), True
    if arr.ndim == 2 and arr.shape[1] == n_in and arr.shape[0] >= 1:
        return arr, False
    raise ValueError(f"trace: x must have shape ({n_in},) for one sample or (batch, {n_in}) "
                     f"for a batch, got {arr.shape}")


def _prepare_y(y, loss: str, batch: int, n_out: int, single: bool) -> np.ndarray:
    arr = _array(y, "y")
    want = f"({n_out},)" if single else f"({batch}, {n_out})"
    if loss == "ce" and arr.dtype.kind in "iub":
        idx = arr.reshape(-1).astype(np.int64)
        if idx.shape[0] != batch or (arr.ndim > (0 if single else 1)):
            want_idx = "one int" if single else f"shape ({batch},)"
            raise ValueError(f"trace: class-index targets for loss='ce' must be {want_idx}, "
                             f"got shape {arr.shape}; for one-hot targets pass floats "
                             f"(e.g. [0.0, 1.0])")
        if idx.min() < 0 or idx.max() >= n_out:
            raise ValueError(f"trace: class indices must lie in [0, {n_out}), got {idx.tolist()}")
        return np.eye(n_out)[idx]
    arr = arr.astype(np.float64)
    if arr.size == batch * n_out and (arr.ndim <= 1 and (single or n_out == 1)
                                       or arr.shape == (batch, n_out)):
        out = arr.reshape(batch, n_out)
    else:
        raise ValueError(f"trace: y must have shape {want} to match the network's {n_out} "
                         f"output(s){' and batch' if not single else ''}, got {arr.shape}")
    if loss == "ce" and not np.allclose(out.sum(axis=1), 1.0, atol=1e-9):
        raise ValueError("trace: one-hot (or probability) targets for loss='ce' must sum to 1 "
                         "in every row; pass class indices as ints otherwise")
    if loss == "bce" and (out.min() < 0 or out.max() > 1):
        raise ValueError("trace: targets for loss='bce' must lie in [0, 1]")
    return out


# ------------------------------------------------------------ the hand computation (NumPy)
def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return z.copy()


def _act_derivative(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(z) written through the output where that is the textbook form."""
    if name == "sigmoid":
        return a * (1.0 - a)          # sigma' = sigma (1 - sigma)
    if name == "tanh":
        return 1.0 - a * a            # tanh' = 1 - tanh^2
    if name == "relu":
        return (z > 0).astype(np.float64)   # 1 where z > 0, else 0 (0 at z = 0, as PyTorch)
    return np.ones_like(z)


def _loss_value(loss: str, z_out: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> float:
    batch = y.shape[0]
    if loss == "mse":
        return float(np.sum((y - yhat) ** 2) / batch)
    if loss == "mse_half":
        return float(0.5 * np.sum((y - yhat) ** 2) / batch)
    if loss == "ce":   # -sum y log softmax(z), log-softmax formed stably
        shifted = z_out - z_out.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-np.sum(y * log_p) / batch)
    # bce through z: log sigma(z) = -log(1 + e^-z), log(1 - sigma(z)) = -log(1 + e^z)
    return float(np.sum(y * np.logaddexp(0.0, -z_out) + (1 - y) * np.logaddexp(0.0, z_out))
                 / batch)


@dataclass
class _Pass:
    """One forward and backward pass of the hand computation, all (B, n) arrays."""
    zs: list[np.ndarray]
    acts: list[np.ndarray]
    derivs: list[np.ndarray]
    yhat: np.ndarray
    loss: float
    dj_dyhat: np.ndarray | None
    deltas: list[np.ndarray]
    grad_w: list[np.ndarray]
    grad_b: list[np.ndarray]


def _forward(params, activations, output, x):
    zs, acts = [], []
    a = x
    for (w, b), act in zip(params, activations):
        z = a @ w.T + (b if b is not None else 0.0)
        zs.append(z)
        a = _act(act, z)
        acts.append(a)
    yhat = _act(output, zs[-1]) if output != activations[-1] else acts[-1]
    return zs, acts, yhat


def _hand_pass(params, activations, output, loss, x, y) -> _Pass:
    batch = x.shape[0]
    zs, acts, yhat = _forward(params, activations, output, x)
    derivs = [_act_derivative(f, z, a) for f, z, a in zip(activations, zs, acts)]
    j = _loss_value(loss, zs[-1], yhat, y)
    n = len(params)
    deltas: list[np.ndarray] = [np.empty(0)] * n
    dj_dyhat = None
    if loss in ("mse", "mse_half"):
        scale = 2.0 if loss == "mse" else 1.0
        dj_dyhat = scale * (yhat - y) / batch          # d/dyhat of (y - yhat)^2 = -2 (y - yhat)
        deltas[-1] = dj_dyhat * derivs[-1]
    else:
        deltas[-1] = (yhat - y) / batch                 # softmax/sigmoid + cross-entropy
    for l in range(n - 2, -1, -1):
        w_next = params[l + 1][0]
        deltas[l] = (deltas[l + 1] @ w_next) * derivs[l]   # (W^T delta) * f'(z), row form
    inputs = [x] + acts[:-1]
    grad_w = [d.T @ a for d, a in zip(deltas, inputs)]     # delta a^T, summed over samples
    grad_b = [d.sum(axis=0) for d in deltas]
    return _Pass(zs, acts, derivs, yhat, j, dj_dyhat, deltas, grad_w, grad_b)


# --------------------------------------------------------- the cross-check against autograd
def _reference(model, params, output: str, loss: str, x: np.ndarray, y: np.ndarray) -> dict:
    """Run a float64 copy of the model's own modules forward and backward with chainrule's
    autograd; return the values and gradients that the trace shows."""
    ref = copy.deepcopy(model)
    ref.double()
    layers = _read_layers(ref)
    for layer, (w, b) in zip(layers, params):
        layer.linear.weight._array = w.copy()
        layer.linear.weight.grad = None
        if b is not None:
            layer.linear.bias._array = b.copy()
            layer.linear.bias.grad = None
    batch = x.shape[0]
    with enable_grad():
        a = Tensor(x.copy())
        zs, acts = [], []
        for layer in layers:
            z = layer.linear(a)
            z.retain_grad()
            a = layer.act_module(z) if layer.act_module is not None else z
            if a is not z:
                a.retain_grad()
            zs.append(z)
            acts.append(a)
        yt = Tensor(y.copy())
        last = layers[-1]
        if loss in ("mse", "mse_half"):
            j = ((acts[-1] - yt) ** 2).sum() * ((1.0 if loss == "mse" else 0.5) / batch)
        elif loss == "ce":
            log_p = (log_softmax(zs[-1], -1) if last.activation == "identity"
                     else log(acts[-1]))
            j = -(yt * log_p).sum() * (1.0 / batch)
        else:
            p = acts[-1] if last.activation == "sigmoid" else sigmoid(zs[-1])
            j = -(yt * log(p) + (1 - yt) * log(1 - p)).sum() * (1.0 / batch)
        j.backward()
    whole = ref(Tensor(x.copy()))._array
    return {
        "zs": [z._array for z in zs], "acts": [t._array for t in acts], "loss": float(j._array),
        "output": whole,
        "dj_dyhat": acts[-1].grad._array if acts[-1].grad is not None else None,
        "deltas": [z.grad._array for z in zs],
        "grad_w": [l.linear.weight.grad._array for l in layers],
        "grad_b": [None if l.linear.bias is None else l.linear.bias.grad._array for l in layers],
    }


def _check(name: str, step: int, mine, theirs) -> None:
    mine = np.asarray(mine, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    if mine.shape != theirs.shape:
        theirs = theirs.reshape(mine.shape) if theirs.size == mine.size else theirs
    if mine.shape != theirs.shape or not np.allclose(mine, theirs, rtol=_RTOL, atol=_ATOL):
        diff = (np.max(np.abs(mine - theirs)) if mine.shape == theirs.shape else "shapes differ")
        raise TraceMismatchError(
            f"explain.trace: {name} (step {step}) from the hand-derived formula disagrees with "
            f"chainrule's autograd:\n  trace:    {mine.tolist()}\n  autograd: {theirs.tolist()}"
            f"\n  largest difference: {diff}")


def _verify(step: int, hand: _Pass, ref: dict, activations: list[str], output: str) -> None:
    n = len(hand.zs)
    for l in range(n):
        _check(f"z{l + 1}", step, hand.zs[l], ref["zs"][l])
        _check(f"a{l + 1}", step, hand.acts[l], ref["acts"][l])
    _check("yhat", step, hand.yhat if output == activations[-1] else hand.acts[-1], ref["output"])
    _check("J", step, hand.loss, ref["loss"])
    if hand.dj_dyhat is not None:
        _check("dJ/dyhat", step, hand.dj_dyhat, ref["dj_dyhat"])
    for l in range(n - 1, -1, -1):
        _check(f"delta{l + 1}", step, hand.deltas[l], ref["deltas"][l])
        _check(f"dJ/dW{l + 1}", step, hand.grad_w[l], ref["grad_w"][l])
        if ref["grad_b"][l] is not None:
            _check(f"dJ/db{l + 1}", step, hand.grad_b[l], ref["grad_b"][l])


# ---------------------------------------------------------------------- building the steps
def _steps_for(step: int, hand: _Pass, params, new_params, activations, output, loss, x, y,
               lr, single) -> list[TraceStep]:
    n = len(params)
    out: list[TraceStep] = []

    def add(kind, layer, name, value, operands, activation=None, checked=True):
        formula, latex = R.formula(kind, layer, n, activation, loss, single,
                                   params[layer - 1][1] is not None if layer else True,
                                   y.shape[1])
        out.append(TraceStep(step, kind, layer, name, formula, latex, np.asarray(value),
                             operands, activation, checked))

    inputs = [x] + hand.acts[:-1]
    for l in range(1, n + 1):
        w, b = params[l - 1]
        ops = {"W": w, "a_prev": inputs[l - 1]}
        if b is not None:
            ops["b"] = b
        add("linear", l, f"z{l}", hand.zs[l - 1], ops)
        f = output if l == n else activations[l - 1]
        value = hand.yhat if l == n else hand.acts[l - 1]
        # yhat = softmax/sigmoid applied by the loss has no tensor of its own to compare
        add("activation", l, f"a{l}", value, {"z": hand.zs[l - 1]}, activation=f,
            checked=not (l == n and output != activations[-1]))
    add("loss", None, "J", np.float64(hand.loss), {"yhat": hand.yhat, "y": y}, activation=output)
    if hand.dj_dyhat is not None:
        add("loss_grad", n, "dJ/dyhat", hand.dj_dyhat, {"yhat": hand.yhat, "y": y})
    for l in range(n, 0, -1):
        d = hand.deltas[l - 1]
        z, a, deriv = hand.zs[l - 1], hand.acts[l - 1], hand.derivs[l - 1]
        if l == n:
            ops = ({"dJ_dyhat": hand.dj_dyhat, "z": z, "a": a, "fprime": deriv}
                   if hand.dj_dyhat is not None else {"yhat": hand.yhat, "y": y})
            add("output_error", l, f"delta{l}", d, ops, activation=output)
        else:
            ops = {"W_next": params[l][0], "delta_next": hand.deltas[l], "z": z, "a": a,
                   "fprime": deriv}
            add("hidden_error", l, f"delta{l}", d, ops, activation=activations[l - 1])
        add("grad_weight", l, f"dJ/dW{l}", hand.grad_w[l - 1],
            {"delta": d, "a_prev": inputs[l - 1]})
        if params[l - 1][1] is not None:
            add("grad_bias", l, f"dJ/db{l}", hand.grad_b[l - 1], {"delta": d})
    for l in range(1, n + 1):
        (w, b), (w2, b2) = params[l - 1], new_params[l - 1]
        add("update_weight", l, f"W{l}", w2, {"old": w, "grad": hand.grad_w[l - 1],
                                              "lr": np.float64(lr)}, checked=False)
        if b is not None:
            add("update_bias", l, f"b{l}", b2, {"old": b, "grad": hand.grad_b[l - 1],
                                                "lr": np.float64(lr)}, checked=False)
    return out


def _write_back(layers: list[_Layer], params) -> None:
    with no_grad():
        for layer, (w, b) in zip(layers, params):
            layer.linear.weight.copy_(w.astype(layer.linear.weight.dtype))
            if b is not None:
                layer.linear.bias.copy_(b.astype(layer.linear.bias.dtype))


def compute_trace(model, x, y, loss: str = "mse", lr: float = 0.1, steps: int = 1,
                  update_model: bool = False) -> Trace:
    """Work out ``steps`` steps of gradient descent and check them; see :func:`trace`."""
    if loss not in LOSSES:
        raise ValueError(f"trace: loss must be one of {', '.join(LOSSES)}; got {loss!r}")
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"trace: steps must be a positive int, got {steps!r}")
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        raise TypeError(f"trace: lr must be a number, got {lr!r}") from None
    if not np.isfinite(lr) or lr < 0:
        raise ValueError(f"trace: lr must be a finite non-negative number, got {lr}")
    layers = _read_layers(model)
    activations = [l.activation for l in layers]
    output = _output_function(loss, activations[-1])
    sizes = [layers[0].weight.shape[1]] + [l.weight.shape[0] for l in layers]
    xs, single = _prepare_x(x, sizes[0])
    ys = _prepare_y(y, loss, xs.shape[0], sizes[-1], single)
    params = [(l.weight.copy(), None if l.bias is None else l.bias.copy()) for l in layers]
    all_steps: list[TraceStep] = []
    losses: list[float] = []
    for s in range(1, int(steps) + 1):
        hand = _hand_pass(params, activations, output, loss, xs, ys)
        _verify(s, hand, _reference(model, params, output, loss, xs, ys), activations, output)
        new_params = [(w - lr * gw, None if b is None else b - lr * gb)
                      for (w, b), gw, gb in zip(params, hand.grad_w, hand.grad_b)]
        all_steps += _steps_for(s, hand, params, new_params, activations, output, loss, xs,
                                ys, lr, single)
        losses.append(hand.loss)
        params = new_params
    zs, _, yhat = _forward(params, activations, output, xs)
    final_loss = _loss_value(loss, zs[-1], yhat, ys)
    ref_final = _reference(model, params, output, loss, xs, ys)
    _check("J after the last update", int(steps), final_loss, ref_final["loss"])
    if update_model:
        _write_back(layers, params)
    return Trace(sizes=sizes, activations=activations, output=output, loss=loss, lr=lr, x=xs,
                 y=ys, single=single, has_bias=[l.bias is not None for l in layers],
                 steps=all_steps, losses=losses, final_loss=final_loss, parameters=params)


def trace(model, x, y, loss: str = "mse", lr: float = 0.1, steps: int = 1,
          format: str = "text", update_model: bool = False, precision: int = 6):
    """Show backpropagation on your numbers: a training step, layer by layer, every
    gradient checked against chainrule's autograd before it is shown.

    Args:
        model: a ``cr.nn.Sequential`` of ``Linear`` layers, each optionally followed by
            ``Sigmoid``, ``Tanh``, ``ReLU`` or ``Identity`` (any depth).
        x: one sample (shape ``(in,)``) or a small batch (``(B, in)``).
        y: the target(s): ``(out,)``/``(B, out)`` values, or class indices for ``"ce"``.
        loss: ``"mse"`` (J = (y - yhat)^2), ``"mse_half"`` (J = 1/2 (y - yhat)^2), ``"ce"``
            (softmax + cross-entropy) or ``"bce"`` (sigmoid + binary cross-entropy); summed
            over output units, averaged over a batch.
        lr: the learning rate alpha of the update w <- w - alpha dJ/dw.
        steps: how many steps to show (the parameters are updated between them).
        format: ``"text"`` (a terminal, 80 columns), ``"markdown"`` (LaTeX, for notebooks
            and docs), ``"steps"`` (a list of :class:`TraceStep`) or ``"json"``.
        update_model: write the updated weights back into ``model`` (default: the model is
            left untouched; the trace works on a float64 copy).
        precision: significant digits of the numbers shown.

    Raises:
        TraceMismatchError: a value derived by hand disagrees with autograd.

    Example:
        >>> model = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.Sigmoid(),
        ...                          cr.nn.Linear(3, 1), cr.nn.Sigmoid())
        >>> text = cr.explain.trace(model, [0.1, 0.2], [1.0], lr=0.1)
        >>> text.splitlines()[0]
        'One training step of a 2-3-1 network'
        >>> steps = cr.explain.trace(model, [0.1, 0.2], [1.0], format="steps")
        >>> [s.name for s in steps][:5]
        ['z1', 'a1', 'z2', 'a2', 'J']
    """
    if format not in FORMATS:
        raise ValueError(f"trace: format must be one of {', '.join(FORMATS)}; got {format!r}")
    if not isinstance(precision, int) or not 1 <= precision <= 17:
        raise ValueError(f"trace: precision must be an int in [1, 17], got {precision!r}")
    result = compute_trace(model, x, y, loss=loss, lr=lr, steps=steps, update_model=update_model)
    if format == "steps":
        return result.steps
    if format == "json":
        return result.to_json()
    if format == "markdown":
        return RenderedMarkdown(result.to_markdown(precision))
    return Rendered(result.to_text(precision))
