"""The ``chainrule`` command (also ``python -m chainrule``).

    chainrule train                      # MLP on the shipped MNIST -> runs/mnist-mlp-<time>/
    chainrule train --data sonar --hidden 64,32 --dropout 0.2 --epochs 100
    chainrule train --resume runs/mnist-mlp-20240101-120000
    chainrule evaluate runs/mnist-mlp-20240101-120000
    chainrule predict runs/mnist-mlp-20240101-120000 digit.png
    chainrule train --data shakespeare --model lstm --out runs/shakespeare
    chainrule sample runs/shakespeare --prompt "ROMEO:" --length 300 --temperature 0.8
    chainrule explain ... / chainrule summary ...

Every problem with the user's input ends in one line on stderr, ``chainrule: error: ...``,
and a non-zero exit status (2 for bad options, 1 for bad files or data, 130 for Ctrl-C).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import sys
from typing import Any, Sequence

import numpy as np

import chainrule as cr
from chainrule import metrics, models, nn, optim
from chainrule.cli_data import (
    IMAGE_SUFFIXES, NAMES, TEXT, UserError, apply_preprocessing, describe, image_to_mnist,
    make_spec, prepare, read_feature_rows, read_text_window)
from chainrule.data import DataLoader, TensorDataset
from chainrule.train import (
    EarlyStopping, History, LambdaCallback, ModelCheckpoint, fit, load_checkpoint, predict,
    read_checkpoint)

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
# Learning-rate schedules, stepped after every batch over the whole run: "cosine" anneals
# --lr to 0, "onecycle" warms up to --lr over the first 30% of the steps, then anneals
# (with Adam it also cycles beta1). The cnn model defaults to onecycle: with it LeNet-5
# passes 99% test accuracy on MNIST in 8 epochs, which a constant rate does not.
LR_SCHEDULES = ("constant", "cosine", "onecycle")
MAX_CLASSES_SHOWN = 30  # larger confusion matrices and reports are not printed

# Training defaults per data set, chosen (and measured) so the plain command does well:
# the MNIST default reaches >= 97.5% test accuracy in a few minutes on a 2-core CPU.
DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": dict(epochs=8, batch_size=128, lr=1e-3, hidden="256,128", val_split=0.1, patience=3),
    "sonar": dict(epochs=100, batch_size=16, lr=1e-3, hidden="64,32", val_split=0.2, patience=20),
    "ionosphere": dict(epochs=100, batch_size=16, lr=1e-3, hidden="64,32", val_split=0.2, patience=20),
    "spirals": dict(epochs=100, batch_size=32, lr=1e-2, hidden="64,64", val_split=0.2, patience=20),
    "xor": dict(epochs=60, batch_size=32, lr=1e-2, hidden="16,16", val_split=0.2, patience=15),
    "moons": dict(epochs=60, batch_size=32, lr=1e-2, hidden="16,16", val_split=0.2, patience=15),
    "circles": dict(epochs=60, batch_size=32, lr=1e-2, hidden="16,16", val_split=0.2, patience=15),
    "csv": dict(epochs=50, batch_size=32, lr=1e-3, hidden="64,32", val_split=0.2, patience=10),
    "idx": dict(epochs=10, batch_size=128, lr=1e-3, hidden="256,128", val_split=0.1, patience=3),
    "shakespeare": dict(epochs=5, batch_size=64, lr=3e-3, hidden="128", val_split=0.1, patience=2),
}
EMBEDDING_DIM = 32  # character embedding size of the lstm model
# Options a resumed run takes from its checkpoint (only --epochs and --quiet may be given).
_FIXED_ON_RESUME = ("data", "idx_images", "idx_labels", "idx_test_images", "idx_test_labels",
                    "model", "hidden", "activation", "dropout", "batch_norm", "optimizer", "lr",
                    "weight_decay", "momentum", "lr_schedule", "batch_size", "seed", "val_split",
                    "patience", "out")


# ============================================================================ parser
class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) in chainrule's format."""

    def error(self, message: str):
        self.exit(2, f"chainrule: error: {message} (see '{self.prog} --help')\n")


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--data", default=None, metavar="NAME_OR_CSV",
                   help=f"{', '.join(NAMES)}, or a CSV file (label in the last column); "
                        f"default mnist")
    d.add_argument("--idx-images", metavar="PATH", help="IDX file of training images/rows")
    d.add_argument("--idx-labels", metavar="PATH", help="IDX file of training labels")
    d.add_argument("--idx-test-images", metavar="PATH", help="IDX file of test images/rows")
    d.add_argument("--idx-test-labels", metavar="PATH", help="IDX file of test labels")
    d.add_argument("--val-split", type=float, metavar="F",
                   help="fraction of the training data held out for validation")
    m = p.add_argument_group("model")
    m.add_argument("--model", choices=models.MODELS, default=None,
                   help="default mlp (lstm for shakespeare)")
    m.add_argument("--hidden", metavar="SIZES",
                   help="hidden layer sizes, e.g. 256,128 (mlp) or 128 (lstm)")
    m.add_argument("--activation", choices=tuple(models.ACTIVATIONS), default=None,
                   help="default relu")
    m.add_argument("--dropout", type=float, default=None, metavar="P", help="default 0")
    m.add_argument("--batch-norm", action="store_true", default=None,
                   help="BatchNorm after each hidden layer")
    o = p.add_argument_group("optimisation")
    o.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="default adam")
    o.add_argument("--lr", type=float, metavar="LR",
                   help="learning rate (the peak rate with --lr-schedule onecycle)")
    o.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                   help="per-batch learning-rate schedule over the run: cosine anneals to 0, "
                        "onecycle warms up then anneals (default onecycle for cnn, constant "
                        "otherwise)")
    o.add_argument("--weight-decay", type=float, metavar="WD")
    o.add_argument("--momentum", type=float, metavar="M", help="sgd and rmsprop only")
    o.add_argument("--epochs", type=int, metavar="N", help="total epochs (with --resume: train "
                   "up to this many)")
    o.add_argument("--batch-size", type=int, metavar="N")
    o.add_argument("--seed", type=int, default=None, metavar="N", help="default 0")
    o.add_argument("--patience", type=int, metavar="N",
                   help="early stopping patience in epochs (0: never stop early)")
    r = p.add_argument_group("run")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last.ckpt")
    r.add_argument("--out", metavar="DIR", help="run folder (default runs/<data>-<model>-<time>)")
    r.add_argument("--quiet", action="store_true", help="no progress output")


