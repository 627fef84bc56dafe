"""Jupyter's rich displays: what a notebook shows for a Tensor, a Module, a summary, a
gradient-flow report, a History, an autograd graph, a trace and fit's progress bar.

Each display is read back without a browser: HTML tables are parsed into their cells and
compared with the figures ``str()`` prints (and with the objects' own numbers), images are
decoded, and one test runs the displays in a real Jupyter kernel (nbclient + ipykernel) to
check the MIME types a notebook receives.
"""
from __future__ import annotations

import base64
import doctest
import html
import re
import shutil
import struct
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

import chainrule as cr
from chainrule import _html, nn
from chainrule.train import progress


class _Tables(HTMLParser):
    """Every <table> of an HTML text as {"caption": str, "rows": [[cell text, ...], ...]}
    (the header row first); <pre> blocks as {"pre": text}; other text as {"text": ...}."""

    def __init__(self):
        super().__init__()
        self.items: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._where: str | None = None      # "caption", "pre" or None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.items.append({"caption": "", "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("caption", "pre"):
            self._where = tag
            if tag == "pre":
                self.items.append({"pre": ""})

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr":
            self.items[-1]["rows"].append(self._row)
            self._row = None
        elif tag in ("caption", "pre"):
            self._where = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._where == "caption":
            self.items[-1]["caption"] += data
        elif self._where == "pre":
            self.items[-1]["pre"] += data
        elif data.strip():
            self.items.append({"text": data})


def parse(html: str) -> list[dict]:
    p = _Tables()
    p.feed(html)
    p.close()
    return p.items


def tables(html: str) -> list[dict]:
    return [t for t in parse(html) if "rows" in t]


def test_html_helper_escapes_and_its_docstring_runs():
    html = _html.table(["a<b", "n"], [["<script>", "1"]], right=[1], caption="x & y")
    t = tables(html)[0]
    assert t["caption"] == "x & y" and t["rows"] == [["a<b", "n"], ["<script>", "1"]]
    assert "<script>" not in html
    assert doctest.testmod(_html).failed == 0


# ------------------------------------------------------------------------------ Tensor
def test_tensor_html_shows_shape_dtype_values_and_grad():
    x = cr.tensor([[1.0, -2.0], [3.5, 4.0]], requires_grad=True)
    (x * x).sum().backward()
    items = parse(x._repr_html_())
    head = " ".join(i["text"] for i in items if "text" in i)
    assert "shape (2, 2)" in head and "dtype float32" in head and "requires_grad=True" in head
    pres = [i["pre"] for i in items if "pre" in i]
    values = np.array(eval(pres[0]))           # numpy prints a nested list literal
    grad = np.array(eval(pres[1]))
    np.testing.assert_allclose(values, x.numpy())
    np.testing.assert_allclose(grad, 2 * x.numpy())


def test_tensor_html_of_a_result_names_its_op_and_has_no_grad_block():
    y = cr.tensor([1.0, 2.0], requires_grad=True) * 3
    items = parse(y._repr_html_())
    head = " ".join(i["text"] for i in items if "text" in i)
    assert "grad_fn=MulBackward" in head
    assert len([i for i in items if "pre" in i]) == 1


def test_tensor_html_summarises_large_tensors_and_names_parameters():
    big = cr.arange(100000, dtype=cr.float64).reshape(1000, 100)
    items = parse(big._repr_html_())
    pre = [i["pre"] for i in items if "pre" in i][0]
    assert "..." in pre and len(pre) < 2000 and "9.9999e+04]]" in pre
    assert "dtype float64" in " ".join(i["text"] for i in items if "text" in i)
    p = nn.Linear(2, 3).weight
    assert parse(p._repr_html_())[0]["text"] == "Parameter"


