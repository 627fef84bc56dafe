"""Take a playground network home: as a chainrule Python script, or as a run folder that
``chainrule evaluate`` reads.

The script rebuilds the data (the same generator call and split, or the uploaded points
written into it), the features, the network with its current weights, the loss, the
regulariser and the optimiser, and trains on from there. Every value in it is a number or
one of the settings' fixed names, never text the page sent.

The run folder has the layout ``chainrule train`` writes: ``config.json`` and a
``last.ckpt`` holding the model's and the optimiser's state and that config, plus the
points as ``<dataset>.csv`` / ``<dataset>-test.csv`` (the config's data section names them)
and the loss history.
"""
from __future__ import annotations

import datetime
import json
import os

import numpy as np

import chainrule as cr
from chainrule import io
from chainrule.playground.problem import generator_call
from chainrule.playground.settings import MOMENTUM
from chainrule.train import History
from chainrule.train.checkpoint import make_checkpoint

_LAYER = {"relu": "nn.ReLU()", "tanh": "nn.Tanh()", "sigmoid": "nn.Sigmoid()",
          "linear": "nn.Identity()"}


def _array(a: np.ndarray) -> str:
    """A NumPy array literal that round-trips every float64 exactly (repr)."""
    return f"np.array({np.asarray(a, dtype=np.float64).tolist()!r})"


def _data_lines(session) -> list[str]:
    s, p = session.settings, session.problem
    if s.dataset == "csv":
        return [f"# the points of the uploaded file (x1, x2) and their "
                f"{'classes' if s.problem == 'classification' else 'targets'}",
                f"X = {_array(p.X)}", f"y = {_array(p.y)}"]
    func, kwargs = generator_call(s)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return [f"X, y = generated.{func}({args})", "X, y = X.astype(np.float64), y.astype(np.float64)"]


def script_text(session) -> str:
    """The session's data, network (with its current weights) and training as a script."""
    s, p = session.settings, session.problem
    n_train = len(p.train)
    sizes = [len(s.features)] + list(s.hidden) + [1]
    layers = []
    for k in range(1, len(sizes)):
        layers.append(f"nn.Linear({sizes[k - 1]}, {sizes[k]})")
        if k < len(sizes) - 1:
            layers.append(_LAYER[s.activation])
    weights = ",\n    ".join(f"({_array(m.weight._array)}, {_array(m.bias._array)})"
                             for m in session.linears)
    loss = "nn.BCEWithLogitsLoss()" if s.problem == "classification" else "nn.MSELoss()"
    if s.optimizer == "adam":
        make_opt = f"optim.Adam(model.parameters(), lr={s.lr!r})"
    else:
        momentum = MOMENTUM if s.optimizer == "momentum" else 0.0
        make_opt = f"optim.SGD(model.parameters(), lr={s.lr!r}, momentum={momentum!r})"
    if s.regularization == "none" or s.reg_rate == 0:
        penalty = ["def penalty():", "    return 0.0   # no regularisation"]
    else:
        term = "layer.weight.abs().sum()" if s.regularization == "l1" \
            else "(layer.weight * layer.weight).sum() * 0.5"
        penalty = ["def penalty():",
                   f"    # {s.regularization.upper()} on the weights (not the biases)",
                   f"    return sum({term} for layer in linears) * {s.reg_rate!r}"]
    what = ("sigmoid(output) is the probability of class 1" if s.problem == "classification"
            else "the output is the predicted value")
    lines = [
        '"""A network exported from the chainrule playground on '
        f'{datetime.date.today().isoformat()}.',
        "",
        f"Data: {s.dataset}, {len(p.X)} points, {n_train} for training; features "
        f"{', '.join(s.features)}.",
        f"Network: {' -> '.join(map(str, sizes))}, {s.activation}; {what}.",
        f"The weights are the playground's after {session.epoch} epochs "
        f"({session.total_steps} steps); the",
        "optimiser starts afresh (its state travels in the checkpoint export). Run:",
        "",
        "    python this_file.py --epochs 100",
        '"""',
        "import argparse",
        "",
        "import numpy as np",
        "",
        "import chainrule as cr",
        "from chainrule import nn, optim",
        "from chainrule.data import expand_features, generated",
        "",
        "parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])",
        "parser.add_argument('--epochs', type=int, default=100)",
        "args = parser.parse_args()",
        "",
        *_data_lines(session),
        f"order = np.random.default_rng([{s.seed}, 1]).permutation(len(X))",
        f"train, test = np.sort(order[:{n_train}]), np.sort(order[{n_train}:])",
        "# standardised with the training points' mean and standard deviation",
        f"mean, std = {_array(p.mean)}, {_array(p.std)}",
        f"FEATURES = {list(s.features)!r}",
        "inputs = expand_features((X - mean) / std, FEATURES)",
        "targets = y.reshape(-1, 1)",
        "",
        "model = nn.Sequential(" + ", ".join(layers) + ").double()",
        "linears = [m for m in model if isinstance(m, nn.Linear)]",
        "weights = [  # (W, b) of each Linear layer, as the playground had them",
        f"    {weights},",
        "]",
        "with cr.no_grad():",
        "    for layer, (W, b) in zip(linears, weights):",
        "        layer.weight.copy_(W)",
        "        layer.bias.copy_(b)",
        f"loss_fn = {loss}",
        f"optimizer = {make_opt}",
        "",
        *penalty,
        "",
        "",
        "def loss_on(rows):",
        "    with cr.no_grad():",
        "        return loss_fn(model(cr.Tensor(inputs[rows])), cr.Tensor(targets[rows])).item()",
        "",
        "",
        f"rng = np.random.default_rng({s.seed})",
        "print(f'start: train loss {loss_on(train):.4f}, test loss {loss_on(test):.4f}')",
        "for epoch in range(1, args.epochs + 1):",
        "    shuffled = rng.permutation(train)",
        f"    for start in range(0, len(shuffled), {s.batch_size}):",
        f"        rows = shuffled[start:start + {s.batch_size}]",
        "        optimizer.zero_grad()",
        "        loss = loss_fn(model(cr.Tensor(inputs[rows])), cr.Tensor(targets[rows])) + penalty()",
        "        loss.backward()",
        "        optimizer.step()",
        "    print(f'epoch {epoch}: train loss {loss_on(train):.4f}, test loss {loss_on(test):.4f}')",
        "",
    ]
    return "\n".join(lines)


