"""``chainrule train``: train a classifier or a regression and write a run folder
(checkpoints, history, config.json, curves.png, test_metrics.json; for regression also
parity.png and residuals.png); ``--resume`` continues a run exactly.

    chainrule train                      # MLP on the shipped MNIST -> runs/mnist-mlp-<time>/
    chainrule train --data sonar --hidden 64,32 --dropout 0.2 --epochs 100
    chainrule train --data diabetes      # regression: disease progression from 10 measurements
    chainrule train --data houses.csv --target price --loss huber
    chainrule train --data shakespeare --model lstm --out runs/shakespeare
    chainrule train --data shakespeare --model transformer --out runs/shakespeare-gpt
    chainrule train --resume runs/mnist-mlp-20240101-120000
    mpiexec -n 2 chainrule train         # data parallel: see chainrule/cli/distributed.py

A CSV's last column (or ``--target``) is the label: text or a few whole numbers make a
classification, fractional numbers, several columns or more than 20 distinct whole numbers
a regression (the header says which and why; ``--task`` decides instead).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import metrics
from chainrule.cli import distributed, models, transfer
from chainrule.cli.data import (
    NAMES, Prepared, apply_preprocessing, describe, make_spec, prepare)
from chainrule.cli.errors import UserError, check_number
from chainrule.cli.optimizers import LR_SCHEDULES, OPTIMIZERS, make_optimizer, make_scheduler
from chainrule.cli.limits import check_fits
from chainrule.cli.output import regression_report, report, say
from chainrule.cli.plots import save_fit_plot, save_regression_plots
from chainrule.cli.run_config import check_run_config
from chainrule.cli.run_folder import (
    check_out_folder, claim_new_run_folder, claim_run_folder, describe_removed)
from chainrule.cli.runs import save_history, stored_model_matches, write_json
from chainrule.cli.tables import MISSING, parse_target
from chainrule.cli.targets import LOSS_ALIASES, LOSSES, TASKS, InTargetUnits, to_target_units
from chainrule.io.schema import Like, SchemaError, check
from chainrule.train import (
    EarlyStopping, LambdaCallback, ModelCheckpoint, fit, load_checkpoint, predict,
    read_checkpoint, save_checkpoint)

NAME = "train"
HELP = "train a model (default: an MLP on MNIST)"

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
    # Diabetes is nearly linear: a small tanh layer with dropout matches the least-squares
    # line on the test split (measured in docs/regression.md); bigger nets only overfit.
    "diabetes": dict(epochs=200, batch_size=32, lr=1e-3, hidden="16", val_split=0.2, patience=20,
                     activation="tanh", dropout=0.2),
    "sine": dict(epochs=200, batch_size=32, lr=1e-2, hidden="16", val_split=0.2, patience=30,
                 activation="tanh"),
}
EMBEDDING_DIM = 32  # character embedding size of the lstm model
# Options a resumed run takes from its checkpoint (only --epochs and --quiet may be given).
_FIXED_ON_RESUME = ("data", "idx_images", "idx_labels", "idx_test_images", "idx_test_labels",
                    "task", "target", "missing", "loss", "model", "hidden", "activation", "dropout", "batch_norm", "optimizer", "lr",
                    "weight_decay", "momentum", "lr_schedule", "batch_size", "seed", "val_split",
                    "patience", "out", "init_from", "freeze", "backbone_lr")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Train a classifier or a regression and write a run folder with "
                     "checkpoints, history (CSV/JSON), config.json and curves.png (and for "
                     "regression parity.png and residuals.png).")
    d = p.add_argument_group("data")
    d.add_argument("--data", default=None, metavar="NAME_OR_CSV",
                   help=f"{', '.join(NAMES)}, or a CSV file (label in the last column); "
                        f"default mnist")
    d.add_argument("--task", choices=TASKS, default=None,
                   help="what to predict; default: found from the labels (text or up to 20 "
                        "whole numbers: classes; fractions or more values: regression)")
    d.add_argument("--target", metavar="NAME[,NAME]",
                   help="the CSV's label column(s) by header name or number from 1 "
                        "(default: the last column); several make a regression")
    d.add_argument("--missing", choices=MISSING, default=None,
                   help="empty, NA, NaN or Inf cells: error (default; names the line and "
                        "column), drop the rows, or fill with the training rows' column mean "
                        "or with zero")
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
                   help="hidden layer sizes, e.g. 256,128 (mlp) or 128 (lstm); transformer: "
                        "one width per layer (default 64,64)")
    m.add_argument("--activation", choices=tuple(models.ACTIVATIONS), default=None,
                   help="default relu")
    m.add_argument("--dropout", type=float, default=None, metavar="P", help="default 0")
    m.add_argument("--batch-norm", action="store_true", default=None,
                   help="BatchNorm after each hidden layer")
    o = p.add_argument_group("optimisation")
    o.add_argument("--loss", choices=(*[k for k in LOSSES if k != "cross_entropy"],
                                      *LOSS_ALIASES), default=None,
                   help="regression loss on standardised targets: mse (default), mae (= l1), "
                        "huber or smooth_l1 (threshold 1 standard deviation); classification "
                        "uses cross-entropy")
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
    r.add_argument("--out", metavar="DIR", help="run folder (default runs/<data>-<model>-<time>); "
                   "a new or empty folder, or a chainrule run with --overwrite")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the chainrule run in --out (its files only) with a new one")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    transfer.add_arguments(p)


def _model_config(args, spec_name: str, data: Prepared) -> dict[str, Any]:
    """The model section of the config: what ``models.build_model`` needs, checked."""
    prep = data.preprocessing
    regression = data.task == "regression"
    outputs = len(data.target_names) if regression else len(data.class_names)
    kind = args.model or ("lstm" if prep["kind"] == "text" else "mlp")
    if regression and kind != "mlp":
        raise UserError(f"regression uses the mlp model; the {kind} model predicts classes")
    defaults = DEFAULTS[spec_name]
    activation = args.activation or defaults.get("activation", "relu")
    dropout = defaults.get("dropout", 0.0) if args.dropout is None else args.dropout
    check_number("--dropout", dropout, 0.0, 1.0)
    if prep["kind"] == "text" and kind not in models.TEXT_MODELS:
        raise UserError(f"{spec_name} is character text: use --model lstm or transformer")
    if kind in models.TEXT_MODELS and prep["kind"] != "text":
        raise UserError(f"the {kind} model reads character text: use --data shakespeare")
    if kind == "transformer":
        for flag, value in (("--activation", args.activation), ("--batch-norm", args.batch_norm)):
            if value is not None:
                raise UserError(f"{flag} applies to the mlp and cnn models, not transformer")
        try:
            return models.transformer_config(outputs, prep["input_shape"][0], args.hidden,
                                             dropout)
        except ValueError as e:
            raise UserError(str(e)) from None
    if kind == "cnn" and args.hidden is not None:
        raise UserError("--hidden applies to the mlp and lstm models, not cnn")
    hidden = models.parse_hidden(args.hidden if args.hidden is not None
                                 else DEFAULTS[spec_name]["hidden"])
    if kind == "mlp":
        return {"kind": "mlp", "in_features": int(np.prod(prep["input_shape"])),
                "out_features": outputs, "hidden": list(hidden), "activation": activation,
                "dropout": dropout, "batch_norm": bool(args.batch_norm)}
    if kind == "lstm":
        for flag, value in (("--activation", args.activation), ("--batch-norm", args.batch_norm)):
            if value is not None:
                raise UserError(f"{flag} applies to the mlp and cnn models, not lstm")
        if len(set(hidden)) != 1:
            raise UserError(f"--hidden for lstm gives one size per stacked layer, all equal "
                            f"(as nn.LSTM has), got {args.hidden}")
        return {"kind": "lstm", "vocab_size": outputs, "embedding_dim": EMBEDDING_DIM,
                "hidden_size": hidden[0], "num_layers": len(hidden), "dropout": dropout}
    shape = prep["input_shape"]  # cnn
    if prep["kind"] != "image" or shape[1] != shape[2]:
        raise UserError("the cnn model needs square images (mnist or IDX images); "
                        f"this data is {prep['kind']} with input shape {shape}")
    return {"kind": "cnn", "in_channels": shape[0], "num_classes": outputs,
            "image_size": shape[1], "activation": activation, "dropout": dropout,
            "batch_norm": bool(args.batch_norm)}


def _loss_name(args, task: str) -> str:
    if task != "regression":
        if args.loss is not None:
            raise UserError("--loss chooses a regression loss; this data is a classification "
                            "(trained with cross-entropy); --task regression to predict "
                            "numbers")
        return "cross_entropy"
    return LOSS_ALIASES.get(args.loss, args.loss or "mse")


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
    }
    check_number("--lr", cfg["lr"], 0.0, low_open=True)
    check_number("--weight-decay", cfg["weight_decay"], 0.0)
    check_number("--momentum", cfg["momentum"], 0.0, 1.0)
    for name in ("epochs", "batch_size"):
        if cfg[name] < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {cfg[name]}")
    if cfg["patience"] < 0:
        raise UserError(f"--patience must be >= 0, got {cfg['patience']}")
    if cfg["seed"] < 0:
        raise UserError(f"--seed must be >= 0, got {cfg['seed']}")
    return cfg


def _check_model_fits(args, model_cfg: dict[str, Any]) -> None:
    """Refuse a model whose training state (weights, gradients and up to two optimiser
    moments: 4 values per parameter) cannot fit in memory, before building it."""
    values = models.state_size(model_cfg)
    nbytes = 4 * values * np.dtype(cr.get_default_dtype()).itemsize
    given = f"--hidden {args.hidden}: " if args.hidden is not None else ""
    check_fits(f"{given}the {model_cfg['kind']} model ({values:,} parameters) with its gradients "
               f"and optimiser state", nbytes)


def run(args: argparse.Namespace) -> int:
    distributed.start()             # under mpiexec: join the other ranks
    if distributed.rank() != 0:
        args.quiet = True           # rank 0 alone prints
    if args.resume is not None:
        return _resume(args)
    idx = {"images": args.idx_images, "labels": args.idx_labels,
           "test_images": args.idx_test_images, "test_labels": args.idx_test_labels}
    if any(idx.values()) and args.data is not None:
        raise UserError("give either --data or --idx-images/--idx-labels, not both")
    if args.hidden is not None:  # check cheap options before loading any data
        models.parse_hidden(args.hidden)
    if args.dropout is not None:
        check_number("--dropout", args.dropout, 0.0, 1.0)
    if args.out is not None and distributed.rank() == 0:  # refuse someone else's folder
        # before any work; rank 0 alone, since rank 0 may already have claimed it and
        # started writing by the time another rank would look (seen under load)
        check_out_folder(args.out, args.overwrite)
    transfer.check(args)
    seed = 0 if args.seed is None else args.seed
    spec = make_spec(args.data or "mnist", seed, args.val_split or 0.0, idx=idx, task=args.task,
                     target=parse_target(args.target), missing=args.missing or "error")
    if args.val_split is None:  # each data set has its own default
        spec["val_split"] = DEFAULTS[spec["name"]]["val_split"]
    train_cfg = _train_config(args, spec["name"])
    distributed.per_rank_batch(train_cfg["batch_size"])    # divides evenly, or a clear error
    if args.loss is not None and spec["task"] == "classification":
        _loss_name(args, "classification")  # refuse before loading the data
    say(args, f"loading {describe(spec)} ...")
    data = prepare(spec)
    spec["task"] = data.task  # found in the data when --task was not given
    train_cfg["loss"] = _loss_name(args, data.task)
    model_cfg = _model_config(args, spec["name"], data)
    _check_model_fits(args, model_cfg)
    cr.manual_seed(train_cfg["seed"])
    model = models.build_model(model_cfg)
    params, transfer_cfg = transfer.apply(args, model)
    optimizer = make_optimizer(train_cfg, params)
    if distributed.rank() != 0:  # rank 0 claims (and locks) the folder the ranks share
        run_dir = distributed.share_run_dir(None)
        config = _new_config(spec, data, model_cfg, train_cfg, transfer_cfg)
        return _run(args, model, optimizer, data, config, run_dir, resume=None)
    with claim_new_run_folder(args.out, describe(spec), model_cfg["kind"],
                              args.overwrite) as folder:
        run_dir = distributed.share_run_dir(folder.path)
        note = describe_removed(folder)
        if note:
            say(args, f"note: {note}")
        config = _new_config(spec, data, model_cfg, train_cfg, transfer_cfg)
        write_json(os.path.join(run_dir, "config.json"), config)
        n_params = sum(p.numel() for p in model.parameters())
        if data.reason:
            other = "classification" if data.task == "regression" else "regression"
            say(args, f"task: {data.task} ({data.reason}; --task {other} to override)")
        for note in data.notes:
            say(args, f"note: {note}")
        predicts = (f"{len(data.class_names)} classes" if data.task == "classification" else
                    f"regression of {', '.join(data.target_names)} ({train_cfg['loss']} loss "
                    f"on standardised targets)")
        say(args, f"{describe(spec)}: {len(data.y_train)} train / "
                  f"{0 if data.y_val is None else len(data.y_val)} validation / "
                  f"{len(data.y_test)} test samples, {predicts}; {model_cfg['kind']} with "
                  f"{n_params:,} parameters; run folder {run_dir}")
        return _run(args, model, optimizer, data, config, run_dir, resume=None)


def _new_config(spec: dict, data: Prepared, model_cfg: dict, train_cfg: dict,
                transfer_cfg: dict | None = None) -> dict:
    config = {"chainrule_version": cr.__version__,
              "created": datetime.datetime.now().isoformat(timespec="seconds"),
              "data": {**spec, "class_names": data.class_names,
                       "preprocessing": data.preprocessing},
              "model": model_cfg, "train": {**train_cfg, "world_size": distributed.world_size()}}
    if data.target_columns is not None:
        config["data"]["target_columns"] = data.target_columns
    if transfer_cfg is not None:
        config["transfer"] = transfer_cfg
    return config


def _resume(args) -> int:
    given = [f"--{k.replace('_', '-')}" for k in _FIXED_ON_RESUME
             if getattr(args, k, None) not in (None, False)]
    if given:
        raise UserError(f"{', '.join(given)} cannot be changed when resuming: a resumed run "
                        f"keeps its data, model and optimiser (only --epochs and --quiet apply)")
    if args.overwrite:
        raise UserError("--overwrite starts a new run in --out; it cannot be combined with "
                        "--resume")
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs must be >= 1, got {args.epochs}")
    run_dir = args.resume
    if os.path.isfile(run_dir):
        ckpt_path, run_dir = run_dir, os.path.dirname(run_dir) or "."
    else:
        ckpt_path = os.path.join(run_dir, "last.ckpt")
        if os.path.exists(run_dir) and not os.path.isdir(run_dir):
            raise UserError(f"--resume {run_dir!r} is neither a run folder nor a checkpoint file")
        if not os.path.isdir(run_dir):
            raise UserError(f"run folder {run_dir!r} does not exist")
    if distributed.rank() != 0:  # rank 0 holds the folder's lock for all the ranks
        return _resume_locked(args, run_dir, ckpt_path)
    with claim_run_folder(run_dir, "--resume") as folder:
        note = describe_removed(folder)
        if note:
            say(args, f"note: {note}")
        if not os.path.isfile(ckpt_path):
            raise UserError(f"{run_dir!r} holds no last.ckpt to resume from")
        return _resume_locked(args, run_dir, ckpt_path)


def _resume_locked(args, run_dir: str, ckpt_path: str) -> int:
    ckpt = read_checkpoint(ckpt_path)
    made_by = {"distillation": "was distilled from a teacher ('chainrule distill'), which "
                               "cannot be resumed; start the distillation again",
               "pruning": "was pruned ('chainrule prune') and keeps no training state; start "
                          "a new run from it with 'chainrule train --init-from'",
               "quantization": "holds an int8 model ('chainrule quantize'), which cannot be "
                               "trained; resume the float run it was made from"}
    for section, why in made_by.items():
        if isinstance(ckpt["config"], dict) and section in ckpt["config"]:
            raise UserError(f"{ckpt_path!r} {why}")
    config = check_run_config(ckpt["config"], ckpt_path, complete=True)
    stored_model_matches(ckpt, config, ckpt_path)
    train_cfg = config["train"]
    spec = {k: v for k, v in config["data"].items() if k not in ("class_names", "preprocessing")}
    prep, model_cfg = config["data"]["preprocessing"], config["model"]
    if args.epochs is not None:
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
    say(args, f"resuming {run_dir} after epoch {ckpt['epoch']} (of {train_cfg['epochs']})")
    trained_on, world = train_cfg.get("world_size", 1), distributed.world_size()
    if trained_on != world:
        say(args, f"note: the run trained on {trained_on} process(es) and goes on on {world}: "
                  f"from the same weights and optimiser state with the same global batch, but "
                  f"each process's share of the data differs, so the result will not equal an "
                  f"uninterrupted run's bit for bit")
        train_cfg["world_size"] = world
    data = prepare(spec, preprocessing=prep)
    cr.manual_seed(train_cfg["seed"])
    model = models.build_model(model_cfg)
    optimizer = make_optimizer(train_cfg, transfer.resume_parameters(model, config))
    if distributed.rank() == 0:
        write_json(os.path.join(run_dir, "config.json"), config)
    return _run(args, model, optimizer, data, config, run_dir, resume=ckpt, ckpt_path=ckpt_path)


def _check_restorable(ckpt: dict, optimizer, scheduler, ckpt_path: str) -> None:
    """The saved optimiser and schedule state has the layout of the state this run's own
    optimiser and schedule produce (same keys, lengths and kinds of values), so restoring
    it cannot plant a string where a number belongs."""
    try:
        if ckpt.get("optimizer") is not None:
            check(Like(optimizer.state_dict()["param_groups"]),
                  ckpt["optimizer"]["param_groups"], "checkpoint.optimizer.param_groups")
        if scheduler is not None and ckpt.get("scheduler") is not None:
            check(Like(scheduler.state_dict()), ckpt["scheduler"], "checkpoint.scheduler")
    except SchemaError as e:
        raise UserError(f"{ckpt_path!r} cannot be resumed: {e}") from None

def _metrics(data: Prepared) -> list:
    """What the progress line and the history show besides the loss: accuracy, or for
    regression the MAE and RMSE in the targets' own units."""
    if data.task != "regression":
        return ["accuracy"]
    scaling = data.preprocessing["targets"]
    return [("mae", InTargetUnits(metrics.MeanAbsoluteError(), scaling)),
            ("rmse", InTargetUnits(metrics.RootMeanSquaredError(), scaling))]