# ------------------------------------------------------------------------------ Module
def test_module_html_is_the_layer_table_with_parameter_counts():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.BatchNorm1d(3), nn.Linear(3, 2))
    model[3].bias.requires_grad_(False)
    model.eval()
    t = tables(model._repr_html_())[0]
    assert t["caption"] == "Sequential: 29 parameters (27 trainable), eval mode"
    head, *rows = t["rows"]
    assert head == ["layer", "type", "arguments", "parameter shapes", "parameters"]
    assert [r[:2] for r in rows] == [["0", "Linear"], ["1", "ReLU"], ["2", "BatchNorm1d"],
                                     ["3", "Linear"]]
    assert rows[0][2] == "in_features=4, out_features=3, bias=True"
    assert rows[0][3] == "weight (3, 4), bias (3,)" and rows[0][4] == "15"
    assert rows[1][3:] == ["-", "0"]
    assert rows[3][4] == "8 (frozen)"
    assert sum(int(r[4].split()[0]) for r in rows) == sum(p.numel() for p in model.parameters())


def test_module_html_of_a_nested_model_names_layers_by_path():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(cr.ones(1))
            self.body = nn.Sequential(nn.Linear(2, 2), nn.Tanh())

    t = tables(Net()._repr_html_())[0]
    assert [r[:2] for r in t["rows"][1:]] == [["(root)", "Net"], ["body.0", "Linear"],
                                               ["body.1", "Tanh"]]
    assert t["rows"][1][3:] == ["scale (1,)", "1"]


# ----------------------------------------------------------------------------- summary
def test_summary_html_shows_the_figures_str_prints():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    s = cr.explain.summary(model, (4,), batch_size=10)
    layers, totals = tables(s._repr_html_())
    assert layers["caption"] == "Cost per layer for a batch of 10"
    assert layers["rows"][1] == ["0 (Linear)", "(10, 3)", "15", "120", "120", "120 B"]
    assert layers["rows"][3] == ["2 (Linear)", "(10, 2)", "8", "60", "120", "80 B"]
    # every cell is one str() prints, on the same row
    text_rows = str(s).splitlines()[2:5]
    for cells, line in zip(layers["rows"][1:], text_rows):
        assert line.split() == " ".join(cells).split()
    facts = dict((k, v) for k, v in totals["rows"][1:])
    assert facts["Parameters"] == "23 (23 trainable)"
    assert facts["Multiply-adds forward"] == f"{s.macs_forward:,}" == "180"
    assert facts["Multiply-adds per step"] == "420 (420)"


def test_summary_html_carries_the_notes():
    class Own(nn.Module):
        def forward(self, x):
            return x * 2

    s = cr.explain.summary(nn.Sequential(nn.Linear(2, 2), Own()), (2,))
    html = s._repr_html_()
    assert tables(html)[0]["rows"][2][3] == "?"
    assert "totals leave them out" in html
    assert tables(html)[1]["rows"][4][1].startswith("at least ")


# ------------------------------------------------------------------------ gradient flow
def _deep_sigmoid(depth: int = 8):
    cr.manual_seed(0)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(16, 16), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(16, 1))


def test_diagnosis_html_shows_verdict_table_findings_and_advice():
    model = _deep_sigmoid()
    x, y = cr.randn(32, 16), cr.randn(32, 1)
    report = cr.explain.diagnose(model, x, y, nn.MSELoss(), lr=0.1)
    assert report.status == "vanishing"
    html = report._repr_html_()
    assert 'color:#cf222e">Gradient flow: vanishing gradients</b>' in html
    t = tables(html)[0]
    assert t["rows"][0] == ["parameter", "shape", "grad norm", "weight norm", "update/weight"]
    assert len(t["rows"]) == 1 + len(report.flow.params)
    for row, p in zip(t["rows"][1:], report.flow.params):
        assert row[0] == p.name and row[1] == "x".join(map(str, p.shape))
        assert float(row[2]) == pytest.approx(p.grad_norm, rel=5e-3)
        assert float(row[4]) == pytest.approx(p.update_ratio, rel=5e-3)
    # the same figures as the text report
    text = str(report)
    for row in t["rows"][1:]:
        assert " ".join(row) in " ".join(text.split())
    assert report.findings[0].message.split(":")[0] in html.replace("&#x27;", "'")
    assert "Try" in html and "kaiming_normal_" in html


