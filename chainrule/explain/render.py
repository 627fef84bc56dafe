"""Turn a :class:`~chainrule.explain.trace.Trace` into plain text or Markdown with LaTeX.

Both renderings are built from the same walk over the steps; what differs is the *style*
(how a symbol, a number, a product or a matrix is written) and the *document* (how a
heading or a block of equations is laid out). So the substituted formulas a terminal
shows and the LaTeX a notebook shows are the same equations by construction.

The text style uses ASCII only (``sigma``, ``delta``, ``*``) so it prints on any terminal;
indices count from 1, as in the textbook; ``W1[j,i]`` is the weight from input i to
unit j (the layout of ``Linear.weight``).
"""
from __future__ import annotations

import textwrap

import numpy as np

__all__ = ["render_text", "render_markdown", "formula", "format_number"]

WIDTH = 80
_EXPAND_MAX = 12       # substitute numbers element by element up to this many elements
_FAN_MAX = 6           # ... and when each element sums at most this many products


def format_number(v: float, precision: int = 6) -> str:
    """``precision`` significant digits, no trailing zeros, ``1e-5`` rather than ``1e-05``."""
    v = float(v)
    if v == 0 or (np.isfinite(v) and abs(v) < 10.0 ** (-300)):
        return "0"
    s = f"{v:.{precision}g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant}e{int(exp)}"
    return s


# =============================================================================== styles
class _TextStyle:
    mul = "*"
    had = " * "
    arrow = "<-"
    alpha = "alpha"

    def __init__(self, precision: int):
        self.p = precision

    # ---- numbers and arrays
    def num(self, v, paren: bool = False) -> str:
        s = format_number(v, self.p)
        return f"({s})" if paren and s.startswith("-") else s

    def array(self, arr) -> str:
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 0:
            return self.num(arr)
        if arr.ndim == 1:
            return self._wrap_list([self.num(v) for v in arr])
        cells = [[self.num(v) for v in row] for row in arr]
        widths = [max(len(r[c]) for r in cells) for c in range(arr.shape[1])]
        # As many columns per line as fit in ~60 characters; longer rows continue below.
        if sum(w + 2 for w in widths) > 62:   # wrap: one width for all, so columns line up
            widths = [max(widths)] * len(widths)
        per_line, used = 0, 2
        for w in widths:
            if per_line and used + w + 2 > 62:
                break
            per_line, used = per_line + 1, used + w + 2
        rows = []
        for r in cells:
            chunks = [", ".join(c.rjust(w) for c, w in zip(r[i:i + per_line],
                                                            widths[i:i + per_line]))
                      for i in range(0, len(r), per_line)]
            rows.append("[" + ",\n  ".join(chunks) + "]")
        return "[" + ",\n ".join(rows) + "]"

    @staticmethod
    def _wrap_list(items: list[str], width: int = 56) -> str:
        lines, cur = [], "["
        for i, it in enumerate(items):
            piece = it + (", " if i < len(items) - 1 else "]")
            if len(cur) + len(piece.rstrip()) > width and cur.strip() != "[":
                lines.append(cur.rstrip())
                cur = " "
            cur += piece
        lines.append(cur)
        return "\n".join(lines)

    # ---- symbols
    def sym(self, name: str, layer=None) -> str:
        return f"{name}{'' if layer is None else layer}"

    def el(self, name: str, layer, idx: tuple) -> str:
        index = "[" + ",".join(str(i + 1) for i in idx) + "]" if idx else ""
        return self.sym(name, layer) + index

    def grad(self, of: str) -> str:
        return f"dJ/d{of}"

    def T(self, s: str) -> str:
        return f"{s}^T"

    def act(self, f: str, arg: str) -> str:
        return {"sigmoid": f"sigma({arg})", "tanh": f"tanh({arg})", "relu": f"max(0, {arg})",
                "identity": arg, "softmax": f"softmax({arg})"}[f]

    def act_def(self, f: str, z: str) -> str:
        return {"sigmoid": f"1 / (1 + exp(-{z}))", "tanh": f"tanh({z})",
                "relu": f"max(0, {z})", "identity": z, "softmax": f"exp({z}) / sum(exp({z}))"}[f]

    def dact(self, f: str, arg: str) -> str:
        return {"sigmoid": f"sigma'({arg})", "tanh": f"tanh'({arg})", "relu": f"relu'({arg})",
                "identity": f"id'({arg})"}[f]

    def square(self, e: str) -> str:
        return f"({e})^2"

    def log(self, e: str) -> str:
        return f"log({e})"

    def paren(self, e: str) -> str:
        return f"({e})"

    def sum(self, idx: str, body: str) -> str:
        return f"sum_{idx} {body}"

    def frac(self, a: str, b: str) -> str:
        return f"({a}/{b})"


