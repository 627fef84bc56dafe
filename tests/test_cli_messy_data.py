"""Messy data on the command line: missing and non-finite values named by file, line and
column before training (or dropped / filled with ``--missing``), refused by ``predict``,
never a bare NaN in a run's JSON, a NaN guard that says what is true, a UTF-8 BOM, a
labelled CSV given to ``predict``, ``summary RUN_DIR`` and an interrupt in the first epoch."""
from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule import cli, train
from chainrule.cli import train as train_command
from chainrule.cli.runs import write_json
from chainrule.data import make_moons, write_idx


def _main(*argv):
    return cli.main([str(a) for a in argv])


def _moons_csv(path, n=120, holes=()):
    """Moons as x1,x2,label; ``holes`` maps (row, column) (both from 0) to a cell's text."""
    X, y = make_moons(n, noise=0.1, seed=0)
    cells = [[f"{a:.5f}", f"{b:.5f}", str(k)] for (a, b), k in zip(X, y)]
    for (row, col), text in dict(holes).items():
        cells[row][col] = text
    path.write_text("x1,x2,label\n" + "".join(",".join(r) + "\n" for r in cells))
    return path


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert err.startswith("chainrule: error: ") and "\n" not in err and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize("text, problem", [("NaN", "'NaN' is missing"), ("", "'' is missing"),
                                           ("NA", "'NA' is missing"),
                                           ("-inf", "'-inf' is not a finite number")])
def test_a_non_finite_or_missing_cell_is_named_before_training(tmp_path, monkeypatch, capsys,
                                                               text, problem):
    _moons_csv(tmp_path / "m.csv", holes={(2, 1): text})
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--data", "m.csv", "--epochs", 1) == 1
    _one_line_error(capsys, f"m.csv: line 4, column 2 ('x2'): {problem}",
                    "--missing drop", "--missing mean|zero")
    assert not (tmp_path / "runs").exists()


def test_missing_drop_mean_and_zero(tmp_path, monkeypatch, capsys):
    holes = {(2, 1): "NA", (5, 0): "", (7, 1): "inf"}
    _moons_csv(tmp_path / "m.csv", holes=holes)
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--data", "m.csv", "--missing", "drop", "--epochs", 1, "--out", "d") == 0
    out = capsys.readouterr().out
    assert "m.csv: dropped 3 of 120 rows with missing or non-finite values (lines 4, 7, 9)" \
        in out and "94 train / 23 validation / 0" not in out
    assert _main("train", "--data", "m.csv", "--missing", "mean", "--epochs", 1, "--out", "a") == 0
    assert "note: filled 3 missing or non-finite input values with the training rows' column " \
           "means" in capsys.readouterr().out
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    prep = config["data"]["preprocessing"]
    assert config["data"]["missing"] == "mean" and len(prep["fill"]) == 2
    assert prep["fill"] != [0.0, 0.0] and np.isfinite(prep["mean"]).all()
    assert _main("train", "--data", "m.csv", "--missing", "zero", "--epochs", 1, "--out", "z",
                 "--quiet") == 0
    fill = json.loads((tmp_path / "z" / "config.json").read_text())["data"]["preprocessing"]["fill"]
    assert fill == [0.0, 0.0]
    capsys.readouterr()
    # A run that fills also fills what it is asked to predict; one that does not, refuses.
    (tmp_path / "rows.csv").write_text("x1,x2\n0.5,NA\n1.5,-0.3\n")
    assert _main("predict", "a", "rows.csv") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "nan" not in " ".join(lines)
    assert _main("predict", "d", "rows.csv") == 1
    _one_line_error(capsys, "rows.csv: line 2, column 2 ('x2'): 'NA' is missing",
                    "cannot predict from it")


def test_predict_refuses_a_nan_row_instead_of_printing_class_0(tmp_path, monkeypatch, capsys):
    _moons_csv(tmp_path / "m.csv")
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--data", "m.csv", "--epochs", 1, "--out", "r", "--quiet") == 0
    capsys.readouterr()
    (tmp_path / "nan.csv").write_text("0.1,0.2\nnan,0.3\n")
    assert _main("predict", "r", "nan.csv") == 1
    _one_line_error(capsys, "nan.csv: line 2, column 1: 'nan' is missing")
    (tmp_path / "huge.csv").write_text("0.1,0.2\n1e39,0.3\n")
    assert _main("predict", "r", "huge.csv") == 1
    _one_line_error(capsys, "huge.csv: line 2, column 1: '1e39' is not a finite number")