def test_diagnosis_html_of_a_healthy_network_is_green_and_says_so():
    cr.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    report = cr.explain.diagnose(model, cr.randn(16, 4), cr.randn(16, 1), nn.MSELoss())
    html = report._repr_html_()
    assert report.healthy and 'color:#1a7f37">Gradient flow: healthy</b>' in html
    assert "(loss = " in html and "lr = 0.01" in html
    assert "Healthy: gradients reach every layer" in html and "Findings" not in html
    flow_html = report.flow._repr_html_()
    assert tables(flow_html)[0]["rows"] == tables(html)[0]["rows"]


# ------------------------------------------------------------------------------ History
def _history() -> cr.train.History:
    h = cr.train.History()
    h.append(1, {"loss": 0.9, "accuracy": 0.6, "val_loss": 1.0, "lr": 0.1})
    h.append(2, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.7, "lr": 0.05})
    return h


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_history_shows_its_curves_as_a_png():
    pytest.importorskip("matplotlib")
    bundle = _history()._repr_mimebundle_()
    assert bundle["text/plain"] == "History(epochs=2, keys=['loss', 'accuracy', 'val_loss', 'lr'])"
    assert "text/html" not in bundle
    width, height = _png_size(base64.b64decode(bundle["image/png"]))
    # two panels (loss with val_loss, accuracy) of 5 x 3.6 inches at 80 dpi
    assert (width, height) == (800, 288)


def test_history_without_matplotlib_or_epochs_is_a_table(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    bundle = _history()._repr_mimebundle_()
    assert "image/png" not in bundle
    t = tables(bundle["text/html"])[0]
    assert t["rows"] == [["epoch", "loss", "accuracy", "val_loss", "lr"],
                         ["1", "0.9", "0.6", "1", "0.1"], ["2", "0.5", "0.8", "0.7", "0.05"]]
    h = cr.train.History()
    h.append(1, {"loss": 1.0})
    h.append(2, {"loss": 0.5, "val_loss": 0.25})
    assert tables(h._repr_mimebundle_()["text/html"])[0]["rows"][1] == ["1", "1", ""]
    empty = cr.train.History()._repr_mimebundle_()
    assert tables(empty["text/html"])[0]["rows"] == [["epoch"]]


# -------------------------------------------------------------------------------- graph
def _loss_graph():
    w = cr.tensor([[0.5, -1.0]], requires_grad=True)
    x = cr.tensor([[2.0], [3.0]])
    loss = (w @ x).sigmoid().sum()
    loss.backward()
    return loss, w


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="the Graphviz 'dot' program is not installed")
def test_graph_draws_itself_as_svg_when_dot_is_installed():
    pytest.importorskip("graphviz")
    loss, w = _loss_graph()
    text = cr.explain.graph(loss, names={w: "w"})
    assert isinstance(text, str) and text.startswith("digraph") and repr(text) == str(text)
    bundle = text._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"} and bundle["text/plain"] == text
    svg = bundle["image/svg+xml"]
    assert "<svg" in svg
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    # sigmoid'(-2) = 0.104994 times x = (2, 3): the gradient of w
    assert texts == ["w", "(1, 2)", "value [[0.5, -1]]", "grad [[0.21, 0.315]]",
                     "MatMul", "(1, 1)", "value [[-2]]", "Sigmoid", "(1, 1)", "value [[0.1192]]",
                     "Sum (output)", "scalar", "value 0.1192"]
    # a Mermaid text draws the same graph
    mermaid = cr.explain.graph(loss, format="mermaid", names={w: "w"})
    assert mermaid._repr_mimebundle_()["image/svg+xml"] == svg


def test_graph_falls_back_to_mermaid_without_graphviz(monkeypatch, tmp_path):
    loss, w = _loss_graph()
    monkeypatch.setenv("PATH", str(tmp_path))          # no 'dot' anywhere
    text = cr.explain.graph(loss, names={w: "w"})
    bundle = text._repr_mimebundle_()
    assert set(bundle) == {"text/markdown", "text/plain"}
    mermaid = str(cr.explain.graph(loss, format="mermaid", names={w: "w"}))
    assert bundle["text/markdown"] == f"```mermaid\n{mermaid}```\n"
    monkeypatch.setitem(sys.modules, "graphviz", None)   # no Python package either
    assert "text/markdown" in text._repr_mimebundle_()


