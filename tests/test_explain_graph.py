"""cr.explain.graph / render_graph: DOT and Mermaid text that parses, labels, and the
message when Graphviz is missing."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.explain import GraphvizNotFoundError

_DOT_NODE = re.compile(
    r'^  (n\d+) \[label="((?:[^"\\]|\\.)*)"(?:, [a-z]+=(?:"[^"]*"|[\w#.]+))*\];$')
_DOT_EDGE = re.compile(r"^  (n\d+) -> (n\d+);$")
_MERMAID_NODE = re.compile(r'^  (n\d+)(\["|\(\[")([^"]*)("\]|"\]\))$')
_MERMAID_EDGE = re.compile(r"^  (n\d+) --> (n\d+)$")


def check_dot(text: str) -> tuple[dict, list]:
    """Structural DOT check: one digraph, balanced braces and quotes, every statement a
    node, an edge or a default, every edge endpoint declared."""
    assert text.count("{") == text.count("}") == 1
    lines = text.strip().splitlines()
    assert re.match(r"^digraph \w+ \{$", lines[0]) and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := _DOT_NODE.match(line):
            assert m.group(1) not in nodes, f"node declared twice: {line}"
            nodes[m.group(1)] = m.group(2)
        elif m := _DOT_EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        else:
            assert re.match(r"^  (rankdir=\w+|node \[.*\]);$", line), f"bad DOT line: {line!r}"
    for a, b in edges:
        assert a in nodes and b in nodes, f"edge {a} -> {b} has an undeclared end"
    graphviz = pytest.importorskip("graphviz")
    src = graphviz.Source(text)
    assert src.source == text
    return nodes, edges


def check_mermaid(text: str) -> tuple[dict, list]:
    lines = text.strip().splitlines()
    assert lines[0] == "flowchart TB"
    nodes, edges = {}, []
    for line in lines[1:]:
        if m := _MERMAID_NODE.match(line):
            assert {'["': '"]', '(["': '"])'}[m.group(2)] == m.group(4)
            nodes[m.group(1)] = m.group(3)
        elif m := _MERMAID_EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        else:
            assert re.match(r"^  (classDef \w+ .+|class [\w,]+ \w+)$", line), f"bad line {line!r}"
    for a, b in edges:
        assert a in nodes and b in nodes, f"edge {a} --> {b} has an undeclared end"
    return nodes, edges


def _small_graph():
    w = cr.tensor(np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]), requires_grad=True)
    b = cr.tensor(np.zeros(3), requires_grad=True)
    x = cr.tensor(np.array([[1.0, 2.0]]))
    loss = (cr.sigmoid(cr.ops.linear(x, w, b)) ** 2).sum()
    return loss, w, b


def test_dot_structure_labels_values_and_grads():
    loss, w, b = _small_graph()
    loss.backward()
    nodes, edges = check_dot(cr.explain.graph(loss, names={w: "w1", b: "b1"}))
    labels = list(nodes.values())
    assert len(nodes) == 6 and len(edges) == 5
    assert any(l.startswith("w1\\n(3, 2)\\nvalue [[0.1, 0.2]") and "\\ngrad [[" in l
               for l in labels)
    assert any(l.startswith("Linear\\n(1, 3)") for l in labels)
    assert any(l.startswith("Sum (output)\\nscalar\\nvalue 1.665") for l in labels)


def test_mermaid_structure():
    loss, w, b = _small_graph()
    nodes, edges = check_mermaid(cr.explain.graph(loss, format="mermaid", names={w: "w1"}))
    assert len(nodes) == 6 and len(edges) == 5
    assert any(v.startswith("w1<br/>(3, 2)") for v in nodes.values())
    assert any(v.startswith("leaf<br/>(3,)") for v in nodes.values())     # b, unnamed


def test_module_parameter_names_and_max_values():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    loss = model(cr.randn(5, 4)).mean()
    nodes, _ = check_dot(cr.explain.graph(loss, names=model, max_values=6))
    labels = " | ".join(nodes.values())
    for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert f"{name}\\n" in labels
    assert "value" not in nodes[next(k for k, v in nodes.items() if v.startswith("0.weight"))]
    bare = cr.explain.graph(loss, show_values=False)
    assert "value" not in bare


def test_shared_input_and_deep_chain():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    for _ in range(300):                     # long graphs are walked without recursion
        y = y * 1.0001
    nodes, edges = check_dot(cr.explain.graph(y.sum(), names={x: "x"}))
    assert sum(1 for v in nodes.values() if v.startswith("x\\n")) == 1
    assert edges.count(("n0", "n1")) == 2            # x feeds Mul twice
    check_mermaid(cr.explain.graph(y.sum(), format="mermaid"))


def test_graph_errors():
    with pytest.raises(TypeError, match="expected a Tensor"):
        cr.explain.graph([1, 2])
    with pytest.raises(ValueError, match="format must be 'dot' or 'mermaid'"):
        cr.explain.graph(cr.tensor([1.0]), format="svg")
    with pytest.raises(TypeError, match="names must map tensors"):
        cr.explain.graph(cr.tensor([1.0]), names={"w": 1})


def test_render_graph_says_what_to_install(monkeypatch, tmp_path):
    pytest.importorskip("graphviz")
    loss, *_ = _small_graph()
    monkeypatch.setenv("PATH", str(tmp_path))          # no 'dot' anywhere
    with pytest.raises(GraphvizNotFoundError) as err:
        cr.explain.render_graph(loss, str(tmp_path / "g.svg"))
    msg = str(err.value)
    assert "'dot' program was not found" in msg and "apt-get install graphviz" in msg
    assert "format='dot'" in msg
    assert not (tmp_path / "g.svg").exists()


def test_render_graph_without_python_package(monkeypatch, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "graphviz", None)
    loss, *_ = _small_graph()
    with pytest.raises(GraphvizNotFoundError, match="pip install graphviz"):
        cr.explain.render_graph(loss, str(tmp_path / "g.png"), format="png")
    with pytest.raises(ValueError, match="'svg' or 'png'"):
        cr.explain.render_graph(loss, str(tmp_path / "g.pdf"), format="pdf")


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="the Graphviz 'dot' program is not installed")
def test_render_graph_writes_svg(tmp_path):
    pytest.importorskip("graphviz")
    loss, *_ = _small_graph()
    path = cr.explain.render_graph(loss, str(tmp_path / "g.svg"))
    assert open(path).read().lstrip().startswith(("<?xml", "<svg"))
