"""The ``chainrule`` command end to end (``python -m chainrule`` in a subprocess, as a user
runs it) on small data in temporary folders, and its one-line errors for bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, train
from chainrule.cli import data as cli_data, models, train as train_command
from chainrule.cli.images import image_to_mnist
from chainrule.data import datasets, write_idx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env)


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
    """A finished 4-epoch run on moons, shared by the read-only tests below."""
    folder = tmp_path_factory.mktemp("cli")
    result = run("train", "--data", "moons", "--epochs", 4, "--out", "run", "--quiet", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, result


# ------------------------------------------------------------------- train
def test_train_writes_a_complete_run_folder(moons_run):
    folder, result = moons_run
    run_dir = folder / "run"
    assert sorted(os.listdir(run_dir)) == sorted(
        ["best.ckpt", "last.ckpt", "history.csv", "history.json", "config.json", "curves.png",
         "test_metrics.json"])
    out = result.stdout
    assert "test set (best epoch" in out and "confusion matrix" in out and "f1-score" in out
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == {"kind": "mlp", "in_features": 2, "out_features": 2,
                               "hidden": [16, 16], "activation": "relu", "dropout": 0.0,
                               "batch_norm": False}
    assert config["data"]["name"] == "moons" and config["train"]["epochs"] == 4
    prep = config["data"]["preprocessing"]
    assert prep["kind"] == "tabular" and len(prep["mean"]) == 2
    history = train.History.from_json(run_dir / "history.json")
    assert history.epoch == [1, 2, 3, 4] and "val_accuracy" in history
    assert len((run_dir / "history.csv").read_text().splitlines()) == 5
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    assert metrics["accuracy"] > 0.8 and np.sum(metrics["confusion_matrix"]) == metrics["samples"]
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    ckpt = train.read_checkpoint(run_dir / "last.ckpt")
    assert ckpt["config"] == config and ckpt["epoch"] == 4


def test_default_run_folder_name_and_progress_lines(tmp_path):
    result = run("train", "--data", "xor", "--epochs", 2, "--hidden", "8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (name,) = os.listdir(tmp_path / "runs")
    assert name.startswith("xor-mlp-") and len(name) == len("xor-mlp-YYYYmmdd-HHMMSS")
    # stdout is not a terminal here: one plain line per epoch, with the rate.
    epoch_lines = [l for l in result.stdout.splitlines() if l.startswith("Epoch ")]
    assert len(epoch_lines) == 2 and "samples/s" in epoch_lines[0] and "val_loss" in epoch_lines[0]


def test_evaluate_prints_loss_accuracy_confusion_and_report(moons_run):
    folder, _ = moons_run
    result = run("evaluate", "run", cwd=folder)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    saved = json.loads((folder / "run" / "test_metrics.json").read_text())
    assert f"accuracy {saved['accuracy']:.4f}" in out
    assert "confusion matrix" in out and "macro avg" in out and "best.ckpt" in out
    again = run("evaluate", folder / "run" / "last.ckpt", cwd=folder)
    assert again.returncode == 0 and "(epoch 4)" in again.stdout


def test_predict_csv_rows(moons_run):
    folder, _ = moons_run
    (folder / "rows.csv").write_text("x1,x2\n0.0,0.9\n1.9,0.1\n")
    result = run("predict", "run", "rows.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["row", "class", "probability"] and len(lines) == 3
    # (0, 0.9) sits on the upper moon (class 0), (1.9, 0.1) on the lower one (class 1).
    assert lines[1].split()[:2] == ["1", "0"] and lines[2].split()[:2] == ["2", "1"]
    assert all(0.5 <= float(l.split()[2]) <= 1.0 for l in lines[1:])


def test_resume_matches_an_uninterrupted_run_bit_for_bit(tmp_path):
    common = ("--data", "moons", "--quiet", "--dropout", "0.2", "--seed", "3")
    assert run("train", *common, "--epochs", 4, "--out", "straight", cwd=tmp_path).returncode == 0
    assert run("train", *common, "--epochs", 2, "--out", "split", cwd=tmp_path).returncode == 0
    result = run("train", "--resume", "split", "--epochs", 4, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    a = train.read_checkpoint(tmp_path / "straight" / "last.ckpt")
    b = train.read_checkpoint(tmp_path / "split" / "last.ckpt")
    assert b["epoch"] == 4 and a["history"] == b["history"]
    for key in a["model"]:
        np.testing.assert_array_equal(np.asarray(a["model"][key]), np.asarray(b["model"][key]))
    assert len((tmp_path / "split" / "history.csv").read_text().splitlines()) == 5


def test_ctrl_c_keeps_the_checkpoint_and_resume_finishes(tmp_path, monkeypatch, capsys):
    real_fit = train_command.fit

    def fit_interrupted_in_epoch_3(*args, callbacks=(), **kwargs):
        def stop(state):
            if state.epoch == 3:
                raise KeyboardInterrupt
        return real_fit(*args, callbacks=[*callbacks, train.LambdaCallback(on_batch_end=stop)],
                        **kwargs)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_command, "fit", fit_interrupted_in_epoch_3)
    assert cli.main(["train", "--data", "circles", "--epochs", "5", "--out", "r", "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted during epoch 3" in err and "chainrule train --resume r" in err
    assert train.read_checkpoint(tmp_path / "r" / "last.ckpt")["epoch"] == 2
    monkeypatch.setattr(train_command, "fit", real_fit)
    assert cli.main(["train", "--resume", "r", "--quiet"]) == 0
    assert train.read_checkpoint(tmp_path / "r" / "last.ckpt")["epoch"] == 5


# ------------------------------------------------------------- images (MNIST)
def test_image_to_mnist_reproduces_an_mnist_digit(tmp_path):
    from PIL import Image
    images, _ = datasets.load_mnist("test")
    digit = images[0]
    # Black ink on white paper, three times larger, off-centre: the way a user draws it.
    page = np.full((120, 120), 255, np.uint8)
    page[10:94, 30:114] = 255 - np.kron(digit, np.ones((3, 3), np.uint8))
    Image.fromarray(page).save(tmp_path / "digit.png")
    back = image_to_mnist(str(tmp_path / "digit.png"))
    assert back.shape == (28, 28) and back.min() >= 0 and back.max() == pytest.approx(255)
    corr = np.corrcoef(back.ravel(), digit.astype(float).ravel())[0, 1]
    assert corr > 0.9


@pytest.mark.slow
def test_mnist_pipeline_on_a_subset_with_idx_files_and_image_predict(tmp_path):
    """The default MNIST MLP, trained briefly on 3,000 digits written as the user's own IDX
    files; then evaluate and predict a PNG drawn dark-on-light."""
    from PIL import Image
    x_tr, y_tr = datasets.load_mnist("train")
    x_te, y_te = datasets.load_mnist("test")
    for name, arr in (("tr-img.idx", x_tr[:3000]), ("tr-lab.idx", y_tr[:3000].astype(np.uint8)),
                      ("te-img.idx", x_te[:500]), ("te-lab.idx", y_te[:500].astype(np.uint8))):
        write_idx(tmp_path / name, arr)
    result = run("train", "--idx-images", "tr-img.idx", "--idx-labels", "tr-lab.idx",
                 "--idx-test-images", "te-img.idx", "--idx-test-labels", "te-lab.idx",
                 "--epochs", 2, "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert metrics["samples"] == 500 and metrics["accuracy"] > 0.85
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["preprocessing"]["input_shape"] == [1, 28, 28]

    result = run("evaluate", "run", cwd=tmp_path)
    assert result.returncode == 0 and f"accuracy {metrics['accuracy']:.4f}" in result.stdout

    Image.fromarray(255 - x_te[1]).save(tmp_path / "two.png")  # a 2, black on white
    result = run("predict", "run", "two.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("two.png: predicted 2 (probability")
    probs = [float(p.split(": ")[1]) for p in result.stdout.splitlines()[1][15:].split("  ")]
    assert len(probs) == 10 and sum(probs) == pytest.approx(1.0, abs=1e-3)

    # A CSV of raw pixel rows works for the image model too.
    np.savetxt(tmp_path / "pixels.csv", x_te[:3].reshape(3, -1), fmt="%d", delimiter=",")
    result = run("predict", "run", "pixels.csv", cwd=tmp_path)
    assert result.returncode == 0 and len(result.stdout.strip().splitlines()) == 4


# --------------------------------------------------------------- bad input
RUN = "<run>"  # stands for the finished moons run folder
BAD_INPUTS = [
    (("predict", RUN, "missing.csv"), ["missing.csv", "does not exist"]),
    (("evaluate", "no-such-run"), ["no-such-run", "does not exist"]),
    (("evaluate", "cut.ckpt"), ["cut.ckpt", "truncated"]),
    (("predict", "junk.ckpt", "three.csv"), ["junk.ckpt"]),
    (("train", "--data", "imagenet"), ["unknown --data 'imagenet'", "mnist"]),
    (("train", "--data", "moons", "--hidden", "256,abc"), ["bad hidden layer sizes", "'abc'"]),
    (("train", "--data", "moons", "--hidden", "0"), ["bad hidden layer sizes"]),
    (("predict", RUN, "four.csv"), ["4 columns", "expects 2 features", "label", "3 columns"]),
    (("predict", RUN, "three.csv"), ["three.csv", "labels ['3', '6'] are not among the model's "
                                     "classes (0, 1)"]),
    (("train", "--data", "ragged.csv"), ["ragged.csv", "line 2"]),
    (("train", "--data", "moons", "--optimizer", "lbfgs"), ["invalid choice: 'lbfgs'"]),
    (("train", "--data", "moons", "--momentum", "0.9"), ["--momentum applies to sgd"]),
    (("train", "--data", "moons", "--lr", "-1"), ["--lr must be > 0"]),
    (("train", "--data", "moons", "--epochs", "0"), ["--epochs must be >= 1"]),
    (("train", "--data", "moons", "--model", "cnn"), ["cnn model needs square images"]),
    (("train", "--data", "moons", "--model", "lstm"), ["lstm model reads character text"]),
    (("train", "--data", "shakespeare", "--model", "mlp"), ["character text: use --model lstm"]),
    (("train", "--resume", RUN), ["already trained 4 of 4 epochs", "--epochs"]),
    (("train", "--resume", RUN, "--lr", "0.1"), ["--lr cannot be changed when resuming"]),
    (("evaluate", RUN, "--data", "sonar"), ["expects 2 values per sample", "has 60"]),
    (("predict", RUN, "pic.png"), ["is an image", "CSV of feature rows"]),
    (("train", "--idx-images", "a.idx"), ["--idx-labels"]),
]


@pytest.mark.parametrize("args, fragments", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_ends_in_one_line_error(moons_run, tmp_path, args, fragments):
    folder, _ = moons_run
    run_dir = folder / "run"
    (tmp_path / "three.csv").write_text("1,2,3\n4,5,6\n")
    (tmp_path / "four.csv").write_text("1,2,3,4\n4,5,6,7\n")
    (tmp_path / "ragged.csv").write_text("1,2,0\n3,1\n")
    (tmp_path / "pic.png").write_bytes(b"not really a png")
    whole = (run_dir / "best.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "junk.ckpt").write_text("hello")
    args = [run_dir if a == RUN else a for a in args]
    assert_one_line_error(run(*args, cwd=tmp_path), *fragments)


def test_no_command_is_an_error(tmp_path):
    result = run(cwd=tmp_path)
    assert result.returncode == 2 and "choose a command" in result.stderr


def test_unreadable_image_for_an_image_model(image_model, tmp_path, monkeypatch, capsys):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG but not really")
    from PIL import Image
    Image.fromarray(np.full((30, 30), 255, np.uint8)).save(tmp_path / "white.png")
    monkeypatch.chdir(tmp_path)
    for name, fragment in (("bad.png", "cannot read image"), ("white.png", "blank")):
        assert cli.main(["predict", str(image_model), name]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("chainrule: error: ") and fragment in err and "\n" not in err


def test_char_lstm_on_shakespeare(tmp_path, monkeypatch, capsys):
    # A small version of --data shakespeare: 8-character windows, 400 of them.
    monkeypatch.setitem(cli_data.TEXT, "shakespeare",
                        {"seq_len": 8, "windows": 400, "test_windows": 100})
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--data", "shakespeare", "--epochs", "1", "--hidden", "16",
                     "--out", "r", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "65 classes: confusion matrix and per-class rows omitted" in out
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"] == {"kind": "lstm", "vocab_size": 65, "embedding_dim": 32,
                               "hidden_size": 16, "num_layers": 1, "dropout": 0.0}
    assert len(config["data"]["preprocessing"]["vocab"]) == 65
    (tmp_path / "q.txt").write_text("To be, or not to be")
    assert cli.main(["predict", "r", "q.txt"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("after 'ot to be' the next character is ")  # the last 8
    assert out.splitlines()[1].startswith("top 5: ")
    (tmp_path / "short.txt").write_text("To")
    assert cli.main(["predict", "r", "short.txt"]) == 1
    assert "needs at least 8" in capsys.readouterr().err


# ------------------------------------------------------------------ sample
@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    """A tiny lstm run trained by 'chainrule train' on 8-character Shakespeare windows."""
    folder = tmp_path_factory.mktemp("lstm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(cli_data.TEXT, "shakespeare", {"seq_len": 8, "windows": 400, "test_windows": 100})
        mp.chdir(folder)
        assert cli.main(["train", "--data", "shakespeare", "--epochs", "1", "--hidden", "16",
                         "--out", "r", "--quiet"]) == 0
    return folder / "r"


def test_sample_prints_the_prompt_and_the_requested_number_of_characters(lstm_run, tmp_path):
    vocab = json.loads((lstm_run / "config.json").read_text())["data"]["preprocessing"]["vocab"]
    args = ("sample", lstm_run, "--prompt", "ROMEO:", "--length", 300, "--temperature", 0.8)
    first = run(*args, "--seed", 1, cwd=tmp_path)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    text = first.stdout
    assert text.startswith("ROMEO:") and text.endswith("\n") and len(text) == 6 + 300 + 1
    assert set(text[:-1]) <= set(vocab)
    again = run(*args, "--seed", 1, cwd=tmp_path)
    other = run("sample", lstm_run / "last.ckpt", "--prompt", "ROMEO:", "--length", 300,
                "--temperature", 0.8, "--seed", 2, cwd=tmp_path)
    assert again.stdout == text  # a seed fixes the text
    assert other.returncode == 0 and other.stdout != text and other.stdout.startswith("ROMEO:")


SAMPLE_BAD_INPUTS = [
    (("--temperature", "0"), ["--temperature must be > 0, got 0.0"]),
    (("--temperature", "-0.5"), ["--temperature must be > 0"]),
    (("--prompt", "ROMEO{"), ["--prompt has characters the model never saw: '{'"]),
    (("--prompt", ""), ["--prompt must hold at least one character"]),
    (("--length", "0"), ["--length must be >= 1"]),
]


@pytest.mark.parametrize("extra, fragments", SAMPLE_BAD_INPUTS,
                         ids=[" ".join(a) for a, _ in SAMPLE_BAD_INPUTS])
def test_sample_bad_options_end_in_one_line_error(lstm_run, tmp_path, extra, fragments):
    assert_one_line_error(run("sample", lstm_run, *extra, cwd=tmp_path), *fragments)


def test_sample_refuses_a_checkpoint_that_is_not_an_lstm(moons_run, tmp_path):
    folder, _ = moons_run
    result = run("sample", folder / "run", "--prompt", "a", cwd=tmp_path)
    assert_one_line_error(result, "holds the mlp model of a run on moons",
                          "needs a character-level lstm or transformer model")
    assert_one_line_error(run("sample", tmp_path / "nowhere", cwd=tmp_path), "does not exist")


def _tiny_char_lstm(vocab: int = 7):
    cr.manual_seed(3)
    return models.lstm(vocab, embedding_dim=4, hidden_size=8)


def test_char_lstm_state_carries_text_read_in_pieces():
    model = _tiny_char_lstm()
    x = cr.tensor(np.random.default_rng(0).integers(0, 7, (2, 10)))
    whole, (h, c) = model.next_logits(x)
    first, state = model.next_logits(x[:, :6])
    rest, (h2, c2) = model.next_logits(x[:, 6:], state)
    np.testing.assert_allclose(rest.numpy(), whole.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h2.numpy(), h.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c2.numpy(), c.numpy(), rtol=1e-5, atol=1e-6)
    every, _ = model.all_logits(x)
    assert every.shape == (2, 10, 7)
    np.testing.assert_allclose(every.numpy()[:, -1], whole.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(every.numpy()[:, 5], first.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x).numpy(), whole.numpy())


def test_char_transformer_is_causal_and_keeps_its_context():
    """The context handed back by next_logits continues the text (the last block_size
    characters); a position's logits never depend on later characters; trained on every
    position, forward gives CrossEntropyLoss's (N, vocab, T) layout in training mode only."""
    cr.manual_seed(3)
    model = models.transformer(7, block_size=8, d_model=8, nhead=2, num_layers=2)
    x = cr.tensor(np.random.default_rng(0).integers(0, 7, (2, 10)))
    whole, context = model.next_logits(x[:, 2:])
    first, state = model.next_logits(x[:, :6])
    rest, context2 = model.next_logits(x[:, 6:], state)
    np.testing.assert_allclose(rest.numpy(), whole.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(context2.numpy(), x.numpy()[:, 2:])      # the last 8 characters
    every, _ = model.all_logits(x[:, :8])
    changed = x.numpy().copy()
    changed[:, 5:] = (changed[:, 5:] + 1) % 7
    every2, _ = model.all_logits(cr.tensor(changed[:, :8]))
    np.testing.assert_allclose(every2.numpy()[:, :5], every.numpy()[:, :5], rtol=1e-5, atol=1e-6)
    assert not np.allclose(every2.numpy()[:, 5:], every.numpy()[:, 5:])
    model.train_every_position = True
    assert model(x[:, :8]).shape == (2, 7, 8) and model.eval()(x[:, :8]).shape == (2, 7)
    with pytest.raises(ValueError, match="exceed block_size=8"):
        model.all_logits(x)
    ids = models.generate(model, [1, 2, 3], length=20)
    assert len(ids) == 20 and all(0 <= i < 7 for i in ids)
    targets = models.training_targets({"kind": "transformer", "train_every_position": True},
                                      np.array([[1, 2, 3]]), np.array([4]))
    np.testing.assert_array_equal(targets, [[2, 3, 4]])


def test_generate_reads_the_prompt_once_then_one_character_per_step():
    model = _tiny_char_lstm()
    steps = []
    model.lstm.register_forward_pre_hook(lambda module, args: steps.append(args[0].shape[1]))
    ids = models.generate(model, [1, 2, 3, 4], length=25, temperature=0.8)
    assert len(ids) == 25 and all(0 <= i < 7 for i in ids)
    assert steps == [4] + [1] * 24  # the last draw needs no further step
    assert model.training  # the mode is put back


def test_generate_low_temperature_is_greedy_and_a_seed_fixes_the_text():
    model = _tiny_char_lstm()
    greedy, seq = [], [2, 5]
    for _ in range(12):  # argmax decoding, re-reading the whole text each time
        greedy.append(int(model.next_logits(cr.tensor([seq + greedy]))[0].numpy().argmax()))
    assert models.generate(model, [2, 5], 12, temperature=1e-4) == greedy
    assert models.generate(model, [2, 5], 12, temperature=1e-320) == greedy  # z overflows
    a = models.generate(model, [2, 5], 40, generator=np.random.default_rng(7))
    b = models.generate(model, [2, 5], 40, generator=np.random.default_rng(7))
    assert a == b


def test_generate_draws_from_the_tempered_softmax():
    # With a zero output weight the logits are the head's bias whatever the text, so every
    # step draws from the same softmax(bias / temperature).
    model = _tiny_char_lstm()
    bias = np.array([1.0, 0.0, -1.0, 2.0, 0.5, -0.5, 0.0], dtype=np.float32)
    with cr.no_grad():
        model.head.weight[...] = 0.0
        model.head.bias[...] = cr.tensor(bias)
    for temperature in (0.5, 2.0):
        p = np.exp(bias / temperature - (bias / temperature).max())
        p /= p.sum()
        draws = models.generate(model, [0], 1500, temperature, np.random.default_rng(11))
        freq = np.bincount(draws, minlength=7) / len(draws)
        # 1,500 draws: a frequency's standard error is at most 0.013.
        np.testing.assert_allclose(freq, p, atol=0.05)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"temperature": 0.0}, ValueError, "temperature must be a finite number > 0"),
    ({"temperature": float("inf")}, ValueError, "temperature"),
    ({"prompt": []}, ValueError, "at least one character"),
    ({"prompt": [9]}, ValueError, "prompt ids must be in [0, 7)"),
    ({"length": -1}, ValueError, "length must be an int >= 0"),
])
def test_generate_rejects_bad_arguments(kwargs, error, fragment):
    args = {"prompt": [1], "length": 3, "temperature": 1.0, **kwargs}
    with pytest.raises(error) as info:
        models.generate(_tiny_char_lstm(), args.pop("prompt"), **args)
    assert fragment in str(info.value)
    with pytest.raises(TypeError, match="must be a CharLSTM"):
        models.generate(models.mlp(4, 2, hidden=(3,)), [1], 3)


