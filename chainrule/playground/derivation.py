"""Why a weight moves: the gradient of one clicked weight or bias, derived for the batch the
next step trains on, with the real numbers, and the update the optimiser will give it.

The derivation is :func:`chainrule.explain.trace`'s: trace works the network's forward and
backward pass on the batch with the textbook formulas and checks every value, delta and
gradient against chainrule's autograd before returning them. This module only picks out of
that trace the numbers on the clicked parameter's path (the chain of deltas from the loss
back to it) and writes them out element by element. What trace does not cover, it adds
and checks against the engine itself: a copy of the session's model and optimiser takes
the real step on the same batch, and the regulariser's term, the total gradient, the
optimiser's state and the new value must agree with it.

Notation (indices from 1, as ``chainrule explain`` prints): ``W2[j,i]`` is the weight from
unit i of layer 1 to unit j of layer 2 (the layout of ``Linear.weight``), ``x[i]`` the
i-th input feature, ``s`` a point of the batch, B the batch size.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.explain import trace
from chainrule.explain.render import format_number
from chainrule.playground.settings import MOMENTUM, SettingsError

_RTOL, _ATOL = 1e-9, 1e-12     # both sides are float64 evaluations of the same formulas
_DIGITS = 6


def num(v: float, paren: bool = False) -> str:
    """A number as the page shows it (negative ones in parentheses inside products)."""
    s = format_number(float(v), _DIGITS).replace("-", "\u2212")
    return f"({s})" if paren and s.startswith("\u2212") else s


def _vector(values) -> str:
    return "[" + ", ".join(num(v) for v in np.ravel(values)) + "]"


def _row(lhs: str, *rhs: str, value: float | None = None, checked: bool = False,
         key: str | None = None) -> dict:
    row = {"lhs": lhs, "rhs": list(rhs), "checked": checked}
    if value is not None:
        row["value"] = float(value)
    if key:
        row["key"] = key
    return row


def _agree(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=_RTOL, atol=_ATOL))


class Derivation:
    """Trace of one batch, read layer by layer (``L`` Linear layers, numbered from 1)."""

    def __init__(self, session, rows: np.ndarray):
        self.session = session
        self.rows = rows
        s = session.settings
        self.classification = s.problem == "classification"
        body = nn.Sequential(*list(session.model)[1:])      # trace reads Linear/activation
        steps = trace(body, session.inputs[rows], session.targets[rows],
                      loss="bce" if self.classification else "mse", lr=s.lr, format="steps")
        self.by = {(st.kind, st.layer): st for st in steps}
        self.n_checked = sum(st.checked for st in steps)
        self.L = len(session.linears)
        self.B = len(rows)

    # ------------------------------------------------------------------ values
    def z(self, m: int) -> np.ndarray:
        return self.by[("linear", m)].value

    def a(self, m: int) -> np.ndarray:
        """a_m (B, n_m); a_0 is the input x."""
        if m == 0:
            return self.by[("linear", 1)].operands["a_prev"]
        return self.by[("activation", m)].value

    def act(self, m: int) -> str:
        return self.by[("activation", m)].activation

    def delta(self, m: int) -> np.ndarray:
        kind = "output_error" if m == self.L else "hidden_error"
        return self.by[(kind, m)].value

    def weight(self, m: int) -> np.ndarray:
        return self.by[("linear", m)].operands["W"]

    def bias(self, m: int) -> np.ndarray:
        return self.by[("linear", m)].operands["b"]

    def grad(self, m: int, kind: str) -> np.ndarray:
        return self.by[("grad_weight" if kind == "weight" else "grad_bias", m)].value

    @property
    def loss(self) -> float:
        return float(self.by[("loss", None)].value)

    # ------------------------------------------------------------------ naming
    def a_name(self, m: int, k: int) -> str:
        if m == 0:
            return f"x[{k + 1}]"
        return "\u0177" if m == self.L else f"a{m}[{k + 1}]"

    def z_name(self, m: int, k: int) -> str:
        return f"z{m}" if m == self.L else f"z{m}[{k + 1}]"

    def d_name(self, m: int, k: int) -> str:
        return f"\u03b4{m}" if m == self.L else f"\u03b4{m}[{k + 1}]"

    # ------------------------------------------------------------------ sections
    def forward(self, layer: int, unit: int, s: int) -> list[dict]:
        rows = [_row("x", _vector(self.a(0)[s]), checked=True)]
        for m in range(1, self.L + 1):
            z, a, f = self.z(m)[s], self.a(m)[s], self.act(m)
            if m == layer:
                W, b, prev = self.weight(m), self.bias(m), self.a(m - 1)[s]
                terms = [f"W{m}[{unit + 1},{i + 1}]\u00b7{self.a_name(m - 1, i)}"
                         for i in range(len(prev))] + [f"b{m}[{unit + 1}]"]
                values = [f"{num(W[unit, i], i > 0)}\u00b7{num(prev[i], True)}"
                          for i in range(len(prev))] + [num(b[unit], True)]
                rows.append(_row(self.z_name(m, unit), " + ".join(terms), " + ".join(values),
                                 num(z[unit]), value=z[unit], checked=True))
                rows.append(_row(self.a_name(m, unit), _apply(f, self.z_name(m, unit)),
                                 _apply(f, num(z[unit])), num(a[unit]), value=a[unit],
                                 checked=True))
            elif m == self.L:
                rows.append(_row(f"z{m}", num(z[0]), value=z[0], checked=True))
                rows.append(_row("\u0177", _apply(f, f"z{m}"), num(a[0]), value=a[0],
                                 checked=True))
            else:
                rows.append(_row(f"z{m}", _vector(z), checked=True))
                rows.append(_row(f"a{m}", f"{_FNAME[f]}(z{m})", _vector(a), checked=True))
        return rows

    def output_error(self, s: int) -> list[dict]:
        L = self.L
        yhat = self.a(L)[s, 0]
        y = float(self.session.targets[self.rows[s], 0])
        d = self.delta(L)[s, 0]
        if self.classification:
            return [_row(f"\u03b4{L} = \u2202J/\u2202z{L}", "(\u0177 \u2212 y) / B",
                         f"({num(yhat)} \u2212 {num(y, True)}) / {self.B}", num(d), value=d,
                         checked=True, key="delta_out")]
        dj = self.by[("loss_grad", L)].value[s, 0]
        return [_row("\u2202J/\u2202\u0177", "2 (\u0177 \u2212 y) / B",
                     f"2 ({num(yhat)} \u2212 {num(y, True)}) / {self.B}", num(dj), value=dj,
                     checked=True),
                _row(f"\u03b4{L} = \u2202J/\u2202z{L}", "\u2202J/\u2202\u0177 \u00b7 1",
                     num(d), value=d, checked=True, key="delta_out")]

    def hidden_errors(self, layer: int, unit: int, s: int) -> list[dict]:
        rows = []
        for m in range(self.L - 1, layer - 1, -1):
            units = [unit] if m == layer else range(self.z(m).shape[1])
            W_next, d_next = self.weight(m + 1), self.delta(m + 1)[s]
            fprime = self.by[("hidden_error", m)].operands["fprime"][s]
            for k in units:
                rows.append(self._slope(m, k, s, fprime[k]))
                sym = " + ".join(f"W{m + 1}[{r + 1},{k + 1}]\u00b7{self.d_name(m + 1, r)}"
                                 for r in range(W_next.shape[0]))
                val = " + ".join(f"{num(W_next[r, k], r > 0)}\u00b7{num(d_next[r], True)}"
                                 for r in range(W_next.shape[0]))
                d = self.delta(m)[s, k]
                rows.append(_row(self.d_name(m, k),
                                 f"({sym}) \u00b7 {_FNAME[self.act(m)]}\u2032({self.z_name(m, k)})",
                                 f"({val}) \u00b7 {num(fprime[k], True)}", num(d), value=d,
                                 checked=True, key=f"delta{m}_{k + 1}"))
        return rows

    def _slope(self, m: int, k: int, s: int, fp: float) -> dict:
        f, a, z = self.act(m), self.a(m)[s, k], self.z(m)[s, k]
        lhs = f"{_FNAME[f]}\u2032({self.z_name(m, k)})"
        if f == "sigmoid":
            return _row(lhs, "a(1 \u2212 a)", f"{num(a)}\u00b7(1 \u2212 {num(a, True)})",
                        num(fp), value=fp, checked=True)
        if f == "tanh":
            return _row(lhs, "1 \u2212 a\u00b2", f"1 \u2212 {num(a, True)}\u00b2", num(fp),
                        value=fp, checked=True)
        if f == "relu":
            sign = ">" if z > 0 else "\u2264"
            why = f"z = {num(z)} {sign} 0"
            return _row(lhs, why, num(fp), value=fp, checked=True)
        return _row(lhs, "1 (no activation)", num(fp), value=fp, checked=True)

    def batch_sum(self, layer: int, kind: str, unit: int, col: int) -> dict:
        d = self.delta(layer)[:, unit]
        g = float(self.grad(layer, kind)[unit, col] if kind == "weight" else
                  self.grad(layer, kind)[unit])
        if kind == "weight":
            prev = self.a(layer - 1)[:, col]
            header = ["s", "point", self.d_name(layer, unit), self.a_name(layer - 1, col),
                      "product"]
            body = [[str(k + 1), str(int(self.rows[k])), num(d[k]), num(prev[k]),
                     num(d[k] * prev[k])] for k in range(self.B)]
            formula = (f"\u2202J/\u2202W{layer}[{unit + 1},{col + 1}] = \u03a3_s "
                       f"{self.d_name(layer, unit)}\u00b7{self.a_name(layer - 1, col)}")
        else:
            header = ["s", "point", self.d_name(layer, unit)]
            body = [[str(k + 1), str(int(self.rows[k])), num(d[k])] for k in range(self.B)]
            formula = f"\u2202J/\u2202b{layer}[{unit + 1}] = \u03a3_s {self.d_name(layer, unit)}"
        return {"formula": formula, "header": header, "rows": body, "sum": num(g),
                "value": g}


_FNAME = {"sigmoid": "\u03c3", "tanh": "tanh", "relu": "relu", "identity": "id"}


def _apply(f: str, arg: str) -> str:
    return arg if f == "identity" else f"{_FNAME[f]}({arg})"


# ------------------------------------------------------------------ the optimiser's part
def _engine_step(session, rows, layer: int, kind: str, index: tuple) -> dict:
    """A copy of the session's model and optimiser takes the real step on ``rows``: the
    parameter's gradient, its optimiser state before and after, and its new value."""
    model, opt = copy.deepcopy((session.model, session.optimizer))
    param = getattr(session.linears_of(model)[layer - 1], kind)
    opt.zero_grad()
    session.objective(model, rows).backward()
    grad = float(param.grad._array[index])
    before = {k: _pick(v, index) for k, v in opt.state.get(param, {}).items()}
    opt.step()
    after = {k: _pick(v, index) for k, v in opt.state[param].items()}
    return {"grad": grad, "before": before, "after": after, "new": float(param._array[index])}