class _LatexStyle(_TextStyle):
    mul = r" \cdot "
    had = r" \odot "
    arrow = r"\leftarrow"
    alpha = r"\alpha"

    def num(self, v, paren: bool = False) -> str:
        s = format_number(v, self.p)
        if "e" in s:
            mant, exp = s.split("e")
            s = (f"{mant} \\times 10^{{{exp}}}" if mant not in ("1", "-1")
                 else f"{'-' if mant == '-1' else ''}10^{{{exp}}}")
        return f"\\left({s}\\right)" if paren and s.startswith("-") else s

    def array(self, arr) -> str:
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 0:
            return self.num(arr)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)       # vectors are columns, as in the formulas
        body = r" \\ ".join(" & ".join(self.num(v) for v in row) for row in arr)
        return r"\begin{bmatrix} " + body + r" \end{bmatrix}"

    def base(self, name: str) -> str:
        return {"yhat": r"\hat{y}", "delta": r"\delta"}.get(name, name)

    def sym(self, name: str, layer=None) -> str:
        b = self.base(name)
        return b if layer is None else f"{b}^{{({layer})}}"

    def el(self, name: str, layer, idx: tuple) -> str:
        if not idx:
            return self.sym(name, layer)
        sep = "," if any(i >= 9 for i in idx) else ""
        return self.sym(name, layer) + "_{" + sep.join(str(i + 1) for i in idx) + "}"

    def grad(self, of: str) -> str:
        return rf"\frac{{\partial J}}{{\partial {of}}}"

    def T(self, s: str) -> str:
        return "{" + s + r"}^\top"

    def act(self, f: str, arg: str) -> str:
        return {"sigmoid": rf"\sigma({arg})", "tanh": rf"\tanh({arg})",
                "relu": rf"\max(0, {arg})", "identity": arg,
                "softmax": rf"\operatorname{{softmax}}({arg})"}[f]

    def act_def(self, f: str, z: str) -> str:
        return {"sigmoid": rf"\frac{{1}}{{1 + e^{{-{z}}}}}", "tanh": rf"\tanh({z})",
                "relu": rf"\max(0, {z})", "identity": z,
                "softmax": rf"\frac{{e^{{{z}}}}}{{\sum e^{{{z}}}}}"}[f]

    def dact(self, f: str, arg: str) -> str:
        return {"sigmoid": rf"\sigma'({arg})", "tanh": rf"\tanh'({arg})",
                "relu": rf"\operatorname{{relu}}'({arg})",
                "identity": rf"\operatorname{{id}}'({arg})"}[f]

    def square(self, e: str) -> str:
        return rf"\left({e}\right)^2"

    def log(self, e: str) -> str:
        return rf"\log {e}" if e[:1].isalnum() or e.startswith("\\") else rf"\log\left({e}\right)"

    def paren(self, e: str) -> str:
        return rf"\left({e}\right)"

    def sum(self, idx: str, body: str) -> str:
        return rf"\sum_{{{idx}}} {body}"

    def frac(self, a: str, b: str) -> str:
        return rf"\frac{{{a}}}{{{b}}}"


# ============================================================================ formulas
def _prev(style, layer: int) -> str:
    return style.sym("x") if layer == 1 else style.sym("a", layer - 1)


