"""``chainrule explain``: one training step (or several) of a small network, number by
number: the forward pass, the loss, every delta and gradient, and the update, each gradient
checked against autograd.

    chainrule explain --example 2-3-1
    chainrule explain --layers 2,2,1 --activations tanh,none --input 1,2 --target 0 --loss bce

The network comes from a preset (``--example``), a spec file or options
(:mod:`chainrule.cli.network_spec`). Bad input exits with status 2 (``chainrule explain:
error: ...``); a trace that disagrees with autograd prints why and exits with status 1.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from chainrule.cli.errors import UserError, usage_errors
from chainrule.cli.network_spec import merged_spec, network_from_spec, numbers
from chainrule.explain.presets import get_example
from chainrule.explain.trace import LOSSES, TraceMismatchError, trace

NAME = "explain"
HELP = "step-by-step forward and backward pass of a model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Show one training step (or several) of a small network, number by "
                          "number: the forward pass, the loss, every delta and gradient, "
                          "and the update, each gradient checked against autograd.")
    src = parser.add_argument_group("the network")
    src.add_argument("--example", metavar="NAME",
                     help="a preset: 2-3-1 (the classic worked example)")
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
                      help="target(s): 1 or 0,1 or JSON; class indices for --loss ce")
    data.add_argument("--loss", choices=LOSSES,
                      help="mse: J=(y-yhat)^2 (default); mse_half: 1/2 of it; ce: softmax + "
                           "cross-entropy; bce: sigmoid + binary cross-entropy")
    data.add_argument("--lr", type=float, help="learning rate (default 0.1)")
    data.add_argument("--steps", type=int, help="training steps to show (default 1)")
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                     help="text for a terminal (default), markdown with LaTeX, or json")
    out.add_argument("--precision", type=int, default=6, metavar="DIGITS",
                     help="significant digits shown (default 6)")


def _explain(args) -> str:
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
    else:
        spec = merged_spec(args)
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


def run(args: argparse.Namespace) -> int:
    try:
        with usage_errors(NAME):
            text = _explain(args)
    except TraceMismatchError as e:
        print(f"chainrule {NAME}: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(text if str(text).endswith("\n") else f"{text}\n")
    return 0
