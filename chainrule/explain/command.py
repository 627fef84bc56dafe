"""The logic of ``chainrule explain`` and ``chainrule summary``, for the command line.

``cli.py`` wires them in two lines per command::

    add_explain_arguments(subparsers.add_parser("explain", help=...))   # then
    return run_explain(args)                                            # for "explain"

Both ``run_*`` functions print their result to stdout and return the exit status: 0 on
success, 2 for bad input (the message, on stderr, says what was wrong), 1 when a trace fails
its own check against autograd.

A network for ``explain`` comes from a preset (``--example 2-3-1``), a JSON or YAML file
(``--file net.json``), or options (``--layers 2,3,1 --activations sigmoid,sigmoid
--weights ... --input 0.1,0.2 --target 1``); options given alongside a file override it.
The file holds the same keys as the options::

    {"layers": [2, 3, 1], "activations": ["sigmoid", "sigmoid"],
     "weights": [[[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]], [[0.1, 0.2, 0.3]]],
     "biases": [[0.1, 0.2, 0.3], [0.2]],
     "input": [0.1, 0.2], "target": [1], "loss": "mse", "lr": 0.1, "steps": 1}

``weights[l]`` has PyTorch's Linear layout (out, in); biases left out are zero when weights
are given. Without weights, ``seed`` (default 0) seeds chainrule's default initialisation.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

import numpy as np

__all__ = ["add_explain_arguments", "run_explain", "add_summary_arguments", "run_summary",
           "load_spec"]


class _UsageError(ValueError):
    """Bad input on the command line or in a spec file."""


# ----------------------------------------------------------------------------- parsing
def _numbers(text: str, what: str) -> Any:
    """JSON (``[[0.1, 0.2], [0.3, 0.4]]``, ``2``) or comma-separated numbers (``0.1,0.2``)."""
    if isinstance(text, (int, float, list)):
        return text
    text = str(text).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return [json.loads(p) for p in text.split(",")]
    except json.JSONDecodeError:
        raise _UsageError(f"{what}: expected numbers like 0.1,0.2 or JSON like [[0.1, 0.2]], "
                          f"got {text!r}") from None


def _int_list(text, what: str) -> list[int]:
    try:
        values = text if isinstance(text, list) else _numbers(text, what)
    except _UsageError:
        values = None
    values = values if isinstance(values, list) or values is None else [values]
    if not values or any(not isinstance(v, int) or isinstance(v, bool) for v in values):
        raise _UsageError(f"{what}: expected whole numbers like 2,3,1, got {text!r}")
    return values


def _name_list(text, what: str) -> list[str]:
    if isinstance(text, list):
        return [str(t).strip().lower() for t in text]
    return [t.strip().lower() for t in str(text).split(",") if t.strip()]


def load_spec(path: str) -> dict:
    """Read a network spec from a ``.json`` or ``.yaml``/``.yml`` file (YAML needs PyYAML)."""
    if not os.path.exists(path):
        raise _UsageError(f"--file: no such file: {path}")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise _UsageError("--file: reading YAML needs PyYAML: pip install pyyaml (or pip "
                              "install chainrule[yaml]); or write the spec as JSON") from None
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise _UsageError(f"--file: {path} is not valid YAML: {e}") from None
    else:
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as e:
            raise _UsageError(f"--file: {path} is not valid JSON: {e}") from None
    if not isinstance(spec, dict):
        raise _UsageError(f"--file: {path} must hold a mapping (keys layers, activations, "
                          f"weights, input, target, ...), got {type(spec).__name__}")
    known = {"layers", "activations", "weights", "biases", "input", "target", "loss", "lr",
             "steps", "seed", "bias", "input_shape", "batch_size"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise _UsageError(f"--file: unknown keys {unknown} in {path}; known keys: "
                          f"{sorted(known)}")
    return spec


def _weights_option(text: str) -> dict:
    """--weights: JSON (or a JSON file) with a list of matrices, or {"weights", "biases"}."""
    if os.path.exists(text):
        with open(text, encoding="utf-8") as fh:
            text = fh.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise _UsageError(f"--weights: not valid JSON ({e}); give a list of weight matrices, "
                          f"one per layer in (out, in) layout, or an object with keys "
                          f"\"weights\" and \"biases\"") from None
    if isinstance(value, dict):
        extra = set(value) - {"weights", "biases"}
        if extra:
            raise _UsageError(f"--weights: unknown keys {sorted(extra)}; use weights and biases")
        return value
    return {"weights": value}


def _merged_spec(args) -> dict:
    spec: dict = {}
    if getattr(args, "file", None):
        spec.update(load_spec(args.file))
    for key in ("layers", "activations", "input", "target", "loss", "lr", "steps", "seed"):
        value = getattr(args, key, None)
        if value is not None:
            spec[key] = value
    if getattr(args, "weights", None):
        spec.update(_weights_option(args.weights))
    return spec


def _network_from_spec(spec: dict, default_hidden: str = "sigmoid",
                       default_output: str = "sigmoid"):
    from chainrule.explain.presets import build_network
    from chainrule.random import manual_seed

    if "layers" not in spec:
        raise _UsageError("give the network: --example 2-3-1, --file spec.json, or --layers "
                          "2,3,1 (with --activations, --weights or --seed)")
    sizes = _int_list(spec["layers"], "--layers")
    if len(sizes) < 2:
        raise _UsageError(f"--layers: need at least the input and output sizes, got {sizes}")
    n = len(sizes) - 1
    acts = (_name_list(spec["activations"], "--activations") if "activations" in spec
            else [default_hidden] * (n - 1) + [default_output])
    seed = int(spec.get("seed", 0) if spec.get("seed") is not None else 0)
    manual_seed(seed)
    weights, biases = spec.get("weights"), spec.get("biases")
    if weights is not None and biases is None:
        biases = [[0.0] * s for s in sizes[1:]]      # given weights, unstated biases: zero
    try:
        return build_network(sizes, acts, weights=weights, biases=biases,
                             bias=bool(spec.get("bias", True)))
    except ValueError as e:
        raise _UsageError(str(e)) from None


# ---------------------------------------------------------------------------- explain
def add_explain_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``chainrule explain`` to ``parser``."""
    from chainrule.explain.trace import LOSSES
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
    return parser