def _pick(v: Any, index: tuple) -> float:
    return float(v[index]) if isinstance(v, np.ndarray) and v.ndim else float(v)


def _regulariser(settings, kind: str, w: float) -> tuple[float, dict]:
    rate = settings.reg_rate
    if kind == "bias":
        return 0.0, _row("regulariser", "biases are not regularised: + 0", value=0.0)
    if settings.regularization == "none" or rate == 0:
        return 0.0, _row("regulariser", "none: + 0", value=0.0)
    if settings.regularization == "l2":
        term = rate * w   # d/dw (rate/2 w^2)
        return term, _row("\u2202(\u03bb/2\u00b7w\u00b2)/\u2202w", "\u03bb\u00b7w",
                          f"{num(rate)}\u00b7{num(w, True)}", num(term), value=term)
    term = rate * float(np.sign(w))  # d/dw (rate |w|); 0 at w = 0, as autograd's abs
    return term, _row("\u2202(\u03bb\u00b7|w|)/\u2202w", "\u03bb\u00b7sign(w)",
                      f"{num(rate)}\u00b7{num(np.sign(w), True)}", num(term), value=term)


def _update(settings, w: float, g: float, state: dict) -> tuple[float, dict, list[dict]]:
    """The optimiser's update of one weight by hand: new value, state after, the rows."""
    lr = settings.lr
    if settings.optimizer == "sgd":
        new = w - lr * g
        return new, {}, [_row("w", "w \u2212 \u03b1\u00b7g", f"{num(w)} \u2212 {num(lr)}\u00b7"
                              f"{num(g, True)}", num(new), value=new, key="new")]
    if settings.optimizer == "momentum":
        if "momentum_buffer" in state:
            old = state["momentum_buffer"]
            buf = MOMENTUM * old + g
            first = _row("v", "\u03bc\u00b7v + g", f"{num(MOMENTUM)}\u00b7{num(old, True)} + "
                         f"{num(g, True)}", num(buf), value=buf, key="state")
        else:
            buf = g
            first = _row("v", "g (the first step starts the velocity at the gradient)",
                         num(buf), value=buf, key="state")
        new = w - lr * buf
        return new, {"momentum_buffer": buf}, [
            first, _row("w", "w \u2212 \u03b1\u00b7v", f"{num(w)} \u2212 {num(lr)}\u00b7"
                        f"{num(buf, True)}", num(new), value=new, key="new")]
    beta1, beta2, eps = 0.9, 0.999, 1e-8        # optim.Adam's defaults, as the session uses
    t = int(state.get("step", 0)) + 1
    m0, v0 = state.get("exp_avg", 0.0), state.get("exp_avg_sq", 0.0)
    m = beta1 * m0 + (1 - beta1) * g
    v = beta2 * v0 + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    new = w - lr * m_hat / (math.sqrt(v_hat) + eps)
    rows = [
        _row("t", "t + 1", str(t), value=t),
        _row("m", "\u03b2\u2081\u00b7m + (1 \u2212 \u03b2\u2081)\u00b7g",
             f"0.9\u00b7{num(m0, True)} + 0.1\u00b7{num(g, True)}", num(m), value=m,
             key="state"),
        _row("v", "\u03b2\u2082\u00b7v + (1 \u2212 \u03b2\u2082)\u00b7g\u00b2",
             f"0.999\u00b7{num(v0, True)} + 0.001\u00b7{num(g, True)}\u00b2", num(v), value=v),
        _row("m\u0302", "m / (1 \u2212 \u03b2\u2081\u1d57)", f"{num(m)} / (1 \u2212 0.9^{t})",
             num(m_hat), value=m_hat),
        _row("v\u0302", "v / (1 \u2212 \u03b2\u2082\u1d57)", f"{num(v)} / (1 \u2212 0.999^{t})",
             num(v_hat), value=v_hat),
        _row("w", "w \u2212 \u03b1\u00b7m\u0302 / (\u221av\u0302 + \u03b5)",
             f"{num(w)} \u2212 {num(lr)}\u00b7{num(m_hat, True)} / (\u221a{num(v_hat)} + 1e\u22128)",
             num(new), value=new, key="new"),
    ]
    return new, {"step": t, "exp_avg": m, "exp_avg_sq": v}, rows