def _formula(style, kind: str, layer, n: int, f, loss: str, single: bool, has_bias: bool,
             n_out: int) -> str:
    S = style
    if kind == "linear":
        W, b, a = S.sym("W", layer), S.sym("b", layer), _prev(S, layer)
        core = f"{W} {a}" if single else f"{a} {S.T(W)}"
        return f"{S.sym('z', layer)} = {core}" + (f" + {b}" if has_bias else "")
    if kind == "activation":
        z = S.sym("z", layer)
        right, definition = S.act(f, z), S.act_def(f, z)
        lhs = S.sym("a", layer) if layer < n else S.sym("yhat")
        text = f"{lhs} = {right}"
        return text + (f" = {definition}" if definition not in (right, z) else "")
    if kind == "loss":
        latex = isinstance(S, _LatexStyle)
        y, yh = ("y_k", r"\hat{y}_k") if n_out > 1 else ("y", r"\hat{y}")
        if not latex:
            yh = yh.replace(r"\hat{y}", "yhat")
        if loss in ("mse", "mse_half"):
            body = S.square(f"{y} - {yh}")
            body = S.sum("k", body) if n_out > 1 else body
            body = body if loss == "mse" else f"{S.frac('1', '2')} {body}"
        elif loss == "ce":
            body = "-" + S.sum("k", f"{y} {S.log(yh)}")
        else:
            inner = f"{y} {S.log(yh)} + (1 - {y}) {S.log('1 - ' + yh)}"
            body = "-" + (S.sum("k", f"[{inner}]") if n_out > 1 else S.paren(inner))
        if not single:
            body = f"{S.frac('1', 'B')} " + S.sum("s", body)
        return f"J = {body}"
    if kind == "loss_grad":
        y, yh = S.sym("y"), S.sym("yhat")
        c = {"mse": "2", "mse_half": ""}[loss]
        if single:
            return f"{S.grad(yh)} = -{c}{S.paren(f'{y} - {yh}')}"
        return f"{S.grad(yh)} = {S.frac(c or '1', 'B')} {S.paren(f'{yh} - {y}')}"
    if kind == "output_error":
        d, z = S.sym("delta", layer), S.sym("z", layer)
        if loss in ("mse", "mse_half"):
            return f"{d} = {S.grad(z)} = {S.grad(S.sym('yhat'))}{S.had}{S.dact(f, z)}"
        core = f"{S.sym('yhat')} - {S.sym('y')}"
        if not single:
            core = f"{S.frac('1', 'B')} {S.paren(core)}"
        return f"{d} = {S.grad(z)} = {core}"
    if kind == "hidden_error":
        d, dn, Wn, z = (S.sym("delta", layer), S.sym("delta", layer + 1), S.sym("W", layer + 1),
                        S.sym("z", layer))
        back = f"{S.T(Wn)} {dn}" if single else f"{dn} {Wn}"
        return f"{d} = {S.paren(back)}{S.had}{S.dact(f, z)}"
    if kind == "grad_weight":
        d, a = S.sym("delta", layer), _prev(S, layer)
        rhs = f"{d} {S.T(a)}" if single else f"{S.T(d)} {a}"
        return f"{S.grad(S.sym('W', layer))} = {rhs}"
    if kind == "grad_bias":
        d = S.sym("delta", layer)
        return f"{S.grad(S.sym('b', layer))} = " + (d if single else S.sum("s", d))
    if kind in ("update_weight", "update_bias"):
        p = S.sym("W" if kind == "update_weight" else "b", layer)
        return f"{p} {S.arrow} {p} - {S.alpha} {S.grad(p)}"
    raise ValueError(f"unknown step kind {kind!r}")


def formula(kind: str, layer, n: int, activation, loss: str, single: bool,
            has_bias: bool = True, n_out: int = 1) -> tuple[str, str]:
    """The general formula of a step, as (plain text, LaTeX)."""
    args = (kind, layer, n, activation, loss, single, has_bias, n_out)
    return _formula(_TextStyle(6), *args), _formula(_LatexStyle(6), *args)


# ========================================================================== documents
class _TextDoc:
    def __init__(self):
        self.lines: list[str] = []

    def title(self, s: str) -> None:
        self.lines += [s, "=" * min(len(s), WIDTH)]

    def heading(self, s: str, major: bool = False) -> None:
        fill = "=" if major else "-"
        self.lines += ["", (f"{fill * 2} {s} ").ljust(WIDTH - 1, fill)]

    def para(self, s: str) -> None:
        self.lines += textwrap.wrap(s, WIDTH - 1, break_on_hyphens=False)

    def fields(self, items: list[tuple[str, str]]) -> None:
        w = max(len(k) for k, _ in items)
        for k, v in items:
            label = f"  {(k + ':' if k else '').ljust(w + 1)}  "
            self.lines += textwrap.wrap(v, WIDTH - 1, initial_indent=label,
                                        subsequent_indent=" " * (w + 5), break_on_hyphens=False)

    def eqs(self, rows: list) -> None:
        """Rows (lhs, relation, [rhs, ...]) as aligned chains, wrapped at 80 columns."""
        if not rows:
            return
        lw = max(len(r[0]) for r in rows)
        for lhs, rel, parts in rows:
            head = "  " + lhs.ljust(lw) + f" {rel} "
            indent = " " * (len(head) - len(rel) - 1)
            cur = head
            avail = WIDTH - 1 - len(head)
            for i, part in enumerate(parts):
                sep = "" if i == 0 else " = "
                plines = part.split("\n")
                if len(plines) == 1 and len(part) > avail:
                    plines = _break_sum(part, avail)
                if i > 0 and (len(cur) + len(sep) + len(plines[0]) > WIDTH - 1 or len(plines) > 1):
                    self.lines.append(cur)
                    cur = indent + "= "
                    sep = ""
                pad = " " * len(cur + sep)
                cur += sep + plines[0]
                for extra in plines[1:]:
                    self.lines.append(cur)
                    cur = pad + extra
            self.lines.append(cur)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        self.lines.append("  " + "  ".join(h.rjust(w) for h, w in zip(header, widths)))
        self.lines.append("  " + "  ".join("-" * w for w in widths))
        for r in rows:
            self.lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths)))

    def result(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines) + "\n"


