"""The training loop: fit / evaluate / predict, History, callbacks, checkpoints and exact
resumption."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, train
from chainrule.data import DataLoader, TensorDataset, make_moons


# --------------------------------------------------------------------- helpers
def moons(n=400, val=100, seed=0, batch_size=32, loader_generator=None):
    X, y = make_moons(n, noise=0.15, seed=seed)
    tr = DataLoader(TensorDataset(X[val:], y[val:]), batch_size=batch_size, shuffle=True,
                    generator=loader_generator)
    va = DataLoader(TensorDataset(X[:val], y[:val]), batch_size=64)
    return X, y, tr, va


def small_model(dropout=0.0):
    layers = [nn.Linear(2, 32), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(32, 2))
    return nn.Sequential(*layers)


def params(model):
    return [p.numpy().copy() for p in model.parameters()]


def same_params(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


class NaNAfter(nn.Module):
    """Wraps a model; from training forward call ``after`` on, its outputs are NaN."""

    def __init__(self, inner, after):
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                out = out * float("nan")
        return out


# ------------------------------------------------------------------------ fit
def test_fit_learns_moons_and_fills_history():
    cr.manual_seed(0)
    X, y, tr, va = moons()
    model = small_model()
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    hist = train.fit(model, nn.CrossEntropyLoss(), opt, tr, 15, val_loader=va, verbose=0)
    assert isinstance(hist, train.History)
    assert hist.keys() == ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert hist.epoch == list(range(1, 16))
    assert all(len(v) == 15 for v in hist.history.values())
    assert hist["loss"][-1] < hist["loss"][0] / 2
    assert hist["val_accuracy"][-1] >= 0.95
    assert hist["lr"] == [0.01] * 15
    # The logged validation values are what evaluate() computes for the final model.
    final = train.evaluate(model, va, nn.CrossEntropyLoss())
    assert final["loss"] == pytest.approx(hist["val_loss"][-1], rel=1e-6)
    assert final["accuracy"] == hist["val_accuracy"][-1]
    assert not hist.interrupted and not hist.diverged and hist.stop_reason is None


def test_train_loss_is_sample_weighted_mean_of_batch_losses():
    # 10 samples in batches of 4, 4, 2: the epoch loss weights the short batch by 2, not 4.
    cr.manual_seed(0)
    X = np.linspace(-1, 1, 20, dtype=np.float32).reshape(10, 2)
    y = (np.arange(10) % 2).astype(np.int64)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    model = small_model()
    seen = []
    cb = train.LambdaCallback(on_batch_end=lambda s: seen.append((s.batch_loss, s.batch_size)))
    hist = train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.0),
                     loader, 1, verbose=0, callbacks=[cb], metrics=())
    assert [n for _, n in seen] == [4, 4, 2]
    assert hist["loss"][0] == pytest.approx(sum(l * n for l, n in seen) / 10, rel=1e-12)
    assert hist.keys() == ["loss", "lr"]


def test_evaluate_and_predict_use_eval_mode_without_graph_and_restore_mode():
    cr.manual_seed(0)
    X, y, tr, va = moons()
    model = small_model(dropout=0.5)
    model.train()
    modes = []
    model.register_forward_hook(lambda m, args, out: modes.append((m.training, out.grad_fn)))
    r1 = train.evaluate(model, va, nn.CrossEntropyLoss())
    r2 = train.evaluate(model, va, nn.CrossEntropyLoss())
    assert r1 == r2  # dropout is off: deterministic
    assert all(training is False and fn is None for training, fn in modes)
    assert model.training  # restored
    out = train.predict(model, X, batch_size=64)
    assert out.shape == (len(X), 2) and isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out[:100], train.predict(model, va))
    model.eval()
    expected = model(cr.Tensor(X[:5])).numpy()
    np.testing.assert_allclose(out[:5], expected, rtol=1e-6)
    assert model.training is False  # stays in the mode it was in


def test_metric_specs_objects_functions_and_errors():
    cr.manual_seed(0)
    X, y, tr, va = moons()
    model = small_model()
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    hist = train.fit(model, nn.CrossEntropyLoss(), opt, tr, 2, val_loader=va, verbose=0,
                     metrics=[cr.metrics.Accuracy(), ("top2", cr.metrics.Accuracy(top_k=2)),
                              ("fn_acc", cr.metrics.accuracy)])
    assert {"accuracy", "top2", "val_top2", "fn_acc", "val_fn_acc"} <= set(hist.keys())
    assert hist["val_top2"] == [1.0, 1.0]
    assert hist["fn_acc"] == pytest.approx(hist["accuracy"], abs=1e-12)  # per-sample weighted
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        train.fit(model, nn.CrossEntropyLoss(), opt, tr, 1, metrics=["f2"], verbose=0)
    with pytest.raises(ValueError, match="two metrics are named 'accuracy'"):
        train.fit(model, nn.CrossEntropyLoss(), opt, tr, 1, metrics=["accuracy", "acc"], verbose=0)


def test_regression_metrics_by_name_equal_the_one_shot_functions_on_validation():
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)).astype(np.float32)
    y = (X @ np.array([[1.0, 0.5], [-2.0, 0.0], [0.5, 1.0]]) + 0.1).astype(np.float32)
    tr = DataLoader(TensorDataset(X[40:], y[40:]), batch_size=16, shuffle=True)
    va = DataLoader(TensorDataset(X[:40], y[:40]), batch_size=7)
    model = nn.Linear(3, 2)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    hist = train.fit(model, nn.MSELoss(), opt, tr, 3, val_loader=va, verbose=0,
                     metrics=["mse", "rmse", "mae", "r2"])
    pred = train.predict(model, X[:40])
    for name, fn in (("mse", cr.metrics.mean_squared_error),
                     ("rmse", cr.metrics.root_mean_squared_error),
                     ("mae", cr.metrics.mean_absolute_error), ("r2", cr.metrics.r2_score)):
        assert hist[f"val_{name}"][-1] == pytest.approx(fn(y[:40], pred), rel=1e-5), name
    assert hist["val_mse"][-1] == pytest.approx(hist["val_loss"][-1], rel=1e-5)
    assert hist["val_r2"][-1] > hist["val_r2"][0]


def test_bad_arguments_are_named():
    model = small_model()
    X, y, tr, va = moons()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler_interval"):
        train.fit(model, nn.CrossEntropyLoss(), opt, tr, 1, scheduler_interval="step")
    with pytest.raises(ValueError, match="epochs must be an int >= 0"):
        train.fit(model, nn.CrossEntropyLoss(), opt, tr, -1)
    with pytest.raises(TypeError, match=r"\(inputs, targets\) pair"):
        train.fit(model, nn.CrossEntropyLoss(), opt, [cr.zeros(4, 2)], 1, verbose=0)
    with pytest.raises(ValueError, match="monitor 'val_loss' needs validation data"):
        train.fit(model, nn.CrossEntropyLoss(), opt, tr, 1, verbose=0,
                  callbacks=[train.EarlyStopping()])


# -------------------------------------------------------------------- History
def test_history_files_round_trip(tmp_path):
    h = train.History()
    h.append(1, {"loss": 0.9, "accuracy": 0.5})
    h.append(2, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6})
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1] == 0.6
    assert h.best("loss") == (2, 0.5) and h.best("accuracy") == (2, 0.75)
    h.to_json(tmp_path / "h.json")
    back = train.History.from_json(tmp_path / "h.json")
    assert back == h and back.epoch == [1, 2]
    h.to_csv(tmp_path / "h.csv")
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines == ["epoch,loss,accuracy,val_loss", "1,0.9,0.5,", "2,0.5,0.75,0.6"]
    h.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError, match="no column 'f1'"):
        h["f1"]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        train.History.from_json(tmp_path / "bad.json")


# --------------------------------------------------------------- EarlyStopping
def test_early_stopping_patience_counts_epochs_without_improvement():
    X, y, tr, va = moons()
    model = small_model()
    # lr = 0: the validation loss never changes, so it never improves after epoch 1.
    hist = train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.0), tr,
                     20, val_loader=va, verbose=0,
                     callbacks=[stop := train.EarlyStopping(patience=2)])
    assert len(hist) == 3 and stop.stopped_epoch == 3 and stop.best_epoch == 1


def test_early_stopping_restores_best_weights():
    cr.manual_seed(0)
    X, y, tr, _ = moons()
    # Validation labels flipped: the better the model learns, the worse its val_loss.
    va = DataLoader(TensorDataset(X[:100], 1 - y[:100]), batch_size=64)
    model = small_model()
    snapshots = {}
    record = train.LambdaCallback(on_epoch_end=lambda s: snapshots.__setitem__(s.epoch, params(s.model)))
    stop = train.EarlyStopping(patience=2, restore_best_weights=True)
    hist = train.fit(model, nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=1e-2),
                     tr, 30, val_loader=va, verbose=0, callbacks=[record, stop])
    best_epoch, _ = hist.best("val_loss")
    assert stop.best_epoch == best_epoch and len(hist) == best_epoch + 2
    assert same_params(params(model), snapshots[best_epoch])
    assert not same_params(params(model), snapshots[len(hist)])


# ------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_best_and_last(tmp_path):
    cr.manual_seed(0)
    X, y, tr, va = moons()
    model = small_model()
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    ck = train.ModelCheckpoint(tmp_path / "run", monitor="val_accuracy")
    hist = train.fit(model, nn.CrossEntropyLoss(), opt, tr, 5, val_loader=va, verbose=0,
                     callbacks=[ck], config={"note": "hello"})
    best = train.read_checkpoint(tmp_path / "run" / "best.ckpt")
    last = train.read_checkpoint(tmp_path / "run" / "last.ckpt")
    assert best["epoch"] == hist.best("val_accuracy")[0]  # mode auto -> max for accuracy
    assert last["epoch"] == 5 and last["global_step"] == 5 * len(tr)
    assert last["history"] == hist and last["config"] == {"note": "hello"}
    assert same_params([np.asarray(v) for v in last["model"].values()], params(model))
    assert last["optimizer"]["state"]  # Adam's moments are in it
    assert last["rng_state"] == cr.get_rng_state()

    # save_best_only keeps no last.ckpt; a filepath template formats the logs.
    cr.manual_seed(0)
    only = train.ModelCheckpoint(tmp_path / "b", save_best_only=True)
    tmpl = train.ModelCheckpoint(filepath=str(tmp_path / "t" / "e{epoch:02d}-{val_loss:.3f}.ckpt"))
    hist = train.fit(small_model(), nn.CrossEntropyLoss(), cr.optim.SGD(small_model().parameters(), lr=0.0),
                     tr, 2, val_loader=va, verbose=0, callbacks=[only, tmpl])
    assert sorted(os.listdir(tmp_path / "b")) == ["best.ckpt"]
    assert sorted(os.listdir(tmp_path / "t")) == [f"e{e:02d}-{v:.3f}.ckpt" for e, v in
                                                  zip(hist.epoch, hist["val_loss"])]
    with pytest.raises(ValueError, match="exactly one of dirpath"):
        train.ModelCheckpoint()


# ------------------------------------------------------------------ CSVLogger
def test_csv_logger_writes_and_appends(tmp_path):
    cr.manual_seed(0)
    X, y, tr, va = moons()
    model = small_model()
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    path = tmp_path / "log.csv"
    train.fit(model, nn.CrossEntropyLoss(), opt, tr, 2, val_loader=va, verbose=0,
              callbacks=[train.CSVLogger(path)])
    hist = train.fit(model, nn.CrossEntropyLoss(), opt, tr, 3, start_epoch=2, val_loader=va,
                     verbose=0, callbacks=[train.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy,lr"
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3"]
    assert float(lines[3].split(",")[1]) == hist["loss"][0]


# ------------------------------------------------------------------- NaN guard
def test_nan_loss_stops_with_epoch_and_step_and_keeps_good_checkpoints(tmp_path, capsys):
    cr.manual_seed(0)
    X, y, tr, va = moons()  # 300 samples / 32 -> 10 batches per epoch
    model = NaNAfter(small_model(), after=2 * len(tr) + 4)  # the 5th step of epoch 3
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    run = tmp_path / "run"
    saved = {}

    def remember(state):
        saved.update({n: (run / n).read_bytes() for n in ("best.ckpt", "last.ckpt")})

    hist = train.fit(model, nn.CrossEntropyLoss(), opt, tr, 6, val_loader=va, verbose=1,
                     callbacks=[train.ModelCheckpoint(run),
                                train.LambdaCallback(order=90, on_epoch_end=remember)])
    assert hist.diverged and len(hist) == 2
    assert "epoch 3, step 5" in hist.stop_reason and "global step 25" in hist.stop_reason
    assert "epoch 3, step 5" in capsys.readouterr().err
    for name in ("best.ckpt", "last.ckpt"):
        assert (run / name).read_bytes() == saved[name]  # untouched by the bad step
    ck = train.read_checkpoint(run / "last.ckpt")
    assert ck["epoch"] == 2 and all(np.isfinite(np.asarray(v)).all() for v in ck["model"].values())


def test_checkpoint_refuses_non_finite_weights(tmp_path):
    X, y, tr, va = moons()
    model = small_model()
    poison = train.LambdaCallback(on_epoch_end=lambda s: s.model[0].weight.numpy().fill(np.inf))
    poison.order = 10  # after training, before the checkpoint (order 50)
    hist = train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.0),
                     tr, 1, val_loader=va, verbose=0, nan_guard=False,
                     callbacks=[poison, train.ModelCheckpoint(tmp_path)])
    assert len(hist) == 1 and not os.listdir(tmp_path)


# ---------------------------------------------------------------- Ctrl-C
def test_keyboard_interrupt_returns_history_and_says_how_to_resume(tmp_path, capsys):
    cr.manual_seed(0)
    X, y, tr, va = moons()
    model = small_model()

    def interrupt(state):
        if state.epoch == 3 and state.batch == 2:
            raise KeyboardInterrupt

    logger = train.CSVLogger(tmp_path / "log.csv")
    hist = train.fit(model, nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=1e-2),
                     tr, 5, val_loader=va, verbose=0,
                     callbacks=[train.ModelCheckpoint(tmp_path), logger,
                                train.LambdaCallback(on_batch_end=interrupt)])
    assert hist.interrupted and len(hist) == 2
    err = capsys.readouterr().err
    assert "interrupted during epoch 3, step 2" in err
    assert f"chainrule train --resume {tmp_path}" in err
    assert train.read_checkpoint(tmp_path / "last.ckpt")["epoch"] == 2
    assert logger._file is None  # on_train_end ran: the log is closed


# -------------------------------------------------------------- schedulers
def test_scheduler_stepping_per_epoch_per_batch_and_on_plateau():
    X, y, tr, va = moons()
    model = small_model()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    hist = train.fit(model, nn.CrossEntropyLoss(), opt, tr, 3, scheduler=sched, verbose=0)
    assert hist["lr"] == [0.1, 0.05, 0.025]  # the rate each epoch trained with

    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    sched = cr.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    hist = train.fit(model, nn.CrossEntropyLoss(), opt, tr, 2, scheduler=sched,
                     scheduler_interval="batch", verbose=0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9 ** (2 * len(tr)))

    # lr 1e-6: the validation loss moves by far less than ReduceLROnPlateau's relative
    # threshold (1e-4), a plateau, so (monitoring it, patience 0) it halves the rate.
    opt = cr.optim.SGD(model.parameters(), lr=1e-6)
    plateau = cr.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    hist = train.fit(model, nn.CrossEntropyLoss(), opt, tr, 3, val_loader=va, scheduler=plateau,
                     verbose=0)
    assert hist["lr"] == [1e-6, 1e-6, 5e-7]  # epoch 1 sets the best; 2 is flat
    with pytest.raises(ValueError, match="ReduceLROnPlateau steps once per epoch"):
        train.LRSchedulerCallback(plateau, interval="batch")


# ---------------------------------------------------------------- resume
def _build(seed, loader_generator=None):
    cr.manual_seed(seed)
    X, y, tr, va = moons(loader_generator=loader_generator)
    model = small_model(dropout=0.3)  # dropout: the masks must come out the same too
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    return model, opt, sched, tr, va


@pytest.mark.parametrize("own_generator", [False, True])
def test_resume_continues_bit_for_bit(tmp_path, own_generator):
    gen = (lambda: np.random.default_rng(7)) if own_generator else (lambda: None)
    loss = nn.CrossEntropyLoss()
    model, opt, sched, tr, va = _build(0, gen())
    straight = train.fit(model, loss, opt, tr, 4, val_loader=va, scheduler=sched, verbose=0)

    model2, opt2, sched2, tr2, va2 = _build(0, gen())
    train.fit(model2, loss, opt2, tr2, 2, val_loader=va2, scheduler=sched2, verbose=0,
              callbacks=[train.ModelCheckpoint(tmp_path)])
    # A fresh "process": different seed, different initial weights, the RNG moved on.
    model3, opt3, sched3, tr3, va3 = _build(123, gen())
    cr.randn(17)
    next(iter(tr3))
    resumed = train.fit(model3, loss, opt3, tr3, 4, val_loader=va3, scheduler=sched3, verbose=0,
                        resume=tmp_path / "last.ckpt")
    assert same_params(params(model), params(model3))
    assert resumed == straight  # every logged loss, metric and lr identical
    assert opt3.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_load_checkpoint_errors(tmp_path):
    model = small_model()
    with pytest.raises(FileNotFoundError):
        train.read_checkpoint(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"\x00" * 50)
    with pytest.raises(ValueError, match="junk.ckpt"):
        train.read_checkpoint(tmp_path / "junk.ckpt")
    cr.save({"weights": np.zeros(3)}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        train.load_checkpoint(tmp_path / "other.ckpt", model)
    X, y, tr, va = moons()
    train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1), tr, 1,
              verbose=0, callbacks=[train.ModelCheckpoint(tmp_path / "r", monitor="loss")])
    sched = cr.optim.lr_scheduler.StepLR(cr.optim.SGD(model.parameters(), lr=0.1), 1)
    with pytest.raises(ValueError, match="no scheduler state"):
        train.load_checkpoint(tmp_path / "r" / "last.ckpt", model, scheduler=sched)
    with pytest.raises(ValueError, match="(?s)does not fit this model.*size mismatch for 0.weight"):
        train.load_checkpoint(tmp_path / "r" / "last.ckpt", nn.Sequential(nn.Linear(2, 3)))


def test_interrupt_before_any_checkpoint_says_so(tmp_path, capsys):
    X, y, tr, va = moons()
    model = small_model()

    def interrupt(state):
        raise KeyboardInterrupt

    hist = train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1), tr,
                     3, verbose=0, callbacks=[train.ModelCheckpoint(tmp_path, monitor="loss"),
                                              train.LambdaCallback(on_batch_begin=interrupt)])
    assert hist.interrupted and len(hist) == 0
    assert "no epoch had finished, so there is no checkpoint" in capsys.readouterr().err


# ------------------------------------------------------------------- display
def test_display_modes(capsys, monkeypatch):
    import io
    from chainrule.train import progress
    X, y, tr, va = moons()
    model = small_model()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    train.fit(model, nn.CrossEntropyLoss(), opt, tr, 2, verbose=0)
    assert capsys.readouterr() == ("", "")  # quiet

    # Not a terminal: one plain line per epoch (verbose=1), as with verbose=2.
    train.fit(model, nn.CrossEntropyLoss(), opt, tr, 2, val_loader=va, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2 - ")
    assert "samples/s - loss " in lines[1] and "val_accuracy" in lines[1]

    # A bar (tqdm) while the epoch runs, then the epoch's line.
    stream = io.StringIO()
    bar = train.ProgressBar("bar", stream=stream)
    assert bar.mode == "bar"
    train.fit(model, nn.CrossEntropyLoss(), opt, tr, 1, verbose=0, callbacks=[bar])
    text = stream.getvalue()
    assert "Epoch 1/1" in text and "%|" in text and text.rstrip().splitlines()[-1].startswith("Epoch 1/1 - ")

    # Without tqdm (an optional extra) the bar falls back to lines.
    monkeypatch.setattr(progress, "_tqdm", lambda: None)
    assert train.ProgressBar("bar").mode == "lines" and train.ProgressBar().mode == "lines"


# ------------------------------------------------------- Keras and PyTorch habits
def test_fit_takes_arrays_and_names():
    """fit(model, "cross_entropy", "adam", (X, y)): names become the loss and optimiser
    with default arguments, arrays become shuffled batches of batch_size; evaluate too."""
    X, y = make_moons(300, noise=0.1, seed=1)
    cr.manual_seed(0)
    model = small_model()
    hist = train.fit(model, "cross_entropy", "adam", (X, y), epochs=4, batch_size=30,
                     val_loader=(cr.tensor(X), cr.tensor(y)), verbose=0)
    assert len(hist.history["loss"]) == 4 and hist.history["loss"][-1] < hist.history["loss"][0]
    assert hist.history["lr"] == [1e-3] * 4          # Adam's default learning rate
    logs = train.evaluate(model, (X, y), "CrossEntropyLoss", batch_size=64)
    assert logs["loss"] == pytest.approx(hist.history["val_loss"][-1], rel=1e-6)
    # The same run by hand, with the objects the names stand for, gives the same weights.
    cr.manual_seed(0)
    twin = small_model()
    train.fit(twin, nn.CrossEntropyLoss(), cr.optim.Adam(twin.parameters()),
              DataLoader(TensorDataset(X, y), batch_size=30, shuffle=True), epochs=4, verbose=0)
    assert same_params(params(model), params(twin))
    with pytest.raises(ValueError, match="unknown loss 'crossentropy2'.*cross_entropy"):
        train.fit(model, "crossentropy2", "adam", (X, y), epochs=1)
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'.*adamw"):
        train.fit(model, "mse", "adamx", (X, y), epochs=1)
    with pytest.raises(ValueError, match="different numbers of samples"):
        train.fit(model, "mse", "sgd", (X, y[:5]), epochs=1)