def _explain(args) -> str:
    from chainrule.explain.presets import get_example
    from chainrule.explain.trace import trace

    if args.example:
        if args.file or args.layers:
            raise _UsageError("--example cannot be combined with --file or --layers")
        try:
            ex = get_example(args.example)
        except ValueError as e:
            raise _UsageError(f"--example: {e}") from None
        model, x, y = ex.model, ex.x, ex.y
        loss, lr, steps = ex.loss, ex.lr, ex.steps
        if args.input is not None:
            x = _numbers(args.input, "--input")
        if args.target is not None:
            y = _numbers(args.target, "--target")
        loss = args.loss or loss
        lr = args.lr if args.lr is not None else lr
        steps = args.steps if args.steps is not None else steps
    else:
        spec = _merged_spec(args)
        # the output that goes with the loss when --activations is not given
        model = _network_from_spec(spec, default_output="none" if spec.get("loss") == "ce"
                                   else "sigmoid")
        for key, opt in (("input", "--input"), ("target", "--target")):
            if key not in spec:
                raise _UsageError(f"{opt} is required with --layers/--file (e.g. {opt} "
                                  f"{'0.1,0.2' if key == 'input' else '1'})")
        x = _numbers(spec["input"], "--input")
        y = _numbers(spec["target"], "--target")
        loss = spec.get("loss", "mse")
        lr = float(spec.get("lr", 0.1))
        steps = int(spec.get("steps", 1))
    if isinstance(y, list) and loss != "ce":
        y = np.asarray(y, dtype=np.float64)
    return trace(model, np.asarray(x, dtype=np.float64), np.asarray(y), loss=loss, lr=lr,
                 steps=steps, format=args.format, precision=args.precision)


