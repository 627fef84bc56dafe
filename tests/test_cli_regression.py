"""Regression on the command line: ``chainrule train`` on numeric targets (detected or
``--task``), one or several ``--target`` columns, the losses, scores in the targets' own
units equal to scikit-learn's, the pictures, ``evaluate`` / ``predict`` / ``summary`` on a
regression run, the shipped diabetes set and the generated sine curve, and bad input."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, train
from chainrule.cli import data as cli_data, targets
from chainrule.cli.runs import load_run

skm = pytest.importorskip("sklearn.metrics")


def _plane(n=160, seed=0, noise=0.1):
    """Two features and y = 3 x1 - 2 x2 + 50 (+ noise): a target far from 0 whose scale
    only the standardisation makes easy."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = 3 * X[:, 0] - 2 * X[:, 1] + 50 + noise * rng.normal(size=n)
    return X, y


def _write(path, X, columns, header=True):
    rows = [",".join(f"{v:.6f}" for v in row) for row in X]
    path.write_text((",".join(columns) + "\n" if header else "") + "\n".join(rows) + "\n")
    return path


def _main(*argv):
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def plane_run(tmp_path_factory):
    """A regression detected from fractional targets: 40 epochs on 160 rows."""
    folder = tmp_path_factory.mktemp("regression")
    X, y = _plane()
    _write(folder / "plane.csv", np.c_[X, y], ["x1", "x2", "y"])
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        with contextlib.redirect_stdout(out):
            status = _main("train", "--data", "plane.csv", "--epochs", 40, "--hidden", "16",
                           "--lr", "0.01", "--out", "run")
    assert status == 0, out.getvalue()
    return folder, out.getvalue()


def test_fractional_targets_train_a_regression_and_say_so(plane_run):
    folder, out = plane_run
    assert ("task: regression (the target holds fractional numbers; --task classification "
            "to override)") in out
    assert "regression of y (mse loss on standardised targets)" in out
    run_dir = folder / "run"
    for name in ("best.ckpt", "last.ckpt", "curves.png", "parity.png", "residuals.png",
                 "test_metrics.json"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "fit.png").exists()  # two inputs: no curve to draw
    assert (run_dir / "parity.png").read_bytes()[:4] == b"\x89PNG"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["task"] == "regression" and config["train"]["loss"] == "mse"
    assert config["model"]["out_features"] == 1
    scaling = config["data"]["preprocessing"]["targets"]
    assert scaling["names"] == ["y"] and 49 < scaling["mean"][0] < 51 and scaling["std"][0] > 2
    history = train.History.from_json(run_dir / "history.json")
    assert {"loss", "mae", "rmse", "val_loss", "val_mae", "val_rmse"} <= set(history.keys())


def test_test_scores_are_in_the_targets_units_and_equal_sklearn(plane_run):
    folder, out = plane_run
    scores = json.loads((folder / "run" / "test_metrics.json").read_text())
    loaded = load_run(str(folder / "run"))
    data = cli_data.prepare({k: v for k, v in loaded.config["data"].items()
                             if k not in ("class_names", "preprocessing")},
                            preprocessing=loaded.preprocessing)
    truth = targets.to_target_units(data.y_test, loaded.preprocessing["targets"])[:, 0]
    pred = targets.to_target_units(train.predict(loaded.model, data.X_test),
                                   loaded.preprocessing["targets"])[:, 0]
    assert scores["samples"] == len(truth) == 32 and scores["targets"] == ["y"]
    for key, fn in (("mse", skm.mean_squared_error), ("rmse", skm.root_mean_squared_error),
                    ("mae", skm.mean_absolute_error), ("r2", skm.r2_score),
                    ("explained_variance", skm.explained_variance_score),
                    ("max_error", skm.max_error)):
        assert scores[key] == pytest.approx(fn(truth, pred), rel=1e-5), key
    assert scores["r2"] > 0.95 and scores["rmse"] < 1.0   # in y's units (std about 3.6)
    # The least-squares line fits this plane almost exactly: the baseline is near perfect.
    assert scores["baseline"]["r2"] > 0.99 and scores["baseline"]["fit_rows"] == 128
    line = next(l for l in out.splitlines() if l.startswith("test set"))
    assert f"r2 {scores['r2']:.4g}" in line and "(32 samples, in the units of y)" in line


