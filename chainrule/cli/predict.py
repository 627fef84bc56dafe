"""``chainrule predict RUN INPUT``: classify (or, for a regression run, predict the values
of) the rows of a CSV file, an image (image models) or the end of a text file (character
models).

    chainrule predict runs/mnist-mlp-20240101-120000 digit.png
    chainrule predict runs/sonar-mlp-20240101-120000 rows.csv
    chainrule predict runs/diabetes-mlp-20240101-120000 patients.csv

A CSV holds the model's features, one row per sample, or every column of the training file
(the label or target columns included): then the predictions are also scored against them.
A row with a missing or non-finite value is refused (naming its line and column) unless the
run was trained with ``--missing mean|zero``, whose fill values it then uses.
"""
from __future__ import annotations

import argparse

import numpy as np

from chainrule import metrics
from chainrule.cli.data import apply_preprocessing, read_text_window
from chainrule.cli.errors import UserError
from chainrule.cli.inputs import input_file, reading
from chainrule.cli.images import IMAGE_SUFFIXES, image_to_mnist
from chainrule.cli.output import averaged, probabilities, summary_line
from chainrule.cli.runs import load_run
from chainrule.cli.tables import read_prediction_rows
from chainrule.cli.targets import run_scaling, to_target_units
from chainrule.train import predict

NAME = "predict"
HELP = "predict classes or values for CSV rows or images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    parser.add_argument("input", metavar="INPUT", help="CSV of feature rows (optionally with "
                        "the training file's label columns, to score), or an image "
                        f"({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) for image models")


def _finite_outputs(outputs: np.ndarray, path: str) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(outputs.reshape(len(outputs), -1)).all(axis=1))
    if len(bad):
        rows = ", ".join(str(i + 1) for i in bad[:5])
        raise UserError(f"{path}: the model's output for row{'s' if len(bad) > 1 else ''} "
                        f"{rows} is not finite (inputs far outside the training data?)")
    return outputs


def run(args: argparse.Namespace) -> int:
    ckpt_path, ckpt, config, model, prep, names = load_run(args.checkpoint)
    path = input_file(args.input, "input file")
    if prep["kind"] == "text":
        with reading(path, "input file"):
            ids, window = read_text_window(path, prep)
        probs = probabilities(predict(model, ids))[0]
        order = np.argsort(-probs)[:5]
        print(f"after {window[-20:]!r} the next character is {names[order[0]]!r} "
              f"(probability {probs[order[0]]:.4f})")
        print("top 5: " + "  ".join(f"{names[i]!r}: {probs[i]:.4f}" for i in order))
        return 0
    is_image = path.lower().endswith(IMAGE_SUFFIXES)
    truth = None
    if is_image:
        if prep["kind"] != "image":
            raise UserError(f"{path} is an image, but this model was trained on rows of "
                            f"{prep['input_shape'][0]} features; give a CSV of feature rows")
        X = image_to_mnist(path, side=prep["input_shape"][-1])[None]
    else:
        with reading(path, "input file"):
            X, truth = read_prediction_rows(path, config["data"], prep, names)
    outputs = _finite_outputs(predict(model, apply_preprocessing(X, prep, path)), path)
    scaling = run_scaling(config["data"], prep)
    if scaling is not None:
        _print_values(path, to_target_units(outputs, scaling), scaling["names"], truth, is_image)
        return 0
    probs = probabilities(outputs)
    pred = probs.argmax(axis=1)
    if is_image:
        print(f"{path}: predicted {names[pred[0]]} (probability {probs[0, pred[0]]:.4f})")
        order = np.argsort(-probs[0])
        print("probabilities: " + "  ".join(f"{names[i]}: {probs[0, i]:.4f}" for i in order))
        return 0
    width = max(len("class"), max(len(n) for n in names))
    print(f"{'row':>5}  {'class':<{width}}  probability" + ("  true" if truth is not None else ""))
    for i, (k, p) in enumerate(zip(pred, probs)):
        true = f"  {names[truth[i]]}" if truth is not None else ""
        print(f"{i + 1:>5}  {names[k]:<{width}}  {p[k]:11.4f}{true}")
    if truth is not None:
        print(f"\naccuracy {metrics.accuracy(truth, pred):.4f} "
              f"({int((pred == truth).sum())}/{len(truth)}) against the file's labels")
    return 0


def _print_values(path: str, values: np.ndarray, names: list[str], truth: np.ndarray | None,
                  is_image: bool) -> None:
    """Predicted values in the targets' units, one column per target; scored against the
    file's own target columns when it has them."""
    if is_image:
        print(f"{path}: predicted " + ", ".join(f"{n} = {v:.6g}" for n, v in zip(names, values[0])))
        return
    widths = [max(12, len(n)) for n in names]
    print(f"{'row':>5}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, widths)))
    for i, row in enumerate(values):
        print(f"{i + 1:>5}  " + "  ".join(f"{v:>{w}.6g}" for v, w in zip(row, widths)))
    if truth is not None:
        print(f"\nagainst the file's {', '.join(names)}: {summary_line(averaged(truth, values))} "
              f"({len(truth)} rows)")
