"""``chainrule prune RUN``: prune a trained model's weights, fine-tune it with the masks in
place, and save it as a sparse checkpoint.

    chainrule prune runs/mnist-mlp-20240101-120000 --amount 0.9 --finetune-epochs 2
    chainrule prune runs/mnist-cnn-20240101-120000 --amount 0.5 --structured

Unstructured pruning (default) zeroes the weights smallest in magnitude, ranked across all
Linear and Conv2d layers together (``--scope global``) or within each (``--scope layer``).
``--structured`` removes whole neurons and filters instead (the rows with the smallest L2
norm, with their biases) from every layer but the output layer. The result is a run folder
(default ``RUN/pruned-<amount>``) whose ``best.ckpt`` stores the zeros as a bitmask; the
other commands read it as any run.
"""
from __future__ import annotations

import argparse
import datetime
import os

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.cli.after_training import (
    accuracy, kib, output_folder, refuse_quantized, refuse_regression, run_data, saved_size)
from chainrule.cli.errors import UserError, check_number
from chainrule.cli.optimizers import make_optimizer
from chainrule.cli.output import say
from chainrule.cli.run_folder import check_out_folder, claim_new_run_folder, describe_removed
from chainrule.cli.runs import load_run, save_history, write_json
from chainrule.data import DataLoader, TensorDataset
from chainrule.nn.utils import prune
from chainrule.train import fit
from chainrule.train.checkpoint import make_checkpoint

NAME = "prune"
HELP = "prune a trained model, fine-tune it and save it sparse"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Prune the Linear and Conv2d weights of a trained run, fine-tune with the "
                     "masks in place, and save a sparse checkpoint in a new run folder.")
    p.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    p.add_argument("--amount", type=float, required=True, metavar="F",
                   help="fraction of the weights (or, with --structured, of each layer's "
                        "neurons/filters) to remove, in [0, 1)")
    p.add_argument("--structured", action="store_true",
                   help="remove whole neurons/filters (smallest L2 norm) instead of single weights")
    p.add_argument("--scope", choices=("global", "layer"), default="global",
                   help="unstructured: rank weights across all layers (default) or per layer")
    p.add_argument("--finetune-epochs", type=int, default=2, metavar="N",
                   help="epochs of training with the masks in place (default 2; 0: none)")
    p.add_argument("--lr", type=float, metavar="LR",
                   help="fine-tuning learning rate (default: the run's, constant)")
    p.add_argument("--batch-size", type=int, metavar="N", help="default: the run's")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="default 0")
    p.add_argument("--out", metavar="DIR", help="run folder (default RUN/pruned-<amount>)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    layers = [(name, m) for name, m in model.named_modules()
              if type(m) in (nn.Linear, nn.Conv2d)]
    if not layers:
        raise UserError("the model has no Linear or Conv2d layer to prune")
    return layers


def apply_pruning(model: nn.Module, amount: float, structured: bool, scope: str) -> list[str]:
    """Prune ``model`` in place (masks as forward pre-hooks); returns the pruned layers."""
    layers = _layers(model)
    if structured:
        layers = layers[:-1]          # the output layer's rows are the classes: keep them all
        if not layers:
            raise UserError("--structured removes hidden neurons/filters, and this model has "
                            "no layer before its output layer")
        for _, layer in layers:
            prune.ln_structured(layer, "weight", amount, n=2, dim=0)
            if layer.bias is not None:   # a removed neuron loses its bias too: it outputs 0
                rows = layer.weight_mask._array.reshape(layer.weight_mask.shape[0], -1)
                prune.custom_from_mask(layer, "bias", (rows.sum(axis=1) > 0).astype(np.float32))
    elif scope == "global":
        prune.global_unstructured([(m, "weight") for _, m in layers], prune.L1Unstructured,
                                  amount=amount)
    else:
        for _, layer in layers:
            prune.l1_unstructured(layer, "weight", amount)
    return [name for name, _ in layers]


def make_permanent(model: nn.Module) -> None:
    """Fold every mask into its parameter (``prune.remove``)."""
    for _, m in model.named_modules():
        for hook in list(m._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod):
                prune.remove(m, hook._tensor_name)


def weight_sparsity(model: nn.Module) -> tuple[int, int]:
    """(zero weights, all weights) over the Linear and Conv2d weights."""
    weights = [m.weight._array for _, m in _layers(model)]
    return sum(int((w == 0).sum()) for w in weights), sum(w.size for w in weights)


