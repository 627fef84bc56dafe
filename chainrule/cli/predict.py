"""``chainrule predict RUN INPUT``: classify the rows of a CSV file, an image (image models)
or the end of a text file (character models).

    chainrule predict runs/mnist-mlp-20240101-120000 digit.png
    chainrule predict runs/sonar-mlp-20240101-120000 rows.csv
"""
from __future__ import annotations

import argparse

import numpy as np

from chainrule.cli.data import apply_preprocessing, read_feature_rows, read_text_window
from chainrule.cli.errors import UserError
from chainrule.cli.inputs import input_file, reading
from chainrule.cli.images import IMAGE_SUFFIXES, image_to_mnist
from chainrule.cli.output import probabilities
from chainrule.cli.runs import load_run
from chainrule.train import predict

NAME = "predict"
HELP = "classify rows of a CSV file or an image"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    parser.add_argument("input", metavar="INPUT", help="CSV of feature rows, or an image "
                        f"({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) for image models")


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
    if is_image:
        if prep["kind"] != "image":
            raise UserError(f"{path} is an image, but this model was trained on rows of "
                            f"{prep['input_shape'][0]} features; give a CSV of feature rows")
        X = image_to_mnist(path, side=prep["input_shape"][-1])[None]
    else:
        with reading(path, "input file"):
            X = read_feature_rows(path, prep)
    probs = probabilities(predict(model, apply_preprocessing(X, prep, path)))
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