def _add_data_override(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, metavar="NAME_OR_CSV",
                   help="evaluate on this data's test split instead of the run's own")
    p.add_argument("--idx-images", metavar="PATH")
    p.add_argument("--idx-labels", metavar="PATH")
    p.add_argument("--batch-size", type=int, default=512, metavar="N")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chainrule", description="Train, evaluate and explain neural networks "
                     "built on chainrule (NumPy autograd).")
    parser.add_argument("--version", action="version", version=f"chainrule {cr.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help="train a model (default: an MLP on MNIST)",
                       description="Train a classifier and write a run folder with checkpoints, "
                                   "history (CSV/JSON), config.json and curves.png.")
    _add_train_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-set loss, accuracy, confusion matrix, report")
    p.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    _add_data_override(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify rows of a CSV file or an image")
    p.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    p.add_argument("input", metavar="INPUT", help="CSV of feature rows, or an image "
                   f"({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) for image models")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("sample", help="generate text with a character-level lstm model",
                       description="Continue a prompt with text sampled, one character at a "
                                   "time, from an lstm model trained by 'chainrule train --data "
                                   "shakespeare --model lstm'.")
    p.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    p.add_argument("--prompt", default="\n", metavar="TEXT",
                   help="text to continue; every character must be in the model's vocabulary "
                        "(default: a newline)")
    p.add_argument("--length", type=int, default=500, metavar="N",
                   help="characters to generate (default 500)")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T",
                   help="> 0; lower is safer and more repetitive, higher more surprising "
                        "(default 0.8)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="random seed: the same seed gives the same text (default 0)")
    p.set_defaults(func=cmd_sample)

    _add_explain_commands(sub)
    return parser


def _add_explain_commands(sub) -> None:
    """``explain`` and ``summary`` come from chainrule.explain.command when it is present."""
    if importlib.util.find_spec("chainrule.explain") is None or \
            importlib.util.find_spec("chainrule.explain.command") is None:
        for name in ("explain", "summary"):
            p = sub.add_parser(name, help=f"{name} (needs chainrule.explain)")
            p.set_defaults(func=_explain_missing, _name=name)
        return
    from chainrule.explain import command
    p = sub.add_parser("explain", help="step-by-step forward and backward pass of a model")
    command.add_explain_arguments(p)
    p.set_defaults(func=command.run_explain)
    p = sub.add_parser("summary", help="layers, shapes, parameter counts and cost of a model")
    command.add_summary_arguments(p)
    p.set_defaults(func=command.run_summary)


def _explain_missing(args) -> int:
    raise UserError(f"'chainrule {args._name}' needs the chainrule.explain package, which this "
                    f"installation does not have")


# ============================================================================ helpers
def _say(args, msg: str = "") -> None:
    if not getattr(args, "quiet", False):
        print(msg, flush=True)


def _resolve_checkpoint(path: str) -> str:
    """A checkpoint file, or a run folder's best.ckpt (else last.ckpt)."""
    if os.path.isdir(path):
        for name in ("best.ckpt", "last.ckpt"):
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        raise UserError(f"{path!r} holds no best.ckpt or last.ckpt; is it a chainrule run folder?")
    if not os.path.exists(path):
        raise UserError(f"checkpoint or run folder {path!r} does not exist")
    return path


def _check_number(name: str, value, low: float, high: float | None = None,
                  low_open: bool = False, high_open: bool = True) -> None:
    bad = value is None or not math.isfinite(value) or (value <= low if low_open else value < low)
    if high is not None and not bad:
        bad = value >= high if high_open else value > high
    if bad:
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
        raise UserError(f"{name} must be {lo}{hi}, got {value}")


def make_optimizer(cfg: dict[str, Any], params) -> optim.Optimizer:
    """The optimiser a run's ``train`` config names."""
    name, lr, wd, momentum = cfg["optimizer"], cfg["lr"], cfg["weight_decay"], cfg["momentum"]
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd)
    classes = {"adam": optim.Adam, "adamw": optim.AdamW, "adagrad": optim.Adagrad}
    if name not in classes:
        raise UserError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    return classes[name](params, lr=lr, weight_decay=wd)