def run(args: argparse.Namespace) -> int:
    check_number("--amount", args.amount, 0.0, 1.0)
    if args.finetune_epochs < 0:
        raise UserError(f"--finetune-epochs must be >= 0, got {args.finetune_epochs}")
    if args.lr is not None:
        check_number("--lr", args.lr, 0.0, low_open=True)
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    loaded = load_run(args.checkpoint)
    refuse_quantized(loaded, "pruned")
    refuse_regression(loaded, "prune")
    kind = "structured" if args.structured else f"{args.scope} unstructured"
    tag = f"pruned-{args.amount * 100:g}" + ("-structured" if args.structured else "")
    out = args.out or output_folder(args.checkpoint, tag)
    if os.path.exists(os.path.join(out, "best.ckpt")):
        raise UserError(f"{out!r} already holds a pruned model; choose another --out")
    check_out_folder(out)  # a new or empty folder: never the user's files, nor another run
    with claim_new_run_folder(out, data_name="", model_kind="") as folder:  # names: out is set
        note = describe_removed(folder)
        if note:
            say(args, f"note: {note}")
        return _prune(args, loaded, kind, out)


def _prune(args, loaded, kind: str, out: str) -> int:
    """Prune, fine-tune and save into ``out`` (held by this process)."""
    model, config = loaded.model, loaded.config
    say(args, f"loading the data of {loaded.ckpt_path} ...")
    data = run_data(loaded)
    dense_acc = accuracy(model, data.X_test, data.y_test)
    dense_size = saved_size({"model": model.state_dict()})
    pruned_layers = apply_pruning(model, args.amount, args.structured, args.scope)
    zeros, total = weight_sparsity(model)
    pruned_acc = accuracy(model, data.X_test, data.y_test)

    train_cfg = dict(config["train"])
    if args.lr is not None:
        train_cfg["lr"] = args.lr
    if args.batch_size is not None:
        train_cfg["batch_size"] = args.batch_size
    history = cr.train.History()
    if args.finetune_epochs:
        cr.manual_seed(args.seed)
        loader = DataLoader(TensorDataset(data.X_train, data.y_train),
                            batch_size=train_cfg["batch_size"], shuffle=True)
        val = None if data.X_val is None else DataLoader(
            TensorDataset(data.X_val, data.y_val), batch_size=512)
        history = fit(model, nn.CrossEntropyLoss(), make_optimizer(train_cfg, model.parameters()),
                      loader, args.finetune_epochs, val_loader=val,
                      verbose=0 if args.quiet else 1)
        if history.interrupted:
            return 130
    tuned_acc = accuracy(model, data.X_test, data.y_test)
    make_permanent(model)

    config = dict(config, created=datetime.datetime.now().isoformat(timespec="seconds"),
                  pruning={"source": os.path.abspath(loaded.ckpt_path), "amount": args.amount,
                           "method": kind, "layers": pruned_layers,
                           "finetune_epochs": args.finetune_epochs, "finetune_lr": train_cfg["lr"],
                           "sparsity": zeros / total})
    ckpt = make_checkpoint(model, epoch=args.finetune_epochs, history=history, config=config)
    ckpt["model"] = prune.sparse_state_dict(ckpt["model"])
    ckpt_path = os.path.join(out, "best.ckpt")
    cr.save(ckpt, ckpt_path)
    write_json(os.path.join(out, "config.json"), config)
    save_history(history, out, plot=True)
    result = {"dense_accuracy": dense_acc, "pruned_accuracy": pruned_acc,
              "finetuned_accuracy": tuned_acc, "sparsity": zeros / total,
              "zero_weights": zeros, "weights": total,
              "checkpoint_bytes": os.path.getsize(ckpt_path),
              "dense_weights_bytes": dense_size,
              "sparse_weights_bytes": saved_size({"model": ckpt["model"]})}
    write_json(os.path.join(out, "prune_metrics.json"), result)
    print(f"{loaded.ckpt_path} on its test split ({len(data.y_test)} samples); {kind} "
          f"pruning of layers {', '.join(pruned_layers)}:")
    for label, acc, frac in (("dense", dense_acc, 0.0),
                             (f"pruned {args.amount:.0%}", pruned_acc, zeros / total),
                             (f"fine-tuned {args.finetune_epochs} epochs", tuned_acc, zeros / total)):
        print(f"  {label:<22} accuracy {acc:.4f}   zero weights {frac:6.1%} of {total:,}")
    print(f"weights saved sparse: {kib(result['sparse_weights_bytes'])} "
          f"(dense: {kib(dense_size)}); run folder {out}")
    return 0
