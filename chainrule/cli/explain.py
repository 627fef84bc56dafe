"""``chainrule explain``: one training step (or several) of a small network, number by
number: the forward pass, the loss, every delta and gradient, and the update, each gradient
checked against autograd. Or, given a run and an input, why the trained model predicts what
it does.

    chainrule explain --example 2-3-1
    chainrule explain --example linear          # linear regression, three steps
    chainrule explain --layers 2,2,1 --activations tanh,none --input 1,2 --target 0 --loss bce
    chainrule explain runs/mnist-cnn-20240101-120000 digit.png --method saliency,deeplift

``chainrule explain RUN_DIR INPUT`` loads a run that ``chainrule train`` wrote, reads an
image, a CSV of feature rows or a text file as ``predict`` does, prints the top classes (and
the completeness check of integrated gradients / DeepLift) and writes a figure of the
attributions (:func:`chainrule.explain.attribution.explain_prediction`). There ``--target``
is the class to explain and ``--steps`` integrated gradients' steps.

The network comes from a preset (``--example``), a spec file or options
(:mod:`chainrule.cli.network_spec`). Bad input exits with status 2 (``chainrule explain:
error: ...``); a trace that disagrees with autograd prints why and exits with status 1.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from chainrule.cli.data import apply_preprocessing, read_text_window
from chainrule.cli.errors import UserError, usage_errors
from chainrule.cli.images import IMAGE_SUFFIXES, image_to_mnist
from chainrule.cli.inputs import input_file, reading
from chainrule.cli.limits import check_fits
from chainrule.cli.network_spec import int_list, merged_spec, network_from_spec, numbers
from chainrule.cli.runs import load_run
from chainrule.cli.tables import read_prediction_rows, sniff_delimiter
from chainrule.cli.targets import run_scaling
from chainrule.data import csv_header
from chainrule.explain.attribution import explain_prediction
from chainrule.explain.presets import get_example
from chainrule.explain.trace import LOSSES, TraceMismatchError, trace

NAME = "explain"
HELP = "step-by-step forward and backward pass of a model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Show one training step (or several) of a small network, number by "
                          "number: the forward pass, the loss, every delta and gradient, "
                          "and the update, each gradient checked against autograd. Or, "
                          "given RUN_DIR INPUT, explain a trained model's prediction for "
                          "INPUT: its top classes and a figure of the attributions "
                          "(saliency, integrated gradients, Grad-CAM, ...).")
    run_group = parser.add_argument_group("a trained model's prediction (chainrule explain "
                                          "RUN_DIR INPUT)")
    run_group.add_argument("run_dir", nargs="?", metavar="RUN_DIR",
                           help="a run folder (or checkpoint) written by chainrule train")
    run_group.add_argument("run_input", nargs="?", metavar="INPUT",
                           help="an image (image models), a CSV of feature rows (the first "
                                "row, or --row; a header names the features) or a text file "
                                "(lstm: its last characters)")
    run_group.add_argument("--method", metavar="NAMES",
                           help="comma-separated: saliency, integrated_gradients, "
                                "input_x_gradient, smoothgrad, guided_backprop, deeplift, "
                                "grad_cam, occlusion, feature_ablation (default: saliency, "
                                "integrated_gradients and grad_cam for images; "
                                "integrated_gradients otherwise)")
    run_group.add_argument("--row", type=int, default=1, metavar="N",
                           help="which row of a CSV input to explain (default 1)")
    run_group.add_argument("--out", metavar="PATH",
                           help="the figure (default RUN_DIR/explain-<input name>.png)")
    src = parser.add_argument_group("the network")
    src.add_argument("--example", metavar="NAME",
                     help="a preset: 2-3-1 (the classic worked example), 1-1 (linear "
                          "regression: one weight, one bias; also 'linear') or 1-2-1 (the "
                          "same regression with a hidden layer of two tanh units)")
    src.add_argument("--file", metavar="PATH",
                     help="a JSON or YAML file with layers, activations, weights, biases, "
                          "input, target, loss, lr, steps")
    src.add_argument("--layers", metavar="SIZES", help="layer sizes, e.g. 2,3,1")
    src.add_argument("--activations", metavar="NAMES",
                     help="one per layer: sigmoid, tanh, relu, identity/none "
                          "(default sigmoid everywhere; none after the last layer with "
                          "--loss ce)")
    src.add_argument("--weights", metavar="JSON",
                     help="weights as JSON: [W1, W2, ...] in (out, in) layout, or "
                          "{\"weights\": [...], \"biases\": [...]}; or a JSON file")
    src.add_argument("--seed", type=int, metavar="N",
                     help="seed for random weights when none are given (default 0)")
    data = parser.add_argument_group("data and training")
    data.add_argument("--input", metavar="X", help="one sample (0.1,0.2) or a batch as JSON")
    data.add_argument("--target", metavar="Y",
                      help="target(s): 1 or 0,1 or JSON; class indices for --loss ce. With "
                           "RUN_DIR INPUT: the class to explain, by index or name (default: "
                           "the predicted class)")
    data.add_argument("--loss", choices=LOSSES,
                      help="mse: J=(y-yhat)^2 (default); mse_half: 1/2 of it; ce: softmax + "
                           "cross-entropy; bce: sigmoid + binary cross-entropy")
    data.add_argument("--lr", type=float, help="learning rate (default 0.1)")
    data.add_argument("--steps", type=int, help="training steps to show (default 1). With "
                      "RUN_DIR INPUT: integrated gradients' steps (default 50)")
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                     help="text for a terminal (default), markdown with LaTeX, or json")
    out.add_argument("--precision", type=int, default=6, metavar="DIGITS",
                     help="significant digits shown (default 6)")


# explain prints every weight, activation and gradient of every step: a network and a
# number of steps whose values go past this are refused (summary counts large networks).
MAX_NUMBERS_SHOWN = 10_000_000


def _check_size(sizes: list[int], steps: int) -> None:
    weights = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    if weights * steps > MAX_NUMBERS_SHOWN:
        raise UserError(f"a {'-'.join(map(str, sizes))} network over {steps} step(s) has "
                        f"{weights * steps:,} weights to show, more than the "
                        f"{MAX_NUMBERS_SHOWN:,} explain prints; count a large network with "
                        f"'chainrule summary --layers ...' instead")


def _explain(args) -> str:
    if args.run_dir is not None:
        return _explain_run(args)
    if args.method or args.out:
        raise UserError("--method and --out go with RUN_DIR INPUT (chainrule explain "
                        "RUN_DIR INPUT --method saliency)")
    if args.example:
        if args.file or args.layers:
            raise UserError("--example cannot be combined with --file or --layers")
        try:
            ex = get_example(args.example)
        except ValueError as e:
            raise UserError(f"--example: {e}") from None
        model, x, y = ex.model, ex.x, ex.y
        loss, lr, steps = ex.loss, ex.lr, ex.steps
        if args.input is not None:
            x = numbers(args.input, "--input")
        if args.target is not None:
            y = numbers(args.target, "--target")
        loss = args.loss or loss
        lr = args.lr if args.lr is not None else lr
        steps = args.steps if args.steps is not None else steps
        _check_size([2, 3, 1], steps if isinstance(steps, int) else 1)
    else:
        spec = merged_spec(args)
        if "layers" in spec:
            steps_given = spec.get("steps", 1)
            _check_size(int_list(spec["layers"], "--layers"),
                        steps_given if isinstance(steps_given, int) else 1)
        # the output that goes with the loss when --activations is not given
        model = network_from_spec(spec, default_output="none" if spec.get("loss") == "ce"
                                  else "sigmoid")
        for key, opt in (("input", "--input"), ("target", "--target")):
            if key not in spec:
                raise UserError(f"{opt} is required with --layers/--file (e.g. {opt} "
                                f"{'0.1,0.2' if key == 'input' else '1'})")
        x = numbers(spec["input"], "--input")
        y = numbers(spec["target"], "--target")
        loss = spec.get("loss", "mse")
        lr = float(spec.get("lr", 0.1))
        steps = int(spec.get("steps", 1))
    if isinstance(y, list) and loss != "ce":
        y = np.asarray(y, dtype=np.float64)
    return trace(model, np.asarray(x, dtype=np.float64), np.asarray(y), loss=loss, lr=lr,
                 steps=steps, format=args.format, precision=args.precision)


def _explain_run(args) -> str:
    """``chainrule explain RUN_DIR INPUT``: the prediction, its top classes, the
    attributions' completeness, and the figure."""
    if args.run_input is None:
        raise UserError("give the input to explain after the run folder: chainrule explain "
                        "RUN_DIR INPUT (an image, a CSV of feature rows or a text file)")
    for opt in ("example", "file", "layers", "activations", "weights", "input", "loss", "lr"):
        if getattr(args, opt, None) is not None:
            raise UserError(f"--{opt} belongs to the step-by-step trace; it cannot be used "
                            f"with RUN_DIR INPUT")
    _, _, config, model, prep, names = load_run(args.run_dir)
    if run_scaling(config["data"], prep) is not None:
        raise UserError(f"{args.run_dir} is a regression run; chainrule explain RUN_DIR INPUT "
                        f"explains the predictions of classifiers")
    path = input_file(args.run_input, "input file")
    kind, display, feature_names = prep["kind"], None, None
    if kind == "text":
        with reading(path, "input file"):
            x, display = read_text_window(path, prep)
    elif path.lower().endswith(IMAGE_SUFFIXES):
        if kind != "image":
            raise UserError(f"{path} is an image, but this model was trained on rows of "
                            f"{prep['input_shape'][0]} features; give a CSV of feature rows")
        raw = image_to_mnist(path, side=prep["input_shape"][-1])
        x, display = apply_preprocessing(raw[None], prep, path), raw
    else:
        with reading(path, "input file"):
            rows, _ = read_prediction_rows(path, config["data"], prep, names)
        if not 1 <= args.row <= len(rows):
            raise UserError(f"--row {args.row}: {path} has {len(rows)} rows (1 to {len(rows)})")
        x = apply_preprocessing(rows[args.row - 1:args.row], prep, path)
        if kind == "image":
            display = rows[args.row - 1].reshape(x.shape[2:]) * prep["scale"]
        else:
            header = csv_header(path, sniff_delimiter(path))
            feature_names = header if header and len(header) == x.shape[1] else None
    # Images start from a black picture (raw zeros, preprocessed); tables from the training
    # mean (zero after standardisation); text from all-zero embeddings.
    baseline = apply_preprocessing(np.zeros((1,) + x.shape[1:]), prep) if kind == "image" \
        else None
    target = args.target
    if target is not None:
        target = names.index(target) if target in names else target
        try:
            target = int(target)
        except ValueError:
            raise UserError(f"--target: {target!r} is neither a class index nor a class "
                            f"name; the classes are {names}") from None
    folder = args.run_dir if os.path.isdir(args.run_dir) else os.path.dirname(args.run_dir)
    out = args.out or os.path.join(
        folder or ".", f"explain-{os.path.splitext(os.path.basename(path))[0]}.png")
    steps = 50 if args.steps is None else args.steps
    # integrated gradients runs the model on one batch of all its interpolated inputs
    check_fits(f"--steps {steps} (a batch of {steps} interpolated inputs)",
               max(steps, 1) * int(np.asarray(x).nbytes))
    result = explain_prediction(model, x, kind, names, methods=args.method, target=target,
                                steps=steps,
                                baseline=baseline, display=display,
                                feature_names=feature_names, out=out)
    return result.summary()


def run(args: argparse.Namespace) -> int:
    try:
        with usage_errors(NAME):
            text = _explain(args)
    except TraceMismatchError as e:
        print(f"chainrule {NAME}: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(text if str(text).endswith("\n") else f"{text}\n")
    return 0