def _model_config(args, spec_name: str, prep: dict, num_classes: int) -> dict[str, Any]:
    """The model section of the config: what ``models.build_model`` needs, checked."""
    kind = args.model or ("lstm" if prep["kind"] == "text" else "mlp")
    activation = args.activation or "relu"
    dropout = 0.0 if args.dropout is None else args.dropout
    _check_number("--dropout", dropout, 0.0, 1.0)
    if prep["kind"] == "text" and kind != "lstm":
        raise UserError(f"{spec_name} is character text: use --model lstm")
    if kind == "lstm" and prep["kind"] != "text":
        raise UserError("the lstm model reads character text: use --data shakespeare")
    if kind == "cnn" and args.hidden is not None:
        raise UserError("--hidden applies to the mlp and lstm models, not cnn")
    hidden = models.parse_hidden(args.hidden if args.hidden is not None
                                 else DEFAULTS[spec_name]["hidden"])
    if kind == "mlp":
        return {"kind": "mlp", "in_features": int(np.prod(prep["input_shape"])),
                "num_classes": num_classes, "hidden": list(hidden), "activation": activation,
                "dropout": dropout, "batch_norm": bool(args.batch_norm)}
    models.require_model(kind)
    if kind == "lstm":
        for flag, value in (("--activation", args.activation), ("--batch-norm", args.batch_norm)):
            if value is not None:
                raise UserError(f"{flag} applies to the mlp and cnn models, not lstm")
        if len(set(hidden)) != 1:
            raise UserError(f"--hidden for lstm gives one size per stacked layer, all equal "
                            f"(as nn.LSTM has), got {args.hidden}")
        return {"kind": "lstm", "vocab_size": num_classes, "embedding_dim": EMBEDDING_DIM,
                "hidden_size": hidden[0], "num_layers": len(hidden), "dropout": dropout}
    shape = prep["input_shape"]  # cnn
    if prep["kind"] != "image" or shape[1] != shape[2]:
        raise UserError("the cnn model needs square images (mnist or IDX images); "
                        f"this data is {prep['kind']} with input shape {shape}")
    return {"kind": "cnn", "in_channels": shape[0], "num_classes": num_classes,
            "image_size": shape[1], "activation": activation, "dropout": dropout,
            "batch_norm": bool(args.batch_norm)}


