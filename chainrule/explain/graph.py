"""Draw the autograd graph behind a tensor: Graphviz DOT text, Mermaid text, or an image.

The graph is read, never changed. Nodes are the operations that made the tensor (one per
``Function`` node, labelled with its class name and the shape of what it produced) and the
leaf tensors they consumed (labelled with a name when one is known, and their shape).
Small tensors (at most ``max_values`` elements) also show their values, and their
gradients when ``.grad`` is filled. Edges point the way data flowed in the forward pass:
from inputs to the operation that used them. Only inputs that require grad are part of the
graph (constants were not recorded), as in PyTorch.

Example:
    >>> w = cr.tensor([[0.5, -1.0]], requires_grad=True)
    >>> loss = (w * w).sum()
    >>> print(cr.explain.graph(loss, format="mermaid", names={w: "w"}))   # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from chainrule.explain.trace import Rendered
from chainrule.tensor import Tensor

__all__ = ["graph", "render_graph", "GraphvizNotFoundError", "GraphText"]


class GraphvizNotFoundError(RuntimeError):
    """Rendering an image needs the ``graphviz`` Python package and the ``dot`` program."""


@dataclass
class _Node:
    key: int                 # id() of the Function node, or of the leaf tensor
    ident: str               # n0, n1, ... in the order nodes are emitted
    kind: str                # "op" or "leaf"
    title: str               # Function class name, or the leaf's name
    tensor: Tensor | None    # the op's output tensor / the leaf itself
    is_output: bool = False
    lines: list[str] = field(default_factory=list)


def _name_map(names: Any) -> dict[int, str]:
    """``{tensor: "w1"}`` or a Module (its ``named_parameters()``) -> {id(tensor): name}."""
    if names is None:
        return {}
    if hasattr(names, "named_parameters"):
        return {id(p): n for n, p in names.named_parameters()}
    if isinstance(names, Mapping):
        out: dict[int, str] = {}
        for t, n in names.items():
            if not isinstance(t, Tensor):
                raise TypeError(f"graph: names must map tensors to strings, got a key of type "
                                f"{type(t).__name__}")
            out[id(t)] = str(n)
        return out
    raise TypeError(f"graph: names must be a dict {{tensor: name}} or a Module, got "
                    f"{type(names).__name__}")


def _shape_text(t: Tensor | None) -> str:
    if t is None:
        return "shape ?"
    return "scalar" if t.ndim == 0 else str(tuple(int(s) for s in t.shape))


def _values_text(arr: np.ndarray) -> str:
    text = np.array2string(np.asarray(arr), separator=", ", max_line_width=10**6,
                           formatter={"float_kind": lambda v: f"{v:.4g}"})
    return " ".join(text.split())


def _collect(root: Tensor, names: dict[int, str]) -> tuple[list[_Node], list[tuple[str, str]]]:
    """Walk from ``root`` to the leaves. Every intermediate tensor is held by the node that
    consumed it (``Function.inputs``), so each op's output tensor is found on the way."""
    nodes: dict[int, _Node] = {}
    order: list[int] = []
    edges: list[tuple[int, int]] = []

    def node_for(t: Tensor) -> int:
        if t.grad_fn is None:
            key = id(t)
            if key not in nodes:
                nodes[key] = _Node(key, "", "leaf", names.get(key, ""), t)
                order.append(key)
        else:
            key = id(t.grad_fn)
            if key not in nodes:
                nodes[key] = _Node(key, "", "op", t.grad_fn.name(), t)
                order.append(key)
        return key

    root_key = node_for(root)
    nodes[root_key].is_output = True
    stack = [root]
    seen = {id(root)}
    while stack:
        t = stack.pop()
        if t.grad_fn is None:
            continue
        consumer = node_for(t)
        for u in t.grad_fn.inputs:
            if u is None:
                continue
            edges.append((node_for(u), consumer))
            if id(u) not in seen:
                seen.add(id(u))
                stack.append(u)
    # Emit inputs before the operations that use them: reverse discovery order.
    emitted = list(reversed(order))
    for i, key in enumerate(emitted):
        nodes[key].ident = f"n{i}"
    ordered = [nodes[k] for k in emitted]
    return ordered, [(nodes[a].ident, nodes[b].ident) for a, b in reversed(edges)]