# -------------------------------------------------------------------------------- trace
def test_trace_markdown_renders_latex_with_the_worked_numbers():
    md = cr.explain.presets.example_231().trace(format="markdown")
    shown = md._repr_markdown_()
    assert shown == str(md) and "\\begin{aligned}" in shown
    for figure in ("0.635015", "0.133214", "-0.169186", "0.216919"):
        assert figure in shown


# ----------------------------------------------------------------------------- progress
class _FakeWidgetBar:
    """Stands in for tqdm.notebook.tqdm: records how the progress display drives it."""
    made: list[dict] = []

    def __init__(self, **kwargs):
        self.kwargs, self.n, self.total = kwargs, 0, kwargs["total"]
        _FakeWidgetBar.made.append(kwargs)

    def update(self, n):
        self.n += n

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text

    def close(self):
        self.closed = True


def test_progress_uses_the_notebook_widget_when_tqdm_auto_gives_it(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_tqdm", lambda: _FakeWidgetBar)
    monkeypatch.setattr(progress, "_is_widget", lambda tqdm: tqdm is _FakeWidgetBar)
    assert progress.ProgressBar().mode == "bar"
    # an explicit stream that is not a terminal still gets lines (a log file)
    import io
    assert progress.ProgressBar(stream=io.StringIO()).mode == "lines"
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2))
    data = cr.data.TensorDataset(cr.randn(8, 2), cr.tensor(np.array([0, 1] * 4)))
    _FakeWidgetBar.made.clear()
    cr.train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1),
                 cr.data.DataLoader(data, batch_size=4), epochs=2, verbose=1)
    assert [m["desc"] for m in _FakeWidgetBar.made] == ["Epoch 1/2", "Epoch 2/2"]
    assert "|{bar}|" in _FakeWidgetBar.made[0]["bar_format"]
    assert "Epoch 2/2 - " in capsys.readouterr().out


def test_progress_tells_the_widget_bar_from_the_text_bar():
    tqdm = pytest.importorskip("tqdm")
    notebook = pytest.importorskip("tqdm.notebook")
    assert progress._is_widget(notebook.tqdm)
    assert not progress._is_widget(tqdm.tqdm) and not progress._is_widget(None)


def test_displays_reach_a_real_jupyter_kernel(run_notebook):
    """A notebook shows each object with its rich MIME type (not its text repr)."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("matplotlib")
    cells = [
        "import chainrule as cr\nfrom chainrule import nn\ncr.manual_seed(0)\n"
        "model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))\n"
        "x = cr.randn(4, 2); y = cr.tensor([0, 1, 1, 0])",
        "x",
        "model",
        "cr.explain.summary(model, (2,), batch_size=4)",
        "cr.explain.diagnose(model, x, y, nn.CrossEntropyLoss())",
        "cr.explain.graph(nn.CrossEntropyLoss()(model(x), y), names=model)",
        "cr.explain.presets.example_231().trace(format='markdown')",
        "loader = cr.data.DataLoader(cr.data.TensorDataset(x, y), batch_size=2)\n"
        "h = cr.train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1),"
        " loader, epochs=2, verbose=1)\nh",
    ]
    nb = run_notebook(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in cells]), timeout=120)
    results = [[o for o in c.outputs if o["output_type"] in ("execute_result", "display_data")]
               for c in nb.cells]
    kinds = [set().union(*(o["data"] for o in r)) if r else set() for r in results]
    assert "text/html" in kinds[1] and "text/html" in kinds[2]
    assert "text/html" in kinds[3] and "text/html" in kinds[4]
    graph = "image/svg+xml" if shutil.which("dot") else "text/markdown"
    assert graph in kinds[5]
    assert "text/markdown" in kinds[6]
    assert "image/png" in kinds[7]
    _png_size(base64.b64decode(results[7][-1]["data"]["image/png"]))
    pytest.importorskip("ipywidgets")
    assert "application/vnd.jupyter.widget-view+json" in kinds[7]   # fit's progress widget
    stream = "".join(o.get("text", "") for o in nb.cells[7].outputs if o["output_type"] == "stream")
    assert "Epoch 2/2 - " in stream