# ----------------------------------------------------------- lr schedules
def test_lr_schedule_defaults_to_onecycle_for_cnn_only():
    parser = cli.build_parser()

    def schedule(argv):
        return train_command._train_config(parser.parse_args(["train", *argv]),
                                           "mnist")["lr_schedule"]

    assert schedule(["--model", "cnn"]) == "onecycle"
    assert schedule([]) == "constant"
    assert schedule(["--model", "cnn", "--lr-schedule", "constant"]) == "constant"


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_lr_schedule_steps_every_batch_and_resumes_exactly(tmp_path, monkeypatch, capsys,
                                                          schedule):
    monkeypatch.chdir(tmp_path)
    common = ["--data", "circles", "--epochs", "4", "--lr-schedule", schedule, "--quiet"]
    assert cli.main(["train", *common, "--out", "straight"]) == 0
    straight = train.read_checkpoint(tmp_path / "straight" / "last.ckpt")
    assert straight["config"]["train"]["lr_schedule"] == schedule
    lrs = straight["history"]["lr"]  # the rate after each epoch's last batch
    peak = straight["config"]["train"]["lr"]
    if schedule == "cosine":
        assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < 1e-6 * peak
        return
    # onecycle: from peak / 25 up to the peak over the first 30% of the steps, then down to
    # almost 0 (20 batches an epoch: epoch 1 ends at step 20 of the 24 of warm-up).
    assert peak / 25 < lrs[0] < peak and lrs[-1] < 1e-2 * peak
    assert all(a > b for a, b in zip(lrs[1:], lrs[2:]))
    # Interrupted in epoch 3 and resumed: the scheduler's state comes back with the rest.
    real_fit = train_command.fit

    def fit_interrupted_in_epoch_3(*args, callbacks=(), **kwargs):
        def stop(state):
            if state.epoch == 3:
                raise KeyboardInterrupt
        return real_fit(*args, callbacks=[*callbacks, train.LambdaCallback(on_batch_end=stop)],
                        **kwargs)

    monkeypatch.setattr(train_command, "fit", fit_interrupted_in_epoch_3)
    assert cli.main(["train", *common, "--out", "split"]) == 130
    monkeypatch.setattr(train_command, "fit", real_fit)
    capsys.readouterr()
    assert cli.main(["train", "--resume", "split", "--epochs", "6", "--quiet"]) == 1
    assert "planned for 4 epochs" in capsys.readouterr().err
    assert cli.main(["train", "--resume", "split", "--quiet"]) == 0
    resumed = train.read_checkpoint(tmp_path / "split" / "last.ckpt")
    assert resumed["history"] == straight["history"]
    for key in straight["model"]:
        np.testing.assert_array_equal(resumed["model"][key], straight["model"][key])