def test_evaluate_prints_the_same_scores(plane_run, capsys, monkeypatch):
    folder, _ = plane_run
    monkeypatch.chdir(folder)
    assert _main("evaluate", "run") == 0
    out = capsys.readouterr().out
    scores = json.loads((folder / "run" / "test_metrics.json").read_text())
    assert f"rmse {scores['rmse']:.4g} - mae {scores['mae']:.4g} - r2 {scores['r2']:.4g}" in out
    assert "least-squares baseline" in out and "confusion" not in out


def test_evaluate_on_other_data_with_the_same_columns(plane_run, capsys, monkeypatch):
    folder, _ = plane_run
    monkeypatch.chdir(folder)
    X, y = _plane(n=50, seed=9)
    _write(folder / "more.csv", np.c_[X, y], ["x1", "x2", "y"])
    assert _main("evaluate", "run", "--data", "more.csv") == 0
    out = capsys.readouterr().out
    assert "on the more test split (10 samples)" in out and "(10 samples, in the units of y)" in out
    assert "least-squares baseline" not in out   # fitted only on the run's own rows
    (folder / "words.csv").write_text("x1,x2,y\n1,2,a\n3,4,b\n5,6,c\n")
    assert _main("evaluate", "run", "--data", "words.csv") == 1
    assert "'a' is not a number" in capsys.readouterr().err


def test_predict_prints_values_in_the_targets_units_and_scores_a_labelled_file(plane_run,
                                                                                capsys,
                                                                                monkeypatch):
    folder, _ = plane_run
    monkeypatch.chdir(folder)
    _write(folder / "new.csv", np.array([[0.0, 0.0], [1.0, -1.0]]), ["x1", "x2"])
    assert _main("predict", "run", "new.csv") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["row", "y"] and len(lines) == 3
    assert float(lines[1].split()[1]) == pytest.approx(50, abs=1.0)
    assert float(lines[2].split()[1]) == pytest.approx(55, abs=1.5)
    # The training file's own columns, target included: predicted and scored.
    X, y = _plane(n=20, seed=5)
    _write(folder / "labelled.csv", np.c_[X, y], ["x1", "x2", "y"])
    assert _main("predict", "run", "labelled.csv") == 0
    out = capsys.readouterr().out
    assert "against the file's y: mse " in out and "(20 rows)" in out


def test_explaining_a_prediction_of_a_regression_run_is_refused_clearly(plane_run, capsys,
                                                                      monkeypatch):
    folder, _ = plane_run
    monkeypatch.chdir(folder)
    _write(folder / "one.csv", np.array([[0.0, 0.0]]), ["x1", "x2"])
    assert _main("explain", "run", "one.csv") == 2
    assert "run is a regression run; chainrule explain RUN_DIR INPUT explains the predictions " \
           "of classifiers" in capsys.readouterr().err


def test_summary_of_a_regression_run(plane_run, capsys, monkeypatch):
    folder, _ = plane_run
    monkeypatch.chdir(folder)
    assert _main("summary", "run") == 0
    out = capsys.readouterr().out
    assert out.startswith("run/best.ckpt (epoch ") and "a regression of y" in out
    assert "Parameters:             65 (65 trainable)" in out   # 2*16+16 + 16+1


def test_several_targets_are_scored_per_target(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    Y = np.c_[X[:, 0] + X[:, 1], 100 * X[:, 2] - 7]
    _write(tmp_path / "two.csv", np.c_[Y[:, 0], X, Y[:, 1]], ["a", "x1", "x2", "x3", "b"])
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--data", "two.csv", "--target", "a,b", "--epochs", 20, "--hidden",
                 "16", "--lr", "0.01", "--patience", 0, "--out", "r", "--quiet") == 0
    out = capsys.readouterr().out
    assert "averaged over the targets" in out
    table = out[out.index("target "):].splitlines()
    assert table[0].split()[:5] == ["target", "mse", "rmse", "mae", "r2"]
    assert [row.split()[0] for row in table[1:3]] == ["a", "b"]
    scores = json.loads((tmp_path / "r" / "test_metrics.json").read_text())
    assert scores["targets"] == ["a", "b"] and set(scores["per_target"]) == {"a", "b"}
    assert scores["r2"] == pytest.approx(np.mean([scores["per_target"][k]["r2"] for k in "ab"]))
    assert scores["per_target"]["b"]["rmse"] > 10 * scores["per_target"]["a"]["rmse"]
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["data"]["target_columns"] == [0, 4] and config["model"]["out_features"] == 2
    # predict on the training layout (targets first and last) scores both.
    _write(tmp_path / "rows.csv", np.c_[Y[:5, 0], X[:5], Y[:5, 1]], ["a", "x1", "x2", "x3", "b"])
    assert _main("predict", "r", "rows.csv") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["row", "a", "b"] and "against the file's a, b" in out