def _divergence_message(run_dir: str) -> str:
    """Where training can go on from after the loss became NaN/Inf: say only what is true."""
    last = os.path.join(run_dir, "last.ckpt")
    epoch = read_checkpoint(last)["epoch"] if os.path.isfile(last) else 0
    if epoch == 0:
        return (f"training diverged before the first epoch finished, so {run_dir} holds no "
                f"trained checkpoint; start again with a lower --lr")
    return (f"training diverged; {last} holds the last good weights (epoch {epoch}); start a "
            f"new run with a lower --lr rather than resuming at this one")


def _run(args, model, optimizer, data, config, run_dir: str, resume,
         ckpt_path: str | None = None, loss_fn=None) -> int:
    cfg = config["train"]
    regression = data.task == "regression"
    # A transformer trained on every position learns from the windows shifted by one.
    y_train = models.training_targets(config["model"], data.X_train, data.y_train)
    train_data = dataclasses.replace(data, y_train=y_train)
    train_loader, val_loader = distributed.loaders(train_data, cfg["batch_size"], cfg["seed"])
    if distributed.header(cfg["batch_size"]):
        say(args, distributed.header(cfg["batch_size"]))
    model = distributed.wrap(model, cfg["seed"])
    monitor = "val_loss" if val_loader is not None else "loss"
    checkpoint = ModelCheckpoint(run_dir, monitor=monitor)
    callbacks = [checkpoint,
                 LambdaCallback(on_epoch_end=lambda s: s.rank == 0 and save_history(
                     s.history, run_dir, plot=False))]
    if resume is None:
        # The state before the first step, so a run stopped in its first epoch can resume
        # (bit for bit: the RNG and loader states are those the first epoch starts from).
        initial = os.path.join(run_dir, "last.ckpt")
        # Every rank calls it (the ranks' generator states are gathered); rank 0 writes.
        callbacks.append(LambdaCallback(on_train_begin=lambda s: save_checkpoint(initial, s)))
    if cfg["patience"] > 0:
        callbacks.append(EarlyStopping(monitor=monitor, patience=cfg["patience"]))
    # Accuracy counts one label per sample: not for a model trained on every position.
    every_position = bool(config["model"].get("train_every_position"))
    scheduler = make_scheduler(cfg, optimizer, len(train_loader))
    if resume is not None:
        _check_restorable(resume, optimizer, scheduler, ckpt_path)
    history = fit(model, loss_fn or LOSSES[cfg.get("loss", "cross_entropy")](), optimizer,
                  train_loader, cfg["epochs"], val_loader=val_loader,
                  metrics=[] if every_position else _metrics(data),
                  callbacks=callbacks, verbose=0 if args.quiet else 1,
                  scheduler=scheduler, scheduler_interval="batch", resume=resume, config=config)
    if distributed.rank() != 0:
        distributed.finish()        # rank 0 tests the model and writes the rest
        return 0
    model = distributed.unwrap(model)
    save_history(history, run_dir, plot=True)
    if history.interrupted:
        return 130
    if history.diverged:
        raise UserError(_divergence_message(run_dir))
    best = os.path.join(run_dir, "best.ckpt")
    if os.path.isfile(best):
        ckpt = load_checkpoint(best, model, restore_rng=False)
        which = f"best epoch {ckpt['epoch']} by {monitor}"
    else:
        which = "final weights"
    print(f"\ntest set ({which}): ", end="")
    plots: list[str] = []
    if regression:
        result, truth, pred = regression_report(
            model, data.X_test, data.y_test, data.preprocessing["targets"],
            baseline_rows=_baseline_rows(data))
        plots = _plots(run_dir, model, data, truth, pred)
    else:
        result = report(model, data.X_test, data.y_test, data.class_names)
    write_json(os.path.join(run_dir, "test_metrics.json"), result)
    files = [f for f in ("best.ckpt", "last.ckpt", "history.csv", "history.json", "config.json",
                         "curves.png", *plots, "test_metrics.json")
             if os.path.exists(os.path.join(run_dir, f))]
    print(f"\nrun saved in {run_dir}: {', '.join(files)}")
    distributed.finish()
    return 0