def make_scheduler(cfg: dict[str, Any], optimizer: optim.Optimizer, steps_per_epoch: int):
    """The per-batch learning-rate scheduler a run's ``train`` config names (None: constant)."""
    name = cfg.get("lr_schedule", "constant")  # configs from before schedules: constant
    total = cfg["epochs"] * steps_per_epoch
    if name == "constant":
        return None
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if name == "onecycle":
        return optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg["lr"], total_steps=total)
    raise UserError(f"unknown learning-rate schedule {name!r}; choose from "
                    f"{', '.join(LR_SCHEDULES)}")


def _train_config(args, spec_name: str) -> dict[str, Any]:
    defaults = DEFAULTS[spec_name]
    opt = args.optimizer or "adam"
    if args.momentum is not None and opt not in ("sgd", "rmsprop"):
        raise UserError(f"--momentum applies to sgd and rmsprop, not {opt}")
    cfg = {
        "optimizer": opt,
        "lr": defaults["lr"] if args.lr is None else args.lr,
        "weight_decay": (0.01 if opt == "adamw" else 0.0) if args.weight_decay is None else args.weight_decay,
        "momentum": (0.9 if opt == "sgd" else 0.0) if args.momentum is None else args.momentum,
        "lr_schedule": args.lr_schedule or ("onecycle" if args.model == "cnn" else "constant"),
        "epochs": defaults["epochs"] if args.epochs is None else args.epochs,
        "batch_size": defaults["batch_size"] if args.batch_size is None else args.batch_size,
        "seed": 0 if args.seed is None else args.seed,
        "patience": defaults["patience"] if args.patience is None else args.patience,
        "loss": "cross_entropy",
    }
    _check_number("--lr", cfg["lr"], 0.0, low_open=True)
    _check_number("--weight-decay", cfg["weight_decay"], 0.0)
    _check_number("--momentum", cfg["momentum"], 0.0, 1.0)
    for name in ("epochs", "batch_size"):
        if cfg[name] < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {cfg[name]}")
    if cfg["patience"] < 0:
        raise UserError(f"--patience must be >= 0, got {cfg['patience']}")
    if cfg["seed"] < 0:
        raise UserError(f"--seed must be >= 0, got {cfg['seed']}")
    return cfg


def _new_run_dir(out: str | None, data_name: str, model_kind: str) -> str:
    if out is not None:
        if os.path.isfile(out):
            raise UserError(f"--out {out!r} is a file; give a folder")
        if any(os.path.exists(os.path.join(out, f)) for f in ("best.ckpt", "last.ckpt")):
            raise UserError(f"--out {out!r} already holds a run; continue it with --resume {out} "
                            f"or choose another folder")
        os.makedirs(out, exist_ok=True)
        return out
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join("runs", f"{data_name}-{model_kind}-{stamp}")
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = f"{base}-{n}"
    os.makedirs(path)
    return path


