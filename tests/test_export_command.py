"""``chainrule export RUN --format onnx`` and ``chainrule evaluate model.onnx``: every model
``chainrule train`` makes (mlp, cnn, lstm) is trained briefly, exported, and scored on its
test split by onnxruntime, which must give chainrule's own report."""
from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule import cli
from chainrule.cli import data as cli_data
from chainrule.data import datasets, write_idx

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def train_run(folder, monkeypatch, *args) -> None:
    monkeypatch.chdir(folder)
    assert cli.main(["train", *args, "--epochs", "1", "--out", "run", "--quiet"]) == 0


def report_without_header(text: str) -> str:
    """An evaluate report less its first line (which names the file scored)."""
    return text.split("\n", 1)[1]


def export_and_compare(folder, capsys) -> str:
    capsys.readouterr()
    assert cli.main(["evaluate", "run"]) == 0
    from_chainrule = capsys.readouterr().out
    assert cli.main(["export", "run", "--format", "onnx"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("wrote run/model.onnx (ONNX opset 17, ")
    diff = float(printed.split("random inputs ")[1].split()[0])
    assert diff < 1e-5
    onnx.checker.check_model(onnx.load(str(folder / "run" / "model.onnx")), full_check=True)
    assert cli.main(["evaluate", "run/model.onnx"]) == 0
    from_onnx = capsys.readouterr().out
    assert from_onnx.startswith("run/model.onnx (epoch 1) on the ")
    assert report_without_header(from_onnx) == report_without_header(from_chainrule)
    return from_onnx


def test_mlp_run_exports_and_scores_the_same(tmp_path, monkeypatch, capsys):
    train_run(tmp_path, monkeypatch, "--data", "moons", "--batch-norm", "--dropout", "0.1")
    out = export_and_compare(tmp_path, capsys)
    assert "accuracy" in out and "confusion matrix" in out
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "run" / "model.onnx")).metadata_props}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert json.loads(meta["chainrule.config"]) == config
    assert meta["chainrule.checkpoint"] == "best.ckpt"


def test_cnn_run_exports_and_scores_the_same(tmp_path, monkeypatch, capsys):
    x_tr, y_tr = datasets.load_mnist("train")
    x_te, y_te = datasets.load_mnist("test")
    for name, arr in (("tr-img.idx", x_tr[:96]), ("tr-lab.idx", y_tr[:96].astype(np.uint8)),
                      ("te-img.idx", x_te[:64]), ("te-lab.idx", y_te[:64].astype(np.uint8))):
        write_idx(tmp_path / name, arr)
    train_run(tmp_path, monkeypatch, "--idx-images", "tr-img.idx", "--idx-labels", "tr-lab.idx",
              "--idx-test-images", "te-img.idx", "--idx-test-labels", "te-lab.idx",
              "--model", "cnn", "--batch-size", "32")
    export_and_compare(tmp_path, capsys)


def test_lstm_run_exports_and_scores_the_same(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(cli_data.TEXT, "shakespeare",
                        {"seq_len": 8, "windows": 200, "test_windows": 100})
    train_run(tmp_path, monkeypatch, "--data", "shakespeare", "--hidden", "16")
    export_and_compare(tmp_path, capsys)
    proto = onnx.load(str(tmp_path / "run" / "model.onnx"))
    assert {"LSTM", "Gather"} <= {n.op_type for n in proto.graph.node}
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_out_and_opset_options_and_errors(tmp_path, monkeypatch, capsys):
    train_run(tmp_path, monkeypatch, "--data", "xor", "--hidden", "4")
    assert cli.main(["export", "run", "--out", "elsewhere.onnx", "--opset", "18"]) == 0
    assert onnx.load(str(tmp_path / "elsewhere.onnx")).opset_import[0].version == 18
    capsys.readouterr()
    cases = [(["export", "run", "--opset", "13"], "--opset must be 17 or later"),
             (["export", "run", "--format", "tflite"], "invalid choice: 'tflite'"),
             (["export", "run", "--out", "run"], "is a folder"),
             (["export", "nowhere"], "'nowhere' does not exist"),
             (["evaluate", "missing.onnx"], "ONNX file 'missing.onnx' does not exist")]
    for argv, fragment in cases:
        assert cli.main(argv) != 0
        err = capsys.readouterr().err.strip()
        assert err.startswith("chainrule") and fragment in err and "\n" not in err, err
    # An ONNX file from elsewhere has no run config to rebuild its test data from.
    cli.main(["export", "run", "--out", "plain.onnx"])
    proto = onnx.load(str(tmp_path / "plain.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "plain.onnx"))
    capsys.readouterr()
    assert cli.main(["evaluate", "plain.onnx"]) == 1
    assert "not written by 'chainrule export'" in capsys.readouterr().err


def test_playground_run_exports_and_scores_the_same(tmp_path, monkeypatch, capsys):
    from chainrule.playground.export import write_run
    from chainrule.playground.session import Session
    session = Session()
    session.update_settings({"dataset": "plane", "problem": "regression", "optimizer": "adam",
                             "features": ["x1", "x2", "x1^2"]})
    for _ in range(session.steps_per_epoch):
        session.train_step()
    folder = write_run(session, str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert cli.main(["evaluate", folder]) == 0
    from_chainrule = capsys.readouterr().out
    assert cli.main(["export", folder]) == 0
    assert "output 'prediction'" in capsys.readouterr().out
    assert cli.main(["evaluate", f"{folder}/model.onnx"]) == 0
    from_onnx = capsys.readouterr().out
    assert "\nmse " in from_onnx and "r2 " in from_onnx   # the regression report
    assert report_without_header(from_onnx) == report_without_header(from_chainrule)