def _baseline_rows(data: Prepared):
    """The rows a least-squares baseline is fitted on (training and validation: the model
    saw both), for tables only (a straight line through image pixels says little)."""
    if data.preprocessing["kind"] != "tabular":
        return None
    if data.X_val is None:
        return data.X_train, data.y_train
    return np.concatenate([data.X_train, data.X_val]), np.concatenate([data.y_train, data.y_val])


def _plots(run_dir: str, model, data: Prepared, truth: np.ndarray, pred: np.ndarray
           ) -> list[str]:
    """parity.png and residuals.png; for one input and one target also fit.png, the curve."""
    names = data.target_names
    try:
        files = save_regression_plots(run_dir, truth, pred, names)
        prep = data.preprocessing
        if prep["input_shape"] == [1] and len(names) == 1:
            # Back to the input's own units: x = (z * std + mean) / scale, the inverse of
            # the preprocessing.
            x = (data.X_test[:, 0].astype(np.float64) * prep["std"][0] + prep["mean"][0]) \
                / prep["scale"]
            grid = np.linspace(x.min(), x.max(), 200)[:, None]
            curve = to_target_units(predict(model, apply_preprocessing(grid, prep)),
                                    prep["targets"])
            files.append(save_fit_plot(run_dir, x, truth[:, 0], grid[:, 0], curve[:, 0], "x",
                                       names[0]))
        return files
    except ImportError:
        print("chainrule: note: matplotlib is not installed; no parity.png, residuals.png or "
              "fit.png (pip install 'chainrule[plot]')", file=sys.stderr)
        return []
