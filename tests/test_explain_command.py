"""`chainrule explain` / `chainrule summary` (chainrule.cli.explain, chainrule.cli.summary)."""
from __future__ import annotations

import json
import sys

import pytest

from chainrule.cli import main


def _explain(argv):
    return main(["explain", *argv])


def _summary(argv):
    return main(["summary", *argv])


def test_example_231(capsys):
    assert _explain(["--example", "2-3-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("One training step of a 2-3-1 network")
    assert "yhat = sigma(z2) = 1 / (1 + exp(-z2)) = sigma(0.553792)" in out
    assert "J = (y - yhat)^2 = (1 - 0.635015)^2 = 0.133214" in out


def _gradient_descent_on_a_line(steps=3, lr=0.1):
    """Linear regression by hand: yhat = w x + b, J = mean (y - yhat)^2 over the preset's
    four points of y = 2x + 1, dJ/dw = mean 2 (yhat - y) x, dJ/db = mean 2 (yhat - y)."""
    xs, ys = [-1.0, 0.0, 1.0, 2.0], [-1.0, 1.0, 3.0, 5.0]
    w = b = 0.0
    losses = []
    for _ in range(steps):
        errors = [w * x + b - y for x, y in zip(xs, ys)]
        losses.append(sum(e * e for e in errors) / 4)
        dw = sum(2 * e * x for e, x in zip(errors, xs)) / 4
        db = sum(2 * e for e in errors) / 4
        w, b = w - lr * dw, b - lr * db
    return losses, w, b


@pytest.mark.parametrize("name", ["1-1", "linear", "LINEAR_REGRESSION", "11"])
def test_linear_regression_preset_is_gradient_descent_by_hand(name, capsys):
    assert _explain(["--example", name, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    losses, w, b = _gradient_descent_on_a_line()
    assert doc["sizes"] == [1, 1] and doc["activations"] == ["identity"]
    assert doc["losses"] == pytest.approx(losses, rel=1e-12)
    (layer,) = doc["parameters"]
    assert layer["weight"][0] == pytest.approx([w], rel=1e-12)
    assert layer["bias"] == pytest.approx([b], rel=1e-12)
    assert _explain(["--example", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 training steps of a 1-1 network")
    assert "J = (1/B) sum_s (y - yhat)^2 = 9" in out and "id'(z1) = 1" in out


def test_regression_preset_with_a_hidden_layer(capsys):
    assert _explain(["--example", "1-2-1", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sizes"] == [1, 2, 1] and doc["activations"] == ["tanh", "identity"]
    assert doc["x"] == [[-1.0], [0.0], [1.0], [2.0]] and doc["y"] == [[-1.0], [1.0], [3.0], [5.0]]
    assert doc["losses"][0] > doc["losses"][1] > doc["losses"][2] > doc["final_loss"]
    assert all(step["checked"] for step in doc["steps"] if not step["kind"].startswith("update"))
    assert _explain(["--example", "2-2-2"]) == 2
    assert "available: 2-3-1, 1-1, 1-2-1" in capsys.readouterr().err


def test_example_markdown_and_steps(capsys):
    assert _explain(["--example", "2-3-1", "--format", "markdown", "--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## 3 training steps of a 2-3-1 network") and "$$" in out


def test_options_network_json_output(capsys):
    argv = ["--layers", "2,2,1", "--activations", "tanh,none", "--weights",
            '{"weights": [[[0.5, -0.5], [0.25, 1.0]], [[1.0, -1.0]]], "biases": [[0, 0], [0.1]]}',
            "--input", "1,2", "--target", "0", "--loss", "bce", "--lr", "0.5", "--format", "json"]
    assert _explain(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sizes"] == [2, 2, 1] and doc["lr"] == 0.5 and doc["output"] == "sigmoid"
    first = next(s for s in doc["steps"] if s["name"] == "z1")
    assert first["value"] == [[-0.5, 2.25]]


def test_weights_without_biases_mean_zero_biases(capsys):
    assert _explain(["--layers", "1,1", "--activations", "none", "--weights", "[[[2.0]]]",
                     "--input", "3", "--target", "1", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert next(s for s in doc["steps"] if s["name"] == "z1")["value"] == [[6.0]]


def test_json_and_yaml_files(tmp_path, capsys):
    spec = {"layers": [2, 3, 1], "activations": ["sigmoid", "sigmoid"],
            "weights": [[[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]], [[0.1, 0.2, 0.3]]],
            "biases": [[0.1, 0.2, 0.3], [0.2]], "input": [0.1, 0.2], "target": [1],
            "loss": "mse", "lr": 0.1}
    (tmp_path / "net.json").write_text(json.dumps(spec))
    assert _explain(["--file", str(tmp_path / "net.json")]) == 0
    from_file = capsys.readouterr().out
    assert _explain(["--example", "2-3-1"]) == 0
    assert from_file == capsys.readouterr().out
    yaml = pytest.importorskip("yaml")
    (tmp_path / "net.yaml").write_text(yaml.safe_dump(spec))
    assert _explain(["--file", str(tmp_path / "net.yaml"), "--steps", "2"]) == 0
    assert "Loss over the steps" in capsys.readouterr().out


def test_yaml_without_pyyaml(tmp_path, capsys, monkeypatch):
    (tmp_path / "net.yml").write_text("layers: [2, 1]\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    assert _explain(["--file", str(tmp_path / "net.yml")]) == 2
    assert "pip install pyyaml" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    ([], "give the network"),
    (["--layers", "2,1", "--input", "1,2"], "--target is required"),
    (["--layers", "2,1", "--input", "1,2,3", "--target", "1"], "x has 3 values"),
    (["--example", "9-9"], "unknown example"),
    (["--layers", "2,1", "--activations", "swish", "--input", "1,2", "--target", "1"],
     "unknown activation"),
    (["--layers", "2,x"], "whole numbers"),
    (["--file", "/nonexistent/net.json"], "no such file"),
])
def test_bad_input_exits_2(argv, message, capsys):
    assert _explain(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule explain: error:") and message in err


def test_summary_of_options_and_json(capsys):
    assert _summary(["--layers", "784,128,10", "--batch-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "100,480" in out and "1 (ReLU)" in out
    assert _summary(["--layers", "4,3,2", "--batch-size", "10", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total_params"] == 23 and doc["macs_per_step"] == 420


def test_summary_of_imported_model(tmp_path, capsys, monkeypatch):
    (tmp_path / "my_models_for_summary.py").write_text(
        "import chainrule as cr\n"
        "def make():\n"
        "    return cr.nn.Sequential(cr.nn.Conv2d(1, 4, 3), cr.nn.Flatten(), "
        "cr.nn.Linear(4 * 26 * 26, 10))\n")
    monkeypatch.chdir(tmp_path)
    assert _summary(["--model", "my_models_for_summary:make", "--input-shape", "1,28,28"]) == 0
    assert "Conv2d" in capsys.readouterr().out
    assert _summary(["--model", "my_models_for_summary:make"]) == 2
    assert "--input-shape is required" in capsys.readouterr().err
    assert _summary(["--model", "no_such_module_xyz:make", "--input-shape", "3"]) == 2
    assert "cannot import" in capsys.readouterr().err


def test_docs_show_the_real_output(capsys):
    import pathlib
    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "explain-2-3-1.md"
    if not doc.exists():
        pytest.skip("docs/ not present")
    text = doc.read_text()
    block = text.split("## The output", 1)[1].split("```text\n", 1)[1].split("\n```", 1)[0]
    assert _explain(["--example", "2-3-1"]) == 0
    assert capsys.readouterr().out.rstrip() == block.rstrip()


def test_ce_defaults_to_logits_output(capsys):
    assert _explain(["--layers", "4,8,3", "--input", "1,2,3,4", "--target", "2",
                     "--loss", "ce"]) == 0
    assert "3 (softmax, applied by the loss)" in capsys.readouterr().out


def test_docstring_examples_run():
    import doctest
    import importlib

    import chainrule as cr
    for name in ("graph", "trace", "diagnose", "summary", "presets"):
        module = importlib.import_module(f"chainrule.explain.{name}")
        result = doctest.testmod(module, extraglobs={"cr": cr}, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, f"doctest of chainrule.explain.{name} failed"
        assert result.attempted > 0