def _break_sum(part: str, avail: int) -> list[str]:
    """Split a long sum at its " + " signs into lines of at most ``avail`` characters."""
    terms = part.split(" + ")
    lines = [terms[0]]
    for term in terms[1:]:
        if len(lines[-1]) + 3 + len(term) <= avail:
            lines[-1] += " + " + term
        else:
            lines.append("  + " + term)
    return lines


class _MarkdownDoc:
    def __init__(self):
        self.lines: list[str] = []

    def title(self, s: str) -> None:
        self.lines += [f"## {s}", ""]

    def heading(self, s: str, major: bool = False) -> None:
        self.lines += [("### " if major else "#### ") + s, ""]

    def para(self, s: str) -> None:
        self.lines += [s, ""]

    def fields(self, items: list[tuple[str, str]]) -> None:
        out: list[str] = []
        for k, v in items:
            if k:
                out.append(f"- **{k}:** {v}")
            else:
                out[-1] += f", {v}"
        self.lines += out + [""]

    def eqs(self, rows: list) -> None:
        if not rows:
            return
        body = []
        for lhs, rel, parts in rows:
            # MathJax does not wrap: put a long chain's numbers on a line of their own.
            if len(parts) > 2 and len(" = ".join(parts)) > 140:
                body.append(f"{lhs} &{rel} {parts[0]} \\\\\n  &= " + " = ".join(parts[1:]))
            else:
                body.append(f"{lhs} &{rel} " + " = ".join(parts))
        self.lines += ["$$", r"\begin{aligned}", (" \\\\\n").join(body), r"\end{aligned}", "$$",
                       ""]

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "|".join("---:" for _ in header) + "|")
        for r in rows:
            self.lines.append("| " + " | ".join(r) + " |")
        self.lines.append("")

    def result(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


# ===================================================================== the explanation
def _squeeze(trace, arr):
    arr = np.asarray(arr)
    return arr[0] if trace.single and arr.ndim == 2 and arr.shape[0] == 1 else arr


def _idx(arr1d_size: int, i: int) -> tuple:
    """Index tuple for element i of a vector; a one-element vector goes unindexed."""
    return () if arr1d_size == 1 else (i,)


class _Explainer:
    def __init__(self, trace, style, doc):
        self.t, self.S, self.doc = trace, style, doc
        self.n = len(trace.sizes) - 1
        self.md = isinstance(style, _LatexStyle)

    # ----------------------------------------------------------------- helpers
    def m(self, s: str) -> str:
        """Inline math in prose: $...$ in Markdown, plain in text."""
        return f"${s}$" if self.md else s

    def arr(self, a) -> str:
        return self.S.array(_squeeze(self.t, a))

    def expand(self, value, fan: int = 1) -> bool:
        return self.t.single and np.asarray(value).size <= _EXPAND_MAX and fan <= _FAN_MAX

    def prev_el(self, layer: int, i: int, size: int) -> str:
        S = self.S
        return S.el("x", None, _idx(size, i)) if layer == 1 else S.el("a", layer - 1, _idx(size, i))

    def formula_row(self, step) -> list:
        text = step.latex if self.md else step.formula
        lhs, rel, rhs = _split_formula(text)
        return [(lhs, rel, rhs.split(" = "))]

    def emit(self, rows: list) -> None:
        """Print a block; a formula followed by a single row about the same quantity
        becomes one chain (``J = (y - yhat)^2 = (1 - 0.6)^2 = 0.16``)."""
        if len(rows) == 2 and rows[0][0] == rows[1][0] and rows[0][1] == rows[1][1]:
            parts = list(rows[0][2])
            for p in rows[1][2]:
                if p not in parts:
                    parts.append(p)
            rows = [(rows[0][0], rows[0][1], parts)]
        self.doc.eqs(rows)

    # ------------------------------------------------------------------ header
    def header(self) -> None:
        t, S = self.t, self.S
        shape = "-".join(str(s) for s in t.sizes)
        what = "One training step" if t.num_steps == 1 else f"{t.num_steps} training steps"
        self.doc.title(f"{what} of a {shape} network")
        acts = list(t.activations)
        if t.output != acts[-1]:
            acts[-1] = f"{t.output}, applied by the loss"
        chain = f"{t.sizes[0]} inputs" + "".join(
            f" -> {s} ({a if a != 'identity' else 'no activation'})"
            for s, a in zip(t.sizes[1:], acts))
        loss_rule = {"mse": "squared error", "mse_half": "half squared error",
                     "ce": "softmax + cross-entropy", "bce": "sigmoid + binary cross-entropy"}
        first = next(s for s in t.steps if s.kind == "loss")
        J = first.latex if self.md else first.formula
        self.doc.fields([("network", chain),
                         ("loss", loss_rule[t.loss]), ("", self.m(J)),
                         ("learning rate", self.m(S.alpha + " = " + S.num(t.lr))),
                         ("data", "one sample" if t.single
                          else f"a batch of {t.batch_size} samples")])
        if t.single:
            note = ""
        else:
            note = (f"With a batch of B = {t.batch_size} samples, x, z, a, delta and y hold one "
                    f"row per sample, so the formulas are in row form "
                    f"({self.m('z = x ' + S.T('W') + ' + b')}), and J is the "
                    f"mean over the batch, which puts a factor 1/B into every delta. ")
        if self.md:
            note += (r"Indices count from 1; $W^{(l)}_{ji}$ is the weight from input $i$ to unit "
                     r"$j$ (the layout of `Linear.weight`); $\odot$ multiplies elementwise. ")
        else:
            note += ("Indices count from 1; W1[j,i] is the weight from input i to unit j (the "
                     "layout of Linear.weight); vectors print as [v1, v2, ...]; between vectors "
                     "* multiplies elementwise. ")
        note += ("Every value and gradient below was checked against chainrule's autograd "
                 "before it was printed.")
        self.doc.para(note)
        self.doc.heading("Data and initial weights")
        rows = [(S.sym("x"), "=", [self.arr(t.x)]), (S.sym("y"), "=", [self.arr(t.y)])]
        self.doc.eqs(rows)
        first_step = [s for s in t.steps if s.step == 1]
        rows = []
        for s in first_step:
            if s.kind == "linear":
                rows.append((S.sym("W", s.layer), "=", [self.S.array(s.operands["W"])]))
                if "b" in s.operands:
                    rows.append((S.sym("b", s.layer), "=", [self.S.array(s.operands["b"])]))
        self.doc.eqs(rows)

    # ----------------------------------------------------------------- steps
    def step(self, k: int, steps: list) -> None:
        t = self.t
        if t.num_steps > 1:
            self.doc.heading(f"Step {k}", major=True)
        by = {}
        for s in steps:
            by.setdefault(s.kind, {})[s.layer] = s
        self.doc.heading("Forward pass")
        for l in range(1, self.n + 1):
            f = t.activations[l - 1]
            self.doc.para(f"Layer {l} ({t.sizes[l - 1]} -> {t.sizes[l]}, "
                          f"{'no activation' if f == 'identity' else f}):")
            self.linear(by["linear"][l])
            self.activation(by["activation"][l])
        self.doc.heading("Loss")
        self.loss(by["loss"][None])
        self.doc.heading("Backward pass")
        if "loss_grad" in by:
            self.loss_grad(by["loss_grad"][self.n])
        for l in range(self.n, 0, -1):
            if l == self.n:
                self.doc.para(f"Output error (layer {l}):")
                self.output_error(by["output_error"][l])
            else:
                self.doc.para(f"Hidden error (layer {l}): the error of layer {l + 1} sent back "
                              f"through its weights, times the slope of this layer's activation.")
                self.hidden_error(by["hidden_error"][l])
            self.doc.para(f"Gradients of layer {l}:")
            self.grad_weight(by["grad_weight"][l])
            if l in by.get("grad_bias", {}):
                self.grad_bias(by["grad_bias"][l])
        self.doc.heading("Update")
        S = self.S
        self.doc.para(f"Gradient descent with learning rate "
                      f"{self.m(S.alpha + ' = ' + S.num(t.lr))}: "
                      f"{self.m('w ' + S.arrow + ' w - ' + S.alpha + ' ' + S.grad('w'))}.")
        rows = []
        for l in range(1, self.n + 1):
            rows += self.update(by["update_weight"][l], "W")
            if l in by.get("update_bias", {}):
                rows += self.update(by["update_bias"][l], "b")
        self.doc.eqs(rows)
        after = t.losses[k] if k < t.num_steps else t.final_loss
        before = t.losses[k - 1]
        word = "falls" if after < before else ("rises" if after > before else "stays")
        self.doc.para(f"The loss {word} from {self.m('J = ' + S.num(before))} to "
                      f"{self.m('J = ' + S.num(after))} with the updated weights.")

    # ---------------------------------------------------------------- forward
    def linear(self, st) -> None:
        S, l = self.S, st.layer
        W, ap = st.operands["W"], _squeeze(self.t, st.operands["a_prev"])
        b = st.operands.get("b")
        rows = self.formula_row(st)
        fan = W.shape[1]
        if self.expand(st.value, fan):
            z = _squeeze(self.t, st.value)
            for j in range(W.shape[0]):
                sym_terms = [f"{S.el('W', l, (j, i))}{S.mul}{self.prev_el(l, i, fan)}"
                             for i in range(fan)]
                num_terms = [f"{S.num(W[j, i], i > 0)}{S.mul}{S.num(ap[i], True)}"
                             for i in range(fan)]
                if b is not None:
                    sym_terms.append(S.el("b", l, _idx(len(b), j)))
                    num_terms.append(S.num(b[j], True))
                rows.append((S.el("z", l, _idx(len(z), j)), "=",
                             [" + ".join(sym_terms), " + ".join(num_terms), S.num(z[j])]))
        else:
            rows.append((S.sym("z", l), "=", [self.arr(st.value)]))
        self.emit(rows)

    def activation(self, st) -> None:
        S, l, f = self.S, st.layer, st.activation
        rows = self.formula_row(st)
        last = l == self.n
        name = "yhat" if last else "a"
        lay = None if last else l
        a = _squeeze(self.t, st.value)
        z = _squeeze(self.t, st.operands["z"])
        if f != "softmax" and self.expand(st.value):
            for j in range(a.size):
                ix = _idx(a.size, j)
                rows.append((S.el(name, lay, ix), "=",
                             [S.act(f, S.el("z", l, ix)), S.act(f, S.num(z[j])), S.num(a[j])]))
        else:
            rows.append((S.sym(name, lay), "=", [self.arr(st.value)]))
        self.emit(rows)
        if last and self.t.output != self.t.activations[-1]:
            self.doc.para(f"(The loss applies the {f} to the network's output "
                          f"{self.m(S.sym('z', l))}, as PyTorch's "
                          f"{'CrossEntropyLoss' if f == 'softmax' else 'BCEWithLogitsLoss'} does.)")

    # ------------------------------------------------------------------- loss
    def loss(self, st) -> None:
        S, t = self.S, self.t
        rows = self.formula_row(st)
        yhat, y = _squeeze(t, st.operands["yhat"]), _squeeze(t, st.operands["y"])
        if t.single:
            K = yhat.size
            terms = []
            for k in range(K):
                if t.loss in ("mse", "mse_half"):
                    terms.append(S.square(f"{S.num(y[k])} - {S.num(yhat[k], True)}"))
                elif t.loss == "ce":
                    if y[k] != 0:
                        terms.append(("" if y[k] == 1 else f"{S.num(y[k])}{S.mul}")
                                     + S.log(S.num(yhat[k])))
                else:
                    terms.append(f"{S.num(y[k])}{S.mul}{S.log(S.num(yhat[k]))} + "
                                 f"{S.paren('1 - ' + S.num(y[k], True))}{S.mul}"
                                 f"{S.log('1 - ' + S.num(yhat[k], True))}")
            body = " + ".join(terms)
            if t.loss == "mse_half":
                body = f"{S.frac('1', '2')} {S.paren(body) if len(terms) > 1 else body}"
            elif t.loss in ("ce", "bce"):
                body = "-" + (S.paren(body) if len(terms) > 1 or t.loss == "bce" else body)
            if len(body) <= 300:
                rows.append(("J", "=", [body, S.num(st.value)]))
            else:
                rows.append(("J", "=", [S.num(st.value)]))
        else:
            rows.append(("J", "=", [S.num(st.value)]))
        self.emit(rows)

    def loss_grad(self, st) -> None:
        S, t = self.S, self.t
        rows = self.formula_row(st)
        if self.expand(st.value):
            yhat, y = _squeeze(t, st.operands["yhat"]), _squeeze(t, st.operands["y"])
            c = "-2" if t.loss == "mse" else "-"
            for k in range(yhat.size):
                ix = _idx(yhat.size, k)
                rows.append((S.grad(S.el("yhat", None, ix)), "=",
                             [f"{c}{S.paren(S.num(y[k]) + ' - ' + S.num(yhat[k], True))}",
                              S.num(st.value.reshape(-1)[k])]))
        else:
            rows.append((S.grad(S.sym("yhat")), "=", [self.arr(st.value)]))
        self.emit(rows)

    # ------------------------------------------------------------- backward
    def derivative_rows(self, st) -> list:
        """f'(z) of this layer, element by element for sigmoid/tanh (through a)."""
        S, l, f = self.S, st.layer, st.activation
        a = _squeeze(self.t, st.operands["a"])
        fp = _squeeze(self.t, st.operands["fprime"])
        rows = []
        if f in ("sigmoid", "tanh") and self.expand(fp):
            aname = "yhat" if l == self.n else "a"
            alay = None if l == self.n else l
            for j in range(a.size):
                ix = _idx(a.size, j)
                ae = S.el(aname, alay, ix)
                if f == "sigmoid":
                    sym = f"{ae}{S.paren('1 - ' + ae)}"
                    num = f"{S.num(a[j])}{S.paren('1 - ' + S.num(a[j], True))}"
                else:
                    sym = f"1 - {ae}^2"
                    num = f"1 - {S.num(a[j], True)}^2"
                rows.append((S.dact(f, S.el("z", l, ix)), "=", [sym, num, S.num(fp[j])]))
        else:
            aname = S.sym("yhat") if l == self.n else S.sym("a", l)
            zname = S.sym("z", l)
            how = {"sigmoid": f"{aname}{S.had}{S.paren('1 - ' + aname)}",
                   "tanh": f"1 - {aname}^2",
                   "relu": (rf"[{zname} > 0]" if self.md else f"(1 where {zname} > 0, else 0)"),
                   "identity": "1"}[f]
            rows.append((S.dact(f, zname), "=", [how, self.arr(st.operands["fprime"])]))
        return rows

    def output_error(self, st) -> None:
        S, t, l = self.S, self.t, st.layer
        rows = self.formula_row(st)
        d = _squeeze(t, st.value)
        if t.loss in ("mse", "mse_half"):
            rows += self.derivative_rows(st)
            if self.expand(st.value):
                g = _squeeze(t, st.operands["dJ_dyhat"])
                fp = _squeeze(t, st.operands["fprime"])
                for k in range(d.size):
                    ix = _idx(d.size, k)
                    rows.append((S.el("delta", l, ix), "=",
                                 [f"{S.grad(S.el('yhat', None, ix))}{S.mul}"
                                  f"{S.dact(st.activation, S.el('z', l, ix))}",
                                  f"{S.num(g[k])}{S.mul}{S.num(fp[k], True)}", S.num(d[k])]))
            else:
                rows.append((S.sym("delta", l), "=", [self.arr(st.value)]))
        else:
            self.emit(rows)
            rows = []
            self.doc.para(f"With {'softmax' if t.loss == 'ce' else 'a sigmoid'} output and "
                          f"cross-entropy, the slope of the output function cancels against the "
                          f"loss's: the error is simply prediction minus target.")
            if self.expand(st.value):
                yhat, y = _squeeze(t, st.operands["yhat"]), _squeeze(t, st.operands["y"])
                for k in range(d.size):
                    ix = _idx(d.size, k)
                    rows.append((S.el("delta", l, ix), "=",
                                 [f"{S.el('yhat', None, ix)} - {S.el('y', None, ix)}",
                                  f"{S.num(yhat[k])} - {S.num(y[k], True)}", S.num(d[k])]))
            else:
                rows.append((S.sym("delta", l), "=", [self.arr(st.value)]))
        self.emit(rows)

    def hidden_error(self, st) -> None:
        S, t, l = self.S, self.t, st.layer
        rows = self.formula_row(st) + self.derivative_rows(st)
        Wn = st.operands["W_next"]
        dn = _squeeze(t, st.operands["delta_next"])
        fp = _squeeze(t, st.operands["fprime"])
        d = _squeeze(t, st.value)
        if self.expand(st.value, Wn.shape[0]):
            K = Wn.shape[0]
            for j in range(d.size):
                ix = _idx(d.size, j)
                sym = " + ".join(f"{S.el('W', l + 1, (k, j))}{S.mul}"
                                 f"{S.el('delta', l + 1, _idx(K, k))}" for k in range(K))
                num = " + ".join(f"{S.num(Wn[k, j], k > 0)}{S.mul}{S.num(dn[k], True)}"
                                 for k in range(K))
                rows.append((S.el("delta", l, ix), "=",
                             [f"{S.paren(sym)}{S.mul}{S.dact(st.activation, S.el('z', l, ix))}",
                              f"{S.paren(num)}{S.mul}{S.num(fp[j], True)}", S.num(d[j])]))
        else:
            rows.append((S.sym("delta", l), "=", [self.arr(st.value)]))
        self.emit(rows)

    def grad_weight(self, st) -> None:
        S, t, l = self.S, self.t, st.layer
        rows = self.formula_row(st)
        d = _squeeze(t, st.operands["delta"])
        ap = _squeeze(t, st.operands["a_prev"])
        g = st.value
        if self.expand(g):
            for k in range(g.shape[0]):
                for i in range(g.shape[1]):
                    rows.append((S.grad(S.el("W", l, (k, i))), "=",
                                 [f"{S.el('delta', l, _idx(g.shape[0], k))}{S.mul}"
                                  f"{self.prev_el(l, i, g.shape[1])}",
                                  f"{S.num(d[k])}{S.mul}{S.num(ap[i], True)}", S.num(g[k, i])]))
        else:
            rows.append((S.grad(S.sym("W", l)), "=", [self.S.array(g)]))
        self.emit(rows)

    def grad_bias(self, st) -> None:
        S, l = self.S, st.layer
        rows = self.formula_row(st)
        rows.append((S.grad(S.sym("b", l)), "=", [self.S.array(st.value)]))
        self.emit(rows)

    def update(self, st, what: str) -> list:
        S, l = self.S, st.layer
        old, g, new = st.operands["old"], st.operands["grad"], st.value
        lr = float(st.operands["lr"])
        rows = []
        if self.expand(new):
            flat_idx = list(np.ndindex(new.shape))
            for ix in flat_idx:
                e = ix if new.ndim == 2 else _idx(new.size, ix[0])
                rows.append((S.el(what, l, e), S.arrow,
                             [f"{S.num(old[ix])} - {S.num(lr)}{S.mul}{S.num(g[ix], True)}",
                              S.num(new[ix])]))
        else:
            p = S.sym(what, l)
            rows.append((p, S.arrow, [f"{p} - {S.num(lr)} {S.grad(p)}", self.S.array(new)]))
        return rows

    # ---------------------------------------------------------------- summary
    def summary(self) -> None:
        t, S = self.t, self.S
        if t.num_steps > 1:
            self.doc.heading("Loss over the steps", major=True)
            after = t.losses[1:] + [t.final_loss]
            self.doc.table(["step", "J before", "J after"],
                           [[str(i + 1), S.num(b), S.num(a)]
                            for i, (b, a) in enumerate(zip(t.losses, after))])
        rows = []
        for l, (w, b) in enumerate(t.parameters, start=1):
            rows.append((S.sym("W", l), "=", [self.S.array(w)]))
            if b is not None:
                rows.append((S.sym("b", l), "=", [self.S.array(b)]))
        self.doc.heading("Parameters after the last update", major=t.num_steps > 1)
        self.emit(rows)

    def run(self) -> str:
        self.header()
        for k in range(1, self.t.num_steps + 1):
            self.step(k, [s for s in self.t.steps if s.step == k])
        self.summary()
        return self.doc.result()


def _split_formula(text: str) -> tuple[str, str, str]:
    for rel in (" = ", r" \leftarrow ", " <- "):
        if rel in text:
            lhs, rhs = text.split(rel, 1)
            return lhs, rel.strip(), rhs
    return text, "", ""


def render_text(trace, precision: int = 6) -> str:
    """The trace as plain ASCII text for a terminal (80 columns)."""
    return _Explainer(trace, _TextStyle(precision), _TextDoc()).run()


def render_markdown(trace, precision: int = 6) -> str:
    """The trace as Markdown with LaTeX ($$...$$ blocks), for notebooks and docs."""
    return _Explainer(trace, _LatexStyle(precision), _MarkdownDoc()).run()
