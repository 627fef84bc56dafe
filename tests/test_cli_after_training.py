"""The commands that work after training, end to end through ``chainrule.cli.main`` on small
data: prune, quantize, distill, federate, and train --init-from/--freeze/--backbone-lr."""
from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule import cli, nn, train
from chainrule.cli.runs import load_run
from chainrule.data import datasets, write_idx


def main(capsys, *args) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(capsys, *args) -> str:
    status, _, err = main(capsys, *args)
    assert status != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule"), err
    return lines[0]


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("after")
    assert cli.main(["train", "--data", "moons", "--epochs", "6", "--out", str(folder / "run"),
                     "--quiet"]) == 0
    return folder


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """LeNet, one epoch on 600 MNIST digits given as IDX files (200 test digits)."""
    folder = tmp_path_factory.mktemp("digits")
    x_tr, y_tr = datasets.load_mnist("train")
    x_te, y_te = datasets.load_mnist("test")
    for name, arr in (("tr-img.idx", x_tr[:600]), ("tr-lab.idx", y_tr[:600].astype(np.uint8)),
                      ("te-img.idx", x_te[:200]), ("te-lab.idx", y_te[:200].astype(np.uint8))):
        write_idx(folder / name, arr)
    assert cli.main(["train", "--idx-images", str(folder / "tr-img.idx"),
                     "--idx-labels", str(folder / "tr-lab.idx"),
                     "--idx-test-images", str(folder / "te-img.idx"),
                     "--idx-test-labels", str(folder / "te-lab.idx"), "--model", "cnn",
                     "--epochs", "1", "--out", str(folder / "lenet"), "--quiet"]) == 0
    return folder


def test_prune_writes_a_sparse_run_that_evaluate_reads(moons_run, capsys):
    run = moons_run / "run"
    status, out, _ = main(capsys, "prune", run, "--amount", 0.75, "--finetune-epochs", 2,
                          "--quiet")
    assert status == 0, out
    folder = run / "pruned-75"
    metrics = json.loads((folder / "prune_metrics.json").read_text())
    assert metrics["zero_weights"] == round(0.75 * metrics["weights"])
    assert metrics["sparse_weights_bytes"] < metrics["dense_weights_bytes"]
    assert "fine-tuned 2 epochs" in out and "zero weights  75.0%" in out
    ckpt = train.read_checkpoint(folder / "best.ckpt")
    assert ckpt["config"]["pruning"]["method"] == "global unstructured"
    assert any(isinstance(v, dict) for v in ckpt["model"].values())      # bitmask entries
    loaded = load_run(str(folder))
    layers = [m for m in loaded.model.modules() if isinstance(m, nn.Linear)]
    zeros = sum(int((m.weight.numpy() == 0).sum()) for m in layers)
    assert zeros == metrics["zero_weights"]
    status, out, _ = main(capsys, "evaluate", folder)
    assert status == 0 and f"accuracy {metrics['finetuned_accuracy']:.4f}" in out
    # its folder is a run of its own, but not one `train --resume` can continue
    refusal = one_line_error(capsys, "train", "--data", "moons", "--out", folder)
    assert "holds a run of 'chainrule prune'" in refusal and "--resume" not in refusal
    assert "already holds a pruned model" in one_line_error(
        capsys, "prune", run, "--amount", 0.75, "--finetune-epochs", 0)