def _write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _save_history(history: History, run_dir: str, plot: bool) -> None:
    if not len(history):
        return
    history.to_csv(os.path.join(run_dir, "history.csv"))
    history.to_json(os.path.join(run_dir, "history.json"))
    if plot:
        try:
            history.plot(os.path.join(run_dir, "curves.png"))
        except ImportError:
            print("chainrule: note: matplotlib is not installed; no curves.png "
                  "(pip install 'chainrule[plot]')", file=sys.stderr)


# ------------------------------------------------------------------ reporting
def _probabilities(logits: np.ndarray) -> np.ndarray:
    return cr.softmax(cr.Tensor(logits.astype(np.float64)), dim=1).data


def format_confusion(cm: np.ndarray, names: Sequence[str]) -> str:
    """A confusion matrix with class names on both axes (rows: true, columns: predicted)."""
    width = max(max(len(n) for n in names), len(str(int(cm.max()))), 4)
    corner = "true\\pred"
    first = max(width, len(corner), max(len(n) for n in names))
    head = f"{corner:>{first}} " + " ".join(f"{n:>{width}}" for n in names)
    rows = [f"{n:>{first}} " + " ".join(f"{int(v):>{width}}" for v in row)
            for n, row in zip(names, cm)]
    return "\n".join([head] + rows)


def report(model, X: np.ndarray, y: np.ndarray, names: list[str], batch_size: int = 512) -> dict:
    """Loss, accuracy, confusion matrix and per-class report on (X, y); printed and returned."""
    logits = predict(model, X, batch_size=batch_size)
    loss = float(nn.CrossEntropyLoss()(cr.Tensor(logits.astype(np.float64)),
                                       cr.Tensor(y.astype(np.int64))).item())
    pred = logits.argmax(axis=1)
    labels = list(range(len(names)))
    acc = metrics.accuracy(y, pred)
    cm = metrics.confusion_matrix(y, pred, labels=labels)
    print(f"loss {loss:.4f} - accuracy {acc:.4f} ({int((pred == y).sum())}/{len(y)})")
    text = metrics.classification_report(y, pred, labels=labels, target_names=names, digits=4)
    if len(names) <= MAX_CLASSES_SHOWN:
        print("\nconfusion matrix (rows: true class, columns: predicted class)")
        print(format_confusion(cm, names))
        print()
        print(text)
    else:  # 65 characters: the averages only (everything is in test_metrics.json)
        lines = text.splitlines()
        print(f"\n({len(names)} classes: confusion matrix and per-class rows omitted)")
        print("\n".join([lines[0]] + lines[-3:]))
    return {"loss": loss, "accuracy": acc, "samples": int(len(y)),
            "confusion_matrix": cm.tolist(),
            "report": metrics.classification_report(y, pred, labels=labels, target_names=names,
                                                    output_dict=True)}