# ------------------------------------------------- the package: commands and errors
@pytest.mark.parametrize("command", cli.COMMANDS, ids=lambda c: c.NAME)
def test_every_listed_command_declares_itself_and_has_working_help(command, capsys):
    assert isinstance(command.NAME, str) and isinstance(command.HELP, str) and command.HELP
    assert callable(command.add_arguments) and callable(command.run)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command.NAME, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: chainrule {command.NAME} ")


def test_command_names_are_unique_and_listed_in_the_top_level_help(capsys):
    names = [command.NAME for command in cli.COMMANDS]
    assert len(set(names)) == len(names)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert f"{command.NAME}  " in out and command.HELP in out


def test_a_new_command_is_one_module_in_the_list(monkeypatch, capsys):
    import types

    def add_arguments(parser):
        parser.add_argument("--name", required=True)

    def run(args):
        if args.name == "nobody":
            raise cli.UserError("--name: nobody is not a name\n(give a real one)", status=4)
        print(f"hello {args.name}")
        return 0

    hello = types.SimpleNamespace(NAME="hello", HELP="greet", add_arguments=add_arguments,
                                  run=run)
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, hello))
    assert cli.main(["hello", "--name", "Ada"]) == 0
    assert capsys.readouterr().out == "hello Ada\n"
    # The error comes out as one line, with the status the command chose.
    assert cli.main(["hello", "--name", "nobody"]) == 4
    captured = capsys.readouterr()
    assert captured.err == "chainrule: error: --name: nobody is not a name (give a real one)\n"
    # Bad options are UserErrors too: one line, status 2, naming the command's help.
    assert cli.main(["hello"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("chainrule: error: the following arguments "
                                                   "are required: --name")
    assert "(see 'chainrule hello --help')" in err
    assert cli.main([]) == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("explain, summary or hello")


def test_user_error_carries_its_status_and_the_command_it_names(monkeypatch, capsys):
    from chainrule.cli import sample

    def fail(args):
        raise cli.UserError("something was wrong", status=2, command="sample")

    monkeypatch.setattr(sample, "run", fail)
    assert cli.main(["sample", "some-run"]) == 2
    assert capsys.readouterr().err == "chainrule sample: error: something was wrong\n"
    error = cli.UserError("x")
    assert isinstance(error, ValueError) and error.status == 1 and error.command is None


def test_transformer_trains_on_every_position_evaluates_and_samples(tmp_path, capsys):
    """chainrule train --model transformer: a decoder-only model trained on the next
    character after every position of each window, scored (validation, test) on the
    character after the window, sampled by chainrule sample, resumed exactly."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(cli_data.TEXT, "shakespeare", {"seq_len": 8, "windows": 300, "test_windows": 60})
        mp.chdir(tmp_path)
        assert cli.main(["train", "--data", "shakespeare", "--model", "transformer", "--hidden",
                         "16", "--epochs", "1", "--out", "r", "--quiet"]) == 0
        out = capsys.readouterr().out
        assert "test set" in out and "accuracy" in out
        config = json.loads((tmp_path / "r" / "config.json").read_text())
        assert config["model"]["kind"] == "transformer" and config["model"]["num_layers"] == 1
        history = json.loads((tmp_path / "r" / "history.json").read_text())
        assert "val_loss" in json.dumps(history)
        assert cli.main(["evaluate", "r"]) == 0
        assert "loss" in capsys.readouterr().out
        assert cli.main(["sample", "r", "--prompt", "ROMEO:", "--length", "40", "--seed", "3"]) == 0
        text = capsys.readouterr().out
        assert text.startswith("ROMEO:") and len(text) == 6 + 40 + 1
        assert cli.main(["train", "--resume", "r", "--epochs", "2", "--quiet"]) == 0
    errors = [(["--hidden", "16,32"], "all equal and divisible by its 4 heads"),
              (["--activation", "tanh"], "--activation applies to the mlp and cnn models")]
    for extra, fragment in errors:
        result = run("train", "--data", "shakespeare", "--model", "transformer", *extra,
                     cwd=tmp_path)
        assert_one_line_error(result, fragment)