def test_many_whole_numbers_are_a_regression_and_task_classification_forces_classes(
        tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 2))
    counts = np.round(20 + 10 * X[:, 0]).astype(int)   # about 40 distinct whole numbers
    (tmp_path / "counts.csv").write_text(
        "a,b,n\n" + "\n".join(f"{a:.4f},{b:.4f},{n}" for (a, b), n in zip(X, counts)) + "\n")
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--data", "counts.csv", "--epochs", 1, "--out", "auto") == 0
    out = capsys.readouterr().out
    assert "task: regression (the target holds" in out and "distinct whole numbers" in out
    assert _main("train", "--data", "counts.csv", "--epochs", 1, "--task", "classification",
                 "--out", "forced", "--quiet") == 0
    config = json.loads((tmp_path / "forced" / "config.json").read_text())
    assert config["data"]["task"] == "classification"
    assert len(config["data"]["class_names"]) == len(np.unique(counts))
    # A few whole numbers stay classes, and say why.
    (tmp_path / "few.csv").write_text(
        "a,b,k\n" + "\n".join(f"{a:.4f},{b:.4f},{int(a > 0) + int(b > 0)}" for a, b in X) + "\n")
    few = cli_data.prepare(cli_data.make_spec("few.csv", 0, 0.2))
    assert (few.task, few.reason, few.class_names) == ("classification",
                                                       "3 whole-number classes", ["0", "1", "2"])


@pytest.mark.parametrize("loss, stored, module", [("mae", "mae", "L1Loss"),
                                                  ("l1", "mae", "L1Loss"),
                                                  ("smooth_l1", "smooth_l1", "SmoothL1Loss"),
                                                  ("huber", "huber", "HuberLoss"),
                                                  (None, "mse", "MSELoss")])
def test_regression_loss_names(loss, stored, module):
    args = cli.build_parser().parse_args(["train"] + (["--loss", loss] if loss else []))
    assert cli.train._loss_name(args, "regression") == stored
    assert type(cli.train.LOSSES[stored]()).__name__ == module


def test_a_regression_loss_is_the_one_training_uses(tmp_path, monkeypatch):
    X, y = _plane(n=60)
    _write(tmp_path / "p.csv", np.c_[X, y], ["x1", "x2", "y"])
    monkeypatch.chdir(tmp_path)
    used = []
    real_fit = cli.train.fit

    def spy(model, loss_fn, *args, **kwargs):
        used.append(type(loss_fn).__name__)
        return real_fit(model, loss_fn, *args, **kwargs)

    monkeypatch.setattr(cli.train, "fit", spy)
    assert _main("train", "--data", "p.csv", "--loss", "huber", "--epochs", 2, "--out", "r",
                 "--quiet") == 0
    assert used == ["HuberLoss"]
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["loss"] == "huber"


def test_regression_resumes_bit_for_bit_with_early_stopping_state(tmp_path, monkeypatch):
    X, y = _plane(n=80)
    _write(tmp_path / "p.csv", np.c_[X, y], ["x1", "x2", "y"])
    monkeypatch.chdir(tmp_path)
    common = ("--data", "p.csv", "--hidden", "8", "--dropout", "0.1", "--quiet")
    assert _main("train", *common, "--epochs", 4, "--out", "straight") == 0
    assert _main("train", *common, "--epochs", 2, "--out", "split") == 0
    assert _main("train", "--resume", "split", "--epochs", 4, "--quiet") == 0
    a = train.read_checkpoint(tmp_path / "straight" / "last.ckpt")
    b = train.read_checkpoint(tmp_path / "split" / "last.ckpt")
    assert a["history"] == b["history"]
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key])


# ----------------------------------------------------------------- named sets
def test_diabetes_has_a_fixed_split_whatever_the_seed():
    first = cli_data.prepare(cli_data.make_spec("diabetes", 0, 0.2))
    other = cli_data.prepare(cli_data.make_spec("diabetes", 7, 0.2))
    assert (len(first.y_train), len(first.y_val), len(first.y_test)) == (283, 71, 88)
    np.testing.assert_array_equal(first.X_test, other.X_test)
    assert first.task == "regression" and first.target_names == ["Y"]
    scaling = first.preprocessing["targets"]
    y_test = targets.to_target_units(first.y_test, scaling)
    assert y_test.min() >= 25 and y_test.max() <= 346