def test_idx_non_finite_values_are_named_by_item_and_place(tmp_path, monkeypatch, capsys):
    X, y = make_moons(100, noise=0.1, seed=0)
    X = X.astype(np.float32)
    X[6, 1] = np.nan
    write_idx(tmp_path / "x.idx", X)
    write_idx(tmp_path / "y.idx", y.astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--idx-images", "x.idx", "--idx-labels", "y.idx", "--epochs", 1) == 1
    _one_line_error(capsys, "x.idx: item 7, column 2: the value is missing (NaN)",
                    "--missing drop")
    assert _main("train", "--idx-images", "x.idx", "--idx-labels", "y.idx", "--missing", "drop",
                 "--epochs", 1, "--out", "r") == 0
    assert "note: dropped 1 IDX items with non-finite values" in capsys.readouterr().out


def test_run_json_files_are_strict_json(tmp_path):
    write_json(str(tmp_path / "m.json"), {"loss": float("nan"), "r2": [1.0, float("inf")],
                                          "nested": {"x": -float("inf")}})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text

    def refuse(token):
        raise ValueError(token)

    assert json.loads(text, parse_constant=refuse) == {"loss": None, "r2": [1.0, None],
                                                       "nested": {"x": None}}


def test_the_nan_guard_says_what_the_run_folder_holds(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # A learning rate of 1e12 blows up in the first epoch: no trained checkpoint exists.
    assert _main("train", "--data", "xor", "--optimizer", "sgd", "--lr", "1e12", "--epochs", 3,
                 "--out", "early", "--quiet") == 1
    err = capsys.readouterr().err
    assert "the loss became" in err and "at epoch 1" in err
    assert "before the first epoch finished, so early holds no trained checkpoint" in err
    assert "last good" not in err
    # A NaN loss in epoch 3: last.ckpt holds epoch 2, and the message says so.
    real_fit = train_command.fit

    def fit_with_nan_in_epoch_3(*args, callbacks=(), **kwargs):
        def poison(state):
            if state.epoch == 3:
                state.batch_loss = float("nan")
        guard_first = train.LambdaCallback(order=-200, on_batch_end=poison)
        return real_fit(*args, callbacks=[*callbacks, guard_first], **kwargs)

    monkeypatch.setattr(train_command, "fit", fit_with_nan_in_epoch_3)
    assert _main("train", "--data", "xor", "--epochs", 4, "--out", "late", "--quiet") == 1
    err = capsys.readouterr().err
    assert "late/last.ckpt holds the last good weights (epoch 2)" in err
    assert train.read_checkpoint(tmp_path / "late" / "last.ckpt")["epoch"] == 2


def test_a_utf8_bom_header_and_a_named_target(tmp_path, monkeypatch, capsys):
    X, y = make_moons(80, noise=0.1, seed=1)
    body = "".join(f"{k},{a:.4f};{b:.4f}\n".replace(";", ",") for (a, b), k in zip(X, y))
    (tmp_path / "excel.csv").write_bytes(("\ufeffkind,x1,x2\n" + body).encode("utf-8"))
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--data", "excel.csv", "--target", "kind", "--epochs", 1, "--out", "r",
                 "--quiet") == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["data"]["target"] == ["kind"] and config["data"]["target_columns"] == [0]
    assert config["model"]["in_features"] == 2 and config["data"]["class_names"] == ["0", "1"]
    assert _main("train", "--data", "excel.csv", "--target", "1", "--epochs", 1, "--out", "n",
                 "--quiet") == 0   # column numbers count from 1


def test_predict_scores_a_file_with_the_training_columns(tmp_path, monkeypatch, capsys):
    _moons_csv(tmp_path / "m.csv", n=200)
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--data", "m.csv", "--epochs", 10, "--out", "r", "--quiet") == 0
    capsys.readouterr()
    _moons_csv(tmp_path / "labelled.csv", n=30)
    assert _main("predict", "r", "labelled.csv") == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split() == ["row", "class", "probability", "true"] and len(out) == 32 + 1
    assert out[-1].startswith("accuracy ") and out[-1].endswith("/30) against the file's labels")
    assert _main("summary", "r") == 0
    out = capsys.readouterr().out
    assert out.startswith("r/best.ckpt (epoch") and "a classification into 2 classes" in out


def test_an_interrupt_in_the_first_epoch_can_be_resumed_exactly(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    common = ("--data", "circles", "--hidden", "8", "--dropout", "0.1", "--quiet")
    assert _main("train", *common, "--epochs", 2, "--out", "straight") == 0
    real_fit = train_command.fit

    def fit_interrupted_in_epoch_1(*args, callbacks=(), **kwargs):
        def stop(state):
            if state.epoch == 1 and state.batch == 3:
                raise KeyboardInterrupt
        return real_fit(*args, callbacks=[*callbacks, train.LambdaCallback(on_batch_end=stop)],
                        **kwargs)

    monkeypatch.setattr(train_command, "fit", fit_interrupted_in_epoch_1)
    assert _main("train", *common, "--epochs", 2, "--out", "cut") == 130
    err = capsys.readouterr().err
    assert "no epoch had finished; resuming starts again at epoch 1" in err
    assert "chainrule train --resume cut" in err
    assert train.read_checkpoint(tmp_path / "cut" / "last.ckpt")["epoch"] == 0
    monkeypatch.setattr(train_command, "fit", real_fit)
    assert _main("train", "--resume", "cut", "--quiet") == 0
    a = train.read_checkpoint(tmp_path / "straight" / "last.ckpt")
    b = train.read_checkpoint(tmp_path / "cut" / "last.ckpt")
    assert b["epoch"] == 2 and a["history"] == b["history"]
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key])