def _run(fn, args, command: str) -> int:
    from chainrule.explain.trace import TraceMismatchError
    try:
        text = fn(args)
    except TraceMismatchError as e:
        print(f"chainrule {command}: {e}", file=sys.stderr)
        return 1
    except (_UsageError, ValueError, TypeError) as e:
        print(f"chainrule {command}: error: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(text if str(text).endswith("\n") else f"{text}\n")
    return 0


def run_explain(args) -> int:
    """``chainrule explain``: print the trace; returns the exit status."""
    return _run(_explain, args, "explain")


# ---------------------------------------------------------------------------- summary
def add_summary_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``chainrule summary`` to ``parser``."""
    parser.description = ("Count a model's parameters, multiply-adds (forward and backward) "
                          "and activation memory, layer by layer and per training step.")
    src = parser.add_argument_group("the model")
    src.add_argument("--model", metavar="MODULE:NAME",
                     help="a Module (or a function/class returning one) to import, e.g. "
                          "mypackage.models:make_cnn")
    src.add_argument("--file", metavar="PATH",
                     help="a JSON or YAML spec of an MLP (layers, activations)")
    src.add_argument("--layers", metavar="SIZES", help="an MLP's layer sizes, e.g. 784,128,10")
    src.add_argument("--activations", metavar="NAMES",
                     help="one per layer (default relu, none for the last)")
    parser.add_argument("--input-shape", metavar="SHAPE",
                        help="one sample's shape without the batch dim, e.g. 1,28,28 "
                             "(default for an MLP: its input size)")
    parser.add_argument("--batch-size", type=int, default=1, metavar="N",
                        help="samples per step (default 1)")
    parser.add_argument("--dtype", default=None,
                        help="input dtype (default: the model's; int64 for Embedding inputs)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="a table (default) or JSON")
    return parser


def _import_model(target: str):
    from chainrule.nn import Module
    if ":" not in target:
        raise _UsageError(f"--model: expected MODULE:NAME (e.g. mypackage.models:make_cnn), got "
                          f"{target!r}")
    mod_name, attr = target.split(":", 1)
    sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as e:
        raise _UsageError(f"--model: cannot import {mod_name}: {e}") from None
    finally:
        sys.path.remove(os.getcwd())
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise _UsageError(f"--model: {mod_name} has no attribute {attr}")
        obj = getattr(obj, part)
    if not isinstance(obj, Module) and callable(obj):
        obj = obj()
    if not isinstance(obj, Module):
        raise _UsageError(f"--model: {target} is a {type(obj).__name__}, not a chainrule Module")
    return obj


def _summary(args) -> str:
    from chainrule.explain.summary import summary

    if args.model:
        if args.file or args.layers:
            raise _UsageError("--model cannot be combined with --file or --layers")
        model = _import_model(args.model)
        if not args.input_shape:
            raise _UsageError("--input-shape is required with --model (e.g. --input-shape "
                              "1,28,28)")
        shape = _int_list(args.input_shape, "--input-shape")
    else:
        spec = _merged_spec(args)
        model = _network_from_spec(spec, default_hidden="relu", default_output="none")
        shape = (_int_list(args.input_shape, "--input-shape") if args.input_shape
                 else [_int_list(spec["layers"], "--layers")[0]])
    if args.batch_size < 1:
        raise _UsageError(f"--batch-size must be positive, got {args.batch_size}")
    result = summary(model, tuple(shape), batch_size=args.batch_size, dtype=args.dtype)
    return result.to_json() if args.format == "json" else str(result)


def run_summary(args) -> int:
    """``chainrule summary``: print the cost table; returns the exit status."""
    return _run(_summary, args, "summary")