def run_config(session, train_csv: str, test_csv: str) -> dict:
    """The config a run folder's checkpoint carries, in ``chainrule train``'s layout."""
    s, p = session.settings, session.problem
    classification = s.problem == "classification"
    prep = {"kind": "tabular", "scale": 1.0, "mean": p.mean.tolist(), "std": p.std.tolist(),
            "input_shape": [len(s.features)], "features": list(s.features)}
    return {
        "chainrule_version": cr.__version__,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": {"name": "csv", "path": os.path.abspath(train_csv),
                 "test_path": os.path.abspath(test_csv), "task": s.problem,
                 "test_split": round(1.0 - s.train_ratio, 6), "val_split": 0.0,
                 "split_seed": s.seed,
                 "class_names": list(p.class_names) if classification else ["value"],
                 "preprocessing": prep},
        "model": {"kind": "mlp", "in_features": len(s.features), "num_classes": 1,
                  "hidden": list(s.hidden), "activation": s.activation, "dropout": 0.0,
                  "batch_norm": False},
        "train": {"optimizer": "adam" if s.optimizer == "adam" else "sgd", "lr": s.lr,
                  "momentum": MOMENTUM if s.optimizer == "momentum" else 0.0,
                  "weight_decay": 0.0, "lr_schedule": "constant",
                  "loss": "bce_with_logits" if classification else "mse",
                  "regularization": s.regularization, "reg_rate": s.reg_rate,
                  "batch_size": s.batch_size, "epochs": session.epoch, "seed": s.seed},
        "playground": s.to_dict(),
    }


def _write_points(path: str, X: np.ndarray, y: np.ndarray, classification: bool) -> None:
    labels = y.astype(np.int64).astype(str) if classification else [repr(float(v)) for v in y]
    rows = [f"{float(a)!r},{float(b)!r},{label}" for (a, b), label in zip(X, labels)]
    io.write_atomically(path, ("x1,x2,label\n" + "\n".join(rows) + "\n").encode("utf-8"))


def new_run_folder(base: str, dataset: str) -> str:
    """A new folder ``base/playground-<dataset>-<time>`` (``-2``, ``-3``... if taken)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = os.path.join(base, f"playground-{dataset}-{stamp}")
    path, n = stem, 1
    while True:
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            n += 1
            path = f"{stem}-{n}"


def write_run(session, base: str) -> str:
    """Write the session as a run folder under ``base``; returns its path."""
    s, p = session.settings, session.problem
    folder = new_run_folder(base, s.dataset)
    classification = s.problem == "classification"
    # evaluate names the data after the training file: "on the spiral test split"
    train_csv = os.path.join(folder, f"{s.dataset}.csv")
    test_csv = os.path.join(folder, f"{s.dataset}-test.csv")
    _write_points(train_csv, p.X[p.train], p.y[p.train], classification)
    _write_points(test_csv, p.X[p.test], p.y[p.test], classification)
    config = run_config(session, train_csv, test_csv)
    history = History()
    for epoch, train_loss, test_loss in session.history:
        if epoch >= 1 and float(epoch).is_integer():
            history.append(int(epoch), {"loss": train_loss, "test_loss": test_loss})
    ckpt = make_checkpoint(session.model, session.optimizer, epoch=session.epoch,
                           global_step=session.total_steps, history=history, config=config)
    io.save(ckpt, os.path.join(folder, "last.ckpt"))
    io.write_atomically(os.path.join(folder, "config.json"),
                        (json.dumps(config, indent=1) + "\n").encode("utf-8"))
    if len(history):
        history.to_csv(os.path.join(folder, "history.csv"))
        history.to_json(os.path.join(folder, "history.json"))
    return folder