# ============================================================================ train
def cmd_train(args) -> int:
    if args.resume is not None:
        return _resume(args)
    idx = {"images": args.idx_images, "labels": args.idx_labels,
           "test_images": args.idx_test_images, "test_labels": args.idx_test_labels}
    if any(idx.values()) and args.data is not None:
        raise UserError("give either --data or --idx-images/--idx-labels, not both")
    if args.hidden is not None:  # check cheap options before loading any data
        models.parse_hidden(args.hidden)
    if args.dropout is not None:
        _check_number("--dropout", args.dropout, 0.0, 1.0)
    seed = 0 if args.seed is None else args.seed
    spec = make_spec(args.data or "mnist", seed, args.val_split or 0.0, idx=idx)
    if args.val_split is None:  # each data set has its own default
        spec["val_split"] = DEFAULTS[spec["name"]]["val_split"]
    train_cfg = _train_config(args, spec["name"])
    _say(args, f"loading {describe(spec)} ...")
    data = prepare(spec)
    model_cfg = _model_config(args, spec["name"], data.preprocessing, len(data.class_names))
    cr.manual_seed(train_cfg["seed"])
    model = models.build_model(model_cfg)
    optimizer = make_optimizer(train_cfg, model.parameters())
    run_dir = _new_run_dir(args.out, describe(spec), model_cfg["kind"])
    config = {"chainrule_version": cr.__version__,
              "created": datetime.datetime.now().isoformat(timespec="seconds"),
              "data": {**spec, "class_names": data.class_names,
                       "preprocessing": data.preprocessing},
              "model": model_cfg, "train": train_cfg}
    _write_json(os.path.join(run_dir, "config.json"), config)
    n_params = sum(p.numel() for p in model.parameters())
    _say(args, f"{describe(spec)}: {len(data.y_train)} train / "
               f"{0 if data.y_val is None else len(data.y_val)} validation / {len(data.y_test)} test "
               f"samples, {len(data.class_names)} classes; {model_cfg['kind']} with {n_params:,} "
               f"parameters; run folder {run_dir}")
    return _run(args, model, optimizer, data, config, run_dir, resume=None)


def _resume(args) -> int:
    given = [f"--{k.replace('_', '-')}" for k in _FIXED_ON_RESUME
             if getattr(args, k, None) not in (None, False)]
    if given:
        raise UserError(f"{', '.join(given)} cannot be changed when resuming: a resumed run "
                        f"keeps its data, model and optimiser (only --epochs and --quiet apply)")
    run_dir = args.resume
    if os.path.isfile(run_dir):
        ckpt_path, run_dir = run_dir, os.path.dirname(run_dir) or "."
    else:
        ckpt_path = os.path.join(run_dir, "last.ckpt")
        if not os.path.isdir(run_dir):
            raise UserError(f"run folder {run_dir!r} does not exist")
        if not os.path.isfile(ckpt_path):
            raise UserError(f"{run_dir!r} holds no last.ckpt to resume from")
    ckpt = read_checkpoint(ckpt_path)
    config = ckpt["config"]
    try:
        train_cfg = config["train"]
        spec = {k: v for k, v in config["data"].items() if k not in ("class_names", "preprocessing")}
        prep, model_cfg = config["data"]["preprocessing"], config["model"]
    except (KeyError, TypeError):
        raise UserError(f"{ckpt_path!r} was not written by 'chainrule train' (its config lacks "
                        f"the data/model/train sections); resume it with cr.train.fit(resume=...)") from None
    if args.epochs is not None:
        if args.epochs < 1:
            raise UserError(f"--epochs must be >= 1, got {args.epochs}")
        schedule = train_cfg.get("lr_schedule", "constant")
        if schedule != "constant" and args.epochs != train_cfg["epochs"]:
            raise UserError(f"the run in {run_dir!r} follows a {schedule} learning-rate schedule "
                            f"planned for {train_cfg['epochs']} epochs, so resuming cannot change "
                            f"--epochs; start a new run with more epochs instead")
        train_cfg["epochs"] = args.epochs
    if ckpt["epoch"] >= train_cfg["epochs"]:
        raise UserError(f"the run in {run_dir!r} has already trained {ckpt['epoch']} of "
                        f"{train_cfg['epochs']} epochs; pass --epochs N with N > {ckpt['epoch']} "
                        f"to train further")
    _say(args, f"resuming {run_dir} after epoch {ckpt['epoch']} (of {train_cfg['epochs']})")
    data = prepare(spec, preprocessing=prep)
    cr.manual_seed(train_cfg["seed"])
    model = models.build_model(model_cfg)
    optimizer = make_optimizer(train_cfg, model.parameters())
    _write_json(os.path.join(run_dir, "config.json"), config)
    return _run(args, model, optimizer, data, config, run_dir, resume=ckpt)