_OPTIMISER_NAMES = {"sgd": "SGD", "momentum": f"SGD with momentum \u03bc = {MOMENTUM}",
                    "adam": "Adam (\u03b2\u2081 = 0.9, \u03b2\u2082 = 0.999, \u03b5 = 1e\u22128)"}


# ------------------------------------------------------------------------ public entry
def derive(session, layer: int, kind: str, row: int, col: int = 0, sample: int = 0) -> dict:
    """The derivation of parameter ``W{layer}[row+1, col+1]`` (``kind`` "weight") or
    ``b{layer}[row+1]`` (``kind`` "bias") for the session's next batch, element by element
    for its point ``sample``, as the page's "derivation" message.

    Raises SettingsError for a parameter or point the network and batch do not have, and
    ``chainrule.explain.TraceMismatchError`` if a hand-derived figure disagreed with
    autograd (which would be a bug in chainrule)."""
    layers = session.linears
    if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= len(layers):
        raise SettingsError(f"layer must be 1 to {len(layers)}; got {layer!r}")
    if kind not in ("weight", "bias"):
        raise SettingsError(f"kind must be weight or bias; got {kind!r}")
    shape = getattr(layers[layer - 1], kind).shape
    if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < shape[0]:
        raise SettingsError(f"row must be 0 to {shape[0] - 1} in layer {layer}; got {row!r}")
    if kind == "weight" and (isinstance(col, bool) or not isinstance(col, int)
                             or not 0 <= col < shape[1]):
        raise SettingsError(f"col must be 0 to {shape[1] - 1} in layer {layer}; got {col!r}")
    rows = session.next_batch()
    if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < len(rows):
        raise SettingsError(f"sample must be 0 to {len(rows) - 1} (the batch has {len(rows)} "
                            f"points); got {sample!r}")
    settings = session.settings
    index = (row, col) if kind == "weight" else (row,)
    name = f"W{layer}[{row + 1},{col + 1}]" if kind == "weight" else f"b{layer}[{row + 1}]"

    d = Derivation(session, rows)
    w = float(getattr(layers[layer - 1], kind)._array[index])
    total = d.batch_sum(layer, kind, row, col)
    g_data = total["value"]
    g_reg, reg_row = _regulariser(settings, kind, w)
    g = g_data + g_reg
    engine = _engine_step(session, rows, layer, kind, index)
    new, state_after, update_rows = _update(settings, w, g, engine["before"])

    checks = [("total gradient \u2202J/\u2202" + name, g, engine["grad"]),
              ("new value of " + name, new, engine["new"])]
    checks += [(f"optimiser state {k}", v, engine["after"][k]) for k, v in state_after.items()]
    loss_text = ("\u2212(1/B) \u03a3_s [y log \u0177 + (1 \u2212 y) log(1 \u2212 \u0177)] with "
                 "\u0177 = \u03c3(z)" if d.classification else "(1/B) \u03a3_s (y \u2212 \u0177)\u00b2")
    penalty = session.penalty(session.model)
    penalty = float(penalty.item()) if hasattr(penalty, "item") else float(penalty)
    point = int(rows[sample])
    sections = [
        {"title": f"Forward pass of point {sample + 1} of the batch (data point {point})",
         "rows": d.forward(layer, row, sample)},
        {"title": "Loss on the batch",
         "rows": [_row("J", loss_text, num(d.loss), value=d.loss, checked=True)] +
                 ([_row("penalty", f"{settings.regularization.upper()} \u00b7 \u03bb = "
                        f"{num(settings.reg_rate)}", num(penalty), value=penalty)]
                  if penalty else [])},
        {"title": "Backward: the output error", "rows": d.output_error(sample)},
    ]
    if layer < d.L:
        sections.append({"title": "Backward: the error sent back through the weights, layer "
                                  "by layer (times each activation's slope)",
                         "rows": d.hidden_errors(layer, row, sample)})
    sections.append({"title": f"Gradient of {name} over the batch", "table": total})
    sections.append({"title": "Regulariser and total gradient", "rows": [
        reg_row,
        _row("g = \u2202J/\u2202" + name, "data + regulariser",
             f"{num(g_data)} + {num(g_reg, True)}", num(g), value=g, key="grad"),
        _row("autograd", "the engine's backward on the same batch", num(engine["grad"]),
             value=engine["grad"], checked=_agree(g, engine["grad"]), key="grad_engine")]})
    sections.append({"title": f"Update by {_OPTIMISER_NAMES[settings.optimizer]}, "
                              f"\u03b1 = {num(settings.lr)}",
                     "rows": update_rows + [_row("engine", "optimizer.step() on a copy gives",
                                                 num(engine["new"]), value=engine["new"],
                                                 checked=_agree(new, engine["new"]),
                                                 key="new_engine")]})
    check_list = [{"name": n, "derived": a, "engine": b, "ok": _agree(a, b)}
                  for n, a, b in checks]
    return {
        "type": "derivation", "name": name, "layer": layer, "kind": kind, "row": row,
        "col": col, "sample": sample, "batch": [int(i) for i in rows], "value": w,
        "grad": g, "grad_engine": engine["grad"], "new": new, "new_engine": engine["new"],
        "state_before": engine["before"], "state_after": engine["after"],
        "sections": sections, "checks": check_list,
        "trace_checked": d.n_checked, "ok": all(c["ok"] for c in check_list),
    }


def step_values(session, rows: np.ndarray) -> dict:
    """What the "one step" animation shows: the first point's forward values (inputs,
    each layer's outputs) and backward deltas, and the batch's weight gradients."""
    d = Derivation(session, rows)
    return {"point": int(rows[0]),
            "forward": [d.a(m)[0].tolist() for m in range(0, d.L + 1)],
            "delta": [d.delta(m)[0].tolist() for m in range(1, d.L + 1)],
            "grad": [d.grad(m, "weight").tolist() for m in range(1, d.L + 1)],
            "loss": d.loss}