def test_diabetes_and_sine_train_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--data", "diabetes", "--epochs", 3, "--out", "d", "--quiet") == 0
    out = capsys.readouterr().out
    assert "(88 samples, in the units of Y)" in out
    assert "least-squares baseline (a straight line fitted on the same 354 training rows)" in out
    config = json.loads((tmp_path / "d" / "config.json").read_text())
    assert config["model"]["activation"] == "tanh" and config["model"]["dropout"] == 0.2
    assert _main("train", "--data", "sine", "--epochs", 3, "--out", "s", "--quiet") == 0
    assert (tmp_path / "s" / "fit.png").read_bytes()[:4] == b"\x89PNG"  # one input: the curve
    assert "fit.png" in capsys.readouterr().out


def test_make_sine_is_a_noisy_sine_curve():
    X, y = cr.data.make_sine(2000, noise=0.1, seed=3)
    assert X.shape == (2000, 1) and y.shape == (2000,) and X.min() >= -3 and X.max() <= 3
    assert np.std(y - np.sin(X[:, 0])) == pytest.approx(0.1, rel=0.05)
    again, _ = cr.data.make_sine(2000, noise=0.0, seed=3)
    np.testing.assert_array_equal(X, again)
    with pytest.raises(ValueError, match="x_range must be two finite numbers"):
        cr.data.make_sine(10, x_range=(1, 1))


# ----------------------------------------------------------------- bad input
BAD = [
    ("text.csv", ["--task", "regression"],
     ["text.csv: line 3, column 3 ('y'): 'high' is not a number (the labels must be numeric)"]),
    ("mostly_numbers.csv", [],
     ["line 3, column 3 ('y'): 'high' is not a number", "--task classification"]),
    ("nan_target.csv", [], ["nan_target.csv: line 3, column 3 ('y'): 'nan' is missing",
                            "cannot be filled in", "--missing drop"]),
    ("inf_target.csv", [], ["line 3, column 3 ('y'): 'inf' is not a finite number"]),
    ("constant.csv", ["--task", "regression"],
     ["the target 'y' is constant", "R^2 is undefined"]),
    ("fractional.csv", ["--task", "classification"],
     ["fractional numbers, which cannot be classes", "--task regression"]),
    ("fractional.csv", ["--target", "z"], ["--target 'z' is not a column", "'x1', 'x2', 'y'"]),
    ("fractional.csv", ["--target", "x1,y", "--task", "classification"],
     ["classification takes one label column"]),
    ("fractional.csv", ["--model", "cnn"], ["regression uses the mlp model"]),
    ("few_classes.csv", ["--loss", "huber"], ["--loss chooses a regression loss"]),
    ("moons", ["--task", "regression"], ["--data moons is a classification set"]),
    ("diabetes", ["--target", "Y"], ["--target picks columns of a CSV file"]),
]


@pytest.mark.parametrize("data, extra, fragments", BAD,
                         ids=[f"{d} {' '.join(e)}" for d, e, _ in BAD])
def test_bad_regression_input_is_one_line_naming_line_and_column(tmp_path, monkeypatch, capsys,
                                                                 data, extra, fragments):
    files = {"text.csv": "x1,x2,y\n1,2,0.5\n3,4,high\n5,6,1.5\n",
             "mostly_numbers.csv": "x1,x2,y\n1,2,0.5\n3,4,high\n5,6,1.5\n7,8,2.5\n",
             "nan_target.csv": "x1,x2,y\n1,2,0.5\n3,4,nan\n5,6,1.5\n",
             "inf_target.csv": "x1,x2,y\n1,2,0.5\n3,4,inf\n5,6,1.5\n",
             "constant.csv": "x1,x2,y\n" + "".join(f"{i},{i % 3},4\n" for i in range(20)),
             "fractional.csv": "x1,x2,y\n" + "".join(f"{i},{i % 3},{i / 3:.3f}\n"
                                                    for i in range(20)),
             "few_classes.csv": "x1,x2,y\n" + "".join(f"{i},{i % 3},{i % 2}\n"
                                                     for i in range(20))}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    assert _main("train", "--data", data, *extra, "--epochs", 1, "--quiet") != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("chainrule: error: ") and "\n" not in err, err
    for fragment in fragments:
        assert fragment in err
    assert not (tmp_path / "runs").exists()  # refused before a run folder was made