def _run(args, model, optimizer, data, config, run_dir: str, resume) -> int:
    cfg = config["train"]
    train_loader = DataLoader(TensorDataset(data.X_train, data.y_train),
                              batch_size=cfg["batch_size"], shuffle=True)
    val_loader = None
    if data.X_val is not None:
        val_loader = DataLoader(TensorDataset(data.X_val, data.y_val), batch_size=512)
    monitor = "val_loss" if val_loader is not None else "loss"
    checkpoint = ModelCheckpoint(run_dir, monitor=monitor)
    callbacks = [checkpoint,
                 LambdaCallback(on_epoch_end=lambda s: _save_history(s.history, run_dir, plot=False))]
    if cfg["patience"] > 0:
        callbacks.append(EarlyStopping(monitor=monitor, patience=cfg["patience"]))
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, cfg["epochs"],
                  val_loader=val_loader, callbacks=callbacks, verbose=0 if args.quiet else 1,
                  scheduler=make_scheduler(cfg, optimizer, len(train_loader)),
                  scheduler_interval="batch", resume=resume, config=config)
    _save_history(history, run_dir, plot=True)
    if history.interrupted:
        return 130
    if history.diverged:
        print(f"chainrule: error: training diverged; the last good checkpoint is in {run_dir}",
              file=sys.stderr)
        return 1
    best = os.path.join(run_dir, "best.ckpt")
    if os.path.isfile(best):
        ckpt = load_checkpoint(best, model, restore_rng=False)
        which = f"best epoch {ckpt['epoch']} by {monitor}"
    else:
        which = "final weights"
    print(f"\ntest set ({which}): ", end="")
    result = report(model, data.X_test, data.y_test, data.class_names)
    _write_json(os.path.join(run_dir, "test_metrics.json"), result)
    files = [f for f in ("best.ckpt", "last.ckpt", "history.csv", "history.json", "config.json",
                         "curves.png", "test_metrics.json") if os.path.exists(os.path.join(run_dir, f))]
    print(f"\nrun saved in {run_dir}: {', '.join(files)}")
    return 0


# ========================================================================= evaluate
def _load_run(path: str):
    ckpt_path = _resolve_checkpoint(path)
    ckpt = read_checkpoint(ckpt_path)
    config = ckpt["config"]
    try:
        model = models.build_model(config["model"])
        prep, names = config["data"]["preprocessing"], config["data"]["class_names"]
    except (KeyError, TypeError):
        raise UserError(f"{ckpt_path!r} lacks the model/data config that 'chainrule train' "
                        f"writes, so it cannot be rebuilt from the command line") from None
    load_checkpoint(ckpt, model, restore_rng=False)
    return ckpt_path, ckpt, config, model, prep, names


def cmd_evaluate(args) -> int:
    ckpt_path, ckpt, config, model, prep, names = _load_run(args.checkpoint)
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.data is not None or args.idx_images is not None:
        own = config["data"]
        idx = {"images": args.idx_images, "labels": args.idx_labels}
        # Named IDX files are all test data: they are the test pair as well.
        if args.idx_images is not None:
            idx.update(test_images=args.idx_images, test_labels=args.idx_labels)
        spec = make_spec(args.data or "", own.get("split_seed", 0), 0.0,
                         own.get("test_split", 0.2), idx=idx)
    else:
        spec = {k: v for k, v in config["data"].items() if k not in ("class_names", "preprocessing")}
    data = prepare({**spec, "val_split": 0.0}, preprocessing=prep)
    if len(data.class_names) != len(names):
        raise UserError(f"{describe(spec)} has {len(data.class_names)} classes, the model "
                        f"predicts {len(names)}")
    if data.class_names != names:
        print(f"note: the data's class names {data.class_names} differ from the model's "
              f"{names}; classes are matched by position")
    print(f"{ckpt_path} (epoch {ckpt['epoch']}) on the {describe(spec)} test split "
          f"({len(data.y_test)} samples)")
    report(model, data.X_test, data.y_test, names, batch_size=args.batch_size)
    return 0