def test_structured_pruning_removes_whole_hidden_neurons_only(moons_run, capsys):
    run = moons_run / "run"
    status, out, _ = main(capsys, "prune", run, "--amount", 0.5, "--structured",
                          "--finetune-epochs", 0, "--out", moons_run / "structured")
    assert status == 0, out
    model = load_run(str(moons_run / "structured")).model
    hidden, output = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1], \
        [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    for layer in hidden:            # half the rows gone, with their biases
        dead = np.all(layer.weight.numpy() == 0, axis=1)
        assert dead.sum() == layer.out_features // 2 and np.all(layer.bias.numpy()[dead] == 0)
    assert not np.any(np.all(output.weight.numpy() == 0, axis=1))


def test_quantize_saves_an_int8_model_that_evaluate_and_predict_read(digits_run, capsys):
    run = digits_run / "lenet"
    status, out, _ = main(capsys, "quantize", run, "--calibration-samples", 256)
    assert status == 0, out
    result = json.loads((run / "quantized.json").read_text())
    assert result["layers"] == ["0", "3", "7", "9", "11"]       # both convs and the three FCs
    assert abs(result["int8_accuracy"] - result["float_accuracy"]) <= 0.02
    assert result["float_weights_bytes"] / result["int8_weights_bytes"] > 3
    assert "samples/s" in out and "x smaller" in out
    loaded = load_run(str(run / "quantized.ckpt"))
    assert loaded.model[0].weight.dtype == np.int8
    status, out, _ = main(capsys, "evaluate", run / "quantized.ckpt")
    assert status == 0 and f"accuracy {result['int8_accuracy']:.4f}" in out
    assert "int8 (quantised) model" in one_line_error(capsys, "quantize", run / "quantized.ckpt")
    assert "int8 (quantised) model" in one_line_error(capsys, "prune", run / "quantized.ckpt",
                                                      "--amount", 0.5)


def test_distill_trains_a_student_run_from_a_cnn_teacher(digits_run, capsys):
    out_dir = digits_run / "student"
    status, out, _ = main(capsys, "distill", "--teacher", digits_run / "lenet", "--hidden", 32,
                          "--epochs", 2, "--out", out_dir, "--quiet")
    assert status == 0, out
    config = json.loads((out_dir / "config.json").read_text())
    assert config["model"]["kind"] == "mlp" and config["model"]["hidden"] == [32]
    assert config["distillation"]["temperature"] == 4.0 and config["distillation"]["alpha"] == 0.9
    metrics = json.loads((out_dir / "test_metrics.json").read_text())
    assert metrics["samples"] == 200 and metrics["accuracy"] > 0.3     # chance: 0.1
    assert "distilled from a teacher" in one_line_error(capsys, "train", "--resume", out_dir)
    status, out, _ = main(capsys, "evaluate", out_dir)      # its config passes the schema
    assert status == 0 and f"accuracy {metrics['accuracy']:.4f}" in out


def test_federate_writes_a_run_with_one_history_row_per_round(moons_run, capsys):
    out_dir = moons_run / "fed"
    status, out, _ = main(capsys, "federate", "--data", "moons", "--clients", 4, "--rounds", 3,
                          "--hidden", 16, "--lr", 0.1, "--algorithm", "fedprox", "--out", out_dir)
    assert status == 0, out
    assert out.count("round ") >= 3 and "Dirichlet alpha 0.3" in out
    history = train.History.from_json(out_dir / "history.json")
    assert history.epoch == [1, 2, 3] and "val_accuracy" in history
    config = json.loads((out_dir / "config.json").read_text())
    fed = config["federated"]
    assert fed["algorithm"] == "fedprox" and sum(fed["client_sizes"]) == 576   # 800 - 20% test - 10% validation
    assert np.sum(fed["client_label_counts"]) == 576
    status, out, _ = main(capsys, "evaluate", out_dir)
    assert status == 0 and "accuracy" in out
    status, out, _ = main(capsys, "federate", "--data", "moons", "--clients", 3, "--rounds", 1,
                          "--iid", "--hidden", 8, "--out", moons_run / "fed-iid", "--quiet")
    assert status == 0
    assert json.loads((moons_run / "fed-iid" / "config.json").read_text())["federated"]["split"] == "iid"


def test_init_from_takes_matching_weights_freezes_and_groups(moons_run, capsys):
    source = moons_run / "run"
    out_dir = moons_run / "transfer"
    status, out, _ = main(capsys, "train", "--data", "moons", "--epochs", 2, "--init-from", source,
                          "--freeze", "1.*", "--backbone-lr", 1e-4, "--out", out_dir, "--quiet")
    assert status == 0, out
    assert "took 6 of 6 tensors (1.weight, 1.bias, 3.weight" in out and "frozen: 1.weight, 1.bias" in out
    before = load_run(str(source)).model.state_dict()
    after = train.read_checkpoint(out_dir / "last.ckpt")
    np.testing.assert_array_equal(after["model"]["1.weight"], before["1.weight"].numpy())
    assert not np.array_equal(after["model"]["5.weight"], before["5.weight"].numpy())
    groups = after["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == [1e-4] and len(groups[0]["params"]) == 4
    config = json.loads((out_dir / "config.json").read_text())
    assert config["transfer"]["frozen"] == ["1.weight", "1.bias"]
    # a resumed run freezes and groups the same way, so its optimiser state loads
    status, out, err = main(capsys, "train", "--resume", out_dir, "--epochs", 3, "--quiet")
    assert status == 0, err
    resumed = train.read_checkpoint(out_dir / "last.ckpt")
    np.testing.assert_array_equal(resumed["model"]["1.weight"], before["1.weight"].numpy())
    # a different head shape is left as initialised, and says so
    status, out, _ = main(capsys, "train", "--data", "moons", "--epochs", 1, "--hidden", "16,8",
                          "--init-from", source, "--out", moons_run / "other-head", "--quiet")
    assert status == 0 and "kept as initialised (the shape differs): 3.weight, 3.bias" in out


@pytest.mark.parametrize("args,fragment", [
    (("prune", "<run>", "--amount", "1.5"), "--amount must be >= 0 and < 1, got 1.5"),
    (("prune", "<run>"), "the following arguments are required: --amount"),
    (("quantize", "<run>", "--calibration-samples", "0"), "--calibration-samples must be >= 1"),
    (("distill", "--teacher", "<run>", "--alpha", "2"), "--alpha must be >= 0 and <= 1, got 2.0"),
    (("distill", "--teacher", "<run>", "--model", "cnn", "--hidden", "8"), "--hidden applies to the mlp"),
    (("federate", "--data", "moons", "--clients", "0"), "--clients must be >= 1, got 0"),
    (("federate", "--data", "moons", "--alpha", "-1"), "--alpha must be > 0"),
    (("federate", "--iid", "--alpha", "0.3"), "not allowed with argument"),
    (("train", "--data", "moons", "--freeze", "1.*"), "--freeze applies to weights taken with"),
    (("train", "--data", "moons", "--init-from", "<run>", "--freeze", "9.*"),
     "--freeze: pattern '9.*' matches no parameter"),
    (("train", "--data", "moons", "--init-from", "nowhere"), "'nowhere' does not exist"),
])
def test_bad_input_ends_in_one_line_error(moons_run, capsys, args, fragment):
    args = [moons_run / "run" if a == "<run>" else a for a in args]
    assert fragment in one_line_error(capsys, *args)


def test_regression_runs_are_refused_by_name(tmp_path, capsys):
    # prune and quantize score accuracy and distill needs class probabilities: a run that
    # predicts numbers gets one clear line, not an error from deep inside a metric.
    assert cli.main(["train", "--data", "sine", "--epochs", "1", "--out", str(tmp_path / "reg"),
                     "--quiet"]) == 0
    capsys.readouterr()
    for command in (["prune", tmp_path / "reg", "--amount", 0.5], ["quantize", tmp_path / "reg"],
                    ["distill", "--teacher", tmp_path / "reg"]):
        line = one_line_error(capsys, *command)
        assert f"is a regression run; chainrule {command[0]} works on classifiers" in line, line
    line = one_line_error(capsys, "federate", "--data", "sine", "--rounds", 1,
                          "--out", tmp_path / "fed")
    assert "federate trains classifiers; sine has numeric targets" in line


# ----------------------------------------------------------- hostile input (issue 15)
def _crafted(tmp_path, source, name: str, change) -> str:
    """A copy of checkpoint ``source`` with ``change`` applied to its raw contents."""
    import chainrule as cr
    raw = cr.load(str(source))
    change(raw)
    path = tmp_path / name
    cr.save(raw, str(path))
    return str(path)


def test_crafted_pruned_and_quantized_checkpoints_are_refused_in_one_line(
        moons_run, digits_run, tmp_path, capsys):
    pruned = moons_run / "run" / "pruned-75" / "best.ckpt"
    if not pruned.exists():
        assert main(capsys, "prune", moons_run / "run", "--amount", 0.75,
                    "--finetune-epochs", 0)[0] == 0
    sparse = next(k for k, v in train.read_checkpoint(pruned)["model"].items()
                  if isinstance(v, dict))

    def bomb(raw):  # a bitmask that claims 10**12 entries
        raw["model"][sparse]["shape"] = [10 ** 6, 10 ** 6]

    def wider(raw):  # a config asking for a larger model than the weights stored
        raw["config"]["model"]["hidden"] = [20000, 20000]

    line = one_line_error(capsys, "evaluate", _crafted(tmp_path, pruned, "bomb.ckpt", bomb))
    assert "is damaged" in line and "mask" in line
    line = one_line_error(capsys, "evaluate", _crafted(tmp_path, pruned, "wide.ckpt", wider))
    assert "does not hold the model its config describes" in line

    quantized = digits_run / "lenet" / "quantized.ckpt"
    if not quantized.exists():
        assert main(capsys, "quantize", digits_run / "lenet", "--calibration-samples", 64)[0] == 0

    def not_a_layer(raw):
        raw["config"]["quantization"]["layers"][0] = "no.such.layer"

    def fewer_classes(raw):
        raw["config"]["model"]["num_classes"] = 9
        raw["config"]["data"]["class_names"] = raw["config"]["data"]["class_names"][:9]

    line = one_line_error(capsys, "predict", _crafted(tmp_path, quantized, "q1.ckpt", not_a_layer),
                          "nothing.png")
    assert "does not hold the model its config describes" in line   # its scales are not counted
    line = one_line_error(capsys, "evaluate", _crafted(tmp_path, quantized, "q2.ckpt", fewer_classes))
    assert "does not hold the model its config describes" in line and "int8 scales" in line
    # neither is a training run to continue: each says what it is
    assert "was pruned ('chainrule prune')" in one_line_error(capsys, "train", "--resume", pruned)
    assert "holds an int8 model" in one_line_error(capsys, "train", "--resume", quantized)


def test_after_training_configs_are_checked_not_passed(moons_run, tmp_path, capsys):
    from chainrule.cli.errors import UserError
    from chainrule.cli.run_config import check_run_config
    fed_dir = moons_run / "fed-check"
    assert main(capsys, "federate", "--data", "moons", "--clients", 3, "--rounds", 1, "--iid",
                "--hidden", 8, "--out", fed_dir, "--quiet")[0] == 0
    config = json.loads((fed_dir / "config.json").read_text())
    check_run_config(config, "config.json")
    config["federated"]["client_sizes"].append(1)
    with pytest.raises(UserError, match="client_sizes: is 4 clients, but config.federated.clients"):
        check_run_config(config, "config.json")
    config = json.loads((fed_dir / "config.json").read_text())
    config["federated"]["algorithm"] = "fedsgd"
    with pytest.raises(UserError, match="config.federated.algorithm"):
        check_run_config(config, "config.json")
    config = json.loads((fed_dir / "config.json").read_text())
    config["distillation"] = {"teacher": "t", "teacher_model": {"kind": "rnn"},
                              "temperature": 4.0, "alpha": 0.5}
    with pytest.raises(UserError, match="config.distillation.teacher_model.kind"):
        check_run_config(config, "config.json")
    config = json.loads((fed_dir / "config.json").read_text())
    config["surprise"] = {}
    with pytest.raises(UserError, match="unknown field 'surprise'"):
        check_run_config(config, "config.json")


def test_after_training_commands_never_clobber_or_share_a_folder(moons_run, digits_run, tmp_path,
                                                                 capsys):
    from chainrule.cli.run_folder import claim_run_folder
    users = tmp_path / "mine"
    users.mkdir()
    (users / "config.json").write_text("{\"mine\": true}")
    for command in (["prune", moons_run / "run", "--amount", 0.5, "--finetune-epochs", 0],
                    ["distill", "--teacher", moons_run / "run", "--epochs", 1],
                    ["federate", "--data", "moons", "--clients", 2, "--rounds", 1]):
        line = one_line_error(capsys, *command, "--out", users)
        assert "is not empty and is not a chainrule run folder" in line, line
    assert (users / "config.json").read_text() == "{\"mine\": true}"
    with claim_run_folder(str(tmp_path / "busy")):
        line = one_line_error(capsys, "distill", "--teacher", moons_run / "run", "--epochs", 1,
                              "--out", tmp_path / "busy")
        assert "is in use by another chainrule run" in line
    quantized = digits_run / "lenet" / "quantized.ckpt"
    if not quantized.exists():
        assert main(capsys, "quantize", digits_run / "lenet", "--calibration-samples", 64)[0] == 0
    before = quantized.read_bytes()
    line = one_line_error(capsys, "quantize", digits_run / "lenet", "--calibration-samples", 64)
    assert "already exists" in line and quantized.read_bytes() == before


def test_a_fifo_for_a_run_is_refused_up_front(moons_run, tmp_path, capsys):
    import os
    fifo = tmp_path / "run.ckpt"
    os.mkfifo(fifo)
    for command in (["prune", fifo, "--amount", 0.5], ["quantize", fifo],
                    ["distill", "--teacher", fifo],
                    ["train", "--data", "moons", "--init-from", fifo, "--out", tmp_path / "t"]):
        assert "not a regular file" in one_line_error(capsys, *command), command


def test_a_federated_run_folder_is_a_chainrule_run_for_overwrite(moons_run, capsys):
    fed = moons_run / "fed-over"
    assert main(capsys, "federate", "--data", "moons", "--clients", 2, "--rounds", 1, "--iid",
                "--hidden", 4, "--out", fed, "--quiet")[0] == 0
    refusal = one_line_error(capsys, "federate", "--data", "moons", "--out", fed)
    # a federated run cannot be resumed, so the refusal does not suggest --resume
    assert "holds a run of 'chainrule federate'" in refusal and "--overwrite" in refusal
    assert "--resume" not in refusal
    assert main(capsys, "train", "--data", "moons", "--epochs", 1, "--out", fed, "--overwrite",
                "--quiet")[0] == 0