def _label_lines(node: _Node, show_values: bool, max_values: int) -> list[str]:
    t = node.tensor
    if node.kind == "op":
        lines = [node.title, _shape_text(t)]
    else:
        lines = [node.title or "leaf", _shape_text(t)]
    if node.is_output:
        lines[0] += " (output)"
    if show_values and t is not None and t.data.size <= max_values:
        lines.append("value " + _values_text(t.data))
        if t.grad is not None:
            lines.append("grad " + _values_text(t.grad.data))
    return lines


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _to_dot(nodes: list[_Node], edges: list[tuple[str, str]]) -> str:
    out = ["digraph chainrule {",
           "  rankdir=TB;",
           '  node [fontname="Helvetica", fontsize=10];']
    for n in nodes:
        label = "\\n".join(_dot_quote(line)[1:-1] for line in n.lines)
        if n.kind == "leaf":
            attrs = 'shape=ellipse, style=filled, fillcolor="#dbe9f6"'
        else:
            attrs = 'shape=box, style="rounded,filled", fillcolor="#f2f2f2"'
        if n.is_output:
            attrs += ", peripheries=2"
        out.append(f'  {n.ident} [label="{label}", {attrs}];')
    for a, b in edges:
        out.append(f"  {a} -> {b};")
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_text(line: str) -> str:
    # Mermaid labels are quoted; quotes and angle brackets become entity codes.
    return (line.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;"))


def _to_mermaid(nodes: list[_Node], edges: list[tuple[str, str]]) -> str:
    out = ["flowchart TB"]
    for n in nodes:
        label = "<br/>".join(_mermaid_text(line) for line in n.lines)
        if n.kind == "leaf":
            out.append(f'  {n.ident}(["{label}"])')
        else:
            out.append(f'  {n.ident}["{label}"]')
    for a, b in edges:
        out.append(f"  {a} --> {b}")
    out.append("  classDef leaf fill:#dbe9f6,stroke:#5b7fa6")
    out.append("  classDef output stroke-width:3px")
    leaves = [n.ident for n in nodes if n.kind == "leaf"]
    if leaves:
        out.append("  class " + ",".join(leaves) + " leaf")
    outs = [n.ident for n in nodes if n.is_output]
    out.append("  class " + ",".join(outs) + " output")
    return "\n".join(out) + "\n"


def graph(tensor: Tensor, format: str = "dot", show_values: bool = True, max_values: int = 6,
          names: Any = None) -> str:
    """The computation that produced ``tensor``, as Graphviz DOT or Mermaid flowchart text.

    Args:
        tensor: the result to explain (usually a loss); it need not have been backpropagated.
        format: ``"dot"`` (paste into Graphviz, or see :func:`render_graph`) or
            ``"mermaid"`` (renders on GitHub and in many Markdown viewers).
        show_values: label tensors of at most ``max_values`` elements with their values and,
            where ``.grad`` is filled (leaves after backward, or ``retain_grad()``), gradients.
        names: ``{tensor: "w1"}``, or a Module whose parameter names label its weights.

    Example:
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> y = (x * 3).sum()
        >>> y.backward()
        >>> text = cr.explain.graph(y, format="dot", names={x: "x"})
        >>> text.startswith("digraph")
        True
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"graph: expected a Tensor, got {type(tensor).__name__}")
    if format not in ("dot", "mermaid"):
        raise ValueError(f"graph: format must be 'dot' or 'mermaid', got {format!r}")
    if not isinstance(max_values, int) or max_values < 0:
        raise ValueError(f"graph: max_values must be a non-negative int, got {max_values!r}")
    nodes, edges = _collect(tensor, _name_map(names))
    for n in nodes:
        n.lines = _label_lines(n, show_values, max_values)
    return GraphText(_to_dot(nodes, edges) if format == "dot" else _to_mermaid(nodes, edges),
                     nodes, edges)


class GraphText(Rendered):
    """What :func:`graph` returns: the DOT or Mermaid text (a ``str``, printed as itself),
    which Jupyter draws when it is a cell's result: as an SVG image when the Graphviz ``dot``
    program is installed, otherwise as a Mermaid diagram (JupyterLab 4.1+ and GitHub draw
    ```` ```mermaid ```` blocks in Markdown)."""

    def __new__(cls, text: str, nodes: list[_Node], edges: list[tuple[str, str]]):
        self = super().__new__(cls, text)
        self._nodes, self._edges = nodes, edges
        return self

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        try:
            svg = _dot_image(_to_dot(self._nodes, self._edges), "svg").decode("utf-8")
        except GraphvizNotFoundError:
            mermaid = _to_mermaid(self._nodes, self._edges)
            return {"text/markdown": f"```mermaid\n{mermaid}```\n", "text/plain": str(self)}
        return {"image/svg+xml": svg, "text/plain": str(self)}


_INSTALL_HELP = (
    "Install the Graphviz programs (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew "
    "install graphviz; conda: conda install -c conda-forge graphviz; Windows: the installer "
    "from graphviz.org, with its bin folder on PATH). Without them, "
    "cr.explain.graph(t, format='dot') or format='mermaid' still gives the text to paste into "
    "any Graphviz or Mermaid viewer.")


def render_graph(tensor: Tensor, path: str, format: str = "svg", show_values: bool = True,
                 max_values: int = 6, names: Any = None) -> str:
    """Draw the graph of ``tensor`` into an image file (``"svg"`` or ``"png"``) and return
    its path. Needs the ``graphviz`` Python package (``pip install graphviz``) and the
    Graphviz ``dot`` program; when either is missing the error says how to install it.

    Example:
        >>> cr.explain.render_graph(loss, "loss.svg", names=model)   # doctest: +SKIP
    """
    if format not in ("svg", "png"):
        raise ValueError(f"render_graph: format must be 'svg' or 'png', got {format!r}")
    source = graph(tensor, format="dot", show_values=show_values, max_values=max_values,
                   names=names)
    image = _dot_image(source, format)
    with open(path, "wb") as fh:
        fh.write(image)
    return str(path)


def _dot_image(source: str, format: str) -> bytes:
    """DOT text drawn by Graphviz as ``format`` ("svg" or "png") bytes; raises
    GraphvizNotFoundError, saying what to install, when Graphviz is missing."""
    try:
        import graphviz as graphviz_pkg
    except ImportError:
        raise GraphvizNotFoundError(
            "render_graph needs the graphviz Python package: pip install graphviz "
            "(or pip install chainrule[graph]); it also needs the Graphviz 'dot' program. "
            + _INSTALL_HELP) from None
    try:
        return graphviz_pkg.Source(source).pipe(format=format)
    except graphviz_pkg.ExecutableNotFound:
        raise GraphvizNotFoundError(
            "render_graph: the Graphviz 'dot' program was not found on PATH. "
            + _INSTALL_HELP) from None