# ========================================================================== predict
def cmd_predict(args) -> int:
    ckpt_path, ckpt, config, model, prep, names = _load_run(args.checkpoint)
    path = args.input
    if not os.path.isfile(path):
        raise UserError(f"input file {path!r} does not exist")
    if prep["kind"] == "text":
        ids, window = read_text_window(path, prep)
        probs = _probabilities(predict(model, ids))[0]
        order = np.argsort(-probs)[:5]
        print(f"after {window[-20:]!r} the next character is {names[order[0]]!r} "
              f"(probability {probs[order[0]]:.4f})")
        print("top 5: " + "  ".join(f"{names[i]!r}: {probs[i]:.4f}" for i in order))
        return 0
    is_image = path.lower().endswith(IMAGE_SUFFIXES)
    if is_image:
        if prep["kind"] != "image":
            raise UserError(f"{path} is an image, but this model was trained on rows of "
                            f"{prep['input_shape'][0]} features; give a CSV of feature rows")
        X = image_to_mnist(path, side=prep["input_shape"][-1])[None]
    else:
        X = read_feature_rows(path, prep)
    probs = _probabilities(predict(model, apply_preprocessing(X, prep, path)))
    pred = probs.argmax(axis=1)
    if is_image:
        print(f"{path}: predicted {names[pred[0]]} (probability {probs[0, pred[0]]:.4f})")
        order = np.argsort(-probs[0])
        print("probabilities: " + "  ".join(f"{names[i]}: {probs[0, i]:.4f}" for i in order))
        return 0
    width = max(len("class"), max(len(n) for n in names))
    print(f"{'row':>5}  {'class':<{width}}  probability")
    for i, (k, p) in enumerate(zip(pred, probs)):
        print(f"{i + 1:>5}  {names[k]:<{width}}  {p[k]:.4f}")
    return 0


# =========================================================================== sample
def cmd_sample(args) -> int:
    _check_number("--temperature", args.temperature, 0.0, low_open=True)
    if args.length < 1:
        raise UserError(f"--length must be >= 1, got {args.length}")
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    if not args.prompt:
        raise UserError("--prompt must hold at least one character (the default is a newline)")
    ckpt_path, ckpt, config, model, prep, names = _load_run(args.checkpoint)
    kind = config["model"].get("kind")
    if kind != "lstm" or prep.get("kind") != "text":
        raise UserError(f"{ckpt_path} holds the {kind} model of a run on "
                        f"{describe(config['data'])}; 'chainrule sample' needs a character-level "
                        f"lstm model (train one with: chainrule train --data shakespeare "
                        f"--model lstm)")
    vocab = prep["vocab"]
    unknown = sorted(set(args.prompt) - set(vocab))
    if unknown:
        raise UserError(f"--prompt has characters the model never saw: "
                        f"{', '.join(repr(c) for c in unknown)}; its vocabulary is "
                        f"{''.join(vocab)!r}")
    index = {c: i for i, c in enumerate(vocab)}
    cr.manual_seed(args.seed)
    ids = models.generate(model, [index[c] for c in args.prompt], args.length, args.temperature)
    print(args.prompt + "".join(vocab[i] for i in ids))
    return 0


# ============================================================================= main
def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.strerror}: {e.filename}"
    text = str(e).strip() or type(e).__name__
    if isinstance(e, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        print("chainrule: error: choose a command: train, evaluate, predict, sample, explain "
              "or summary", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\nchainrule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UserError, ValueError, OSError, KeyError) as e:
        # The library's own errors name the argument, the file and the problem: show that
        # one line instead of a traceback.
        print(f"chainrule: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except Exception:
        import traceback
        traceback.print_exc()
        print("chainrule: internal error (a bug in chainrule, not in your input, is likely); "
              "please report the command and the traceback above", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
