"""``chainrule summary``: a model's parameters, multiply-adds (forward and backward) and
activation memory, layer by layer and per training step.

    chainrule summary runs/mnist-mlp-20240101-120000     # the model a run trained
    chainrule summary --layers 784,128,10 --batch-size 32
    chainrule summary --model mypackage.models:make_cnn --input-shape 1,28,28

Bad input exits with status 2 (``chainrule summary: error: ...``).
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from typing import Any

import numpy as np

from chainrule.cli.data import describe
from chainrule.cli.errors import UserError, usage_errors
from chainrule.cli.limits import check_fits
from chainrule.cli.network_spec import int_list, merged_spec, network_from_spec
from chainrule.cli.runs import load_run
from chainrule.cli.targets import run_scaling
from chainrule.explain.summary import summary, summary_from_shapes
from chainrule.nn import Module

NAME = "summary"
HELP = "layers, shapes, parameter counts and cost of a model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Count a model's parameters, multiply-adds (forward and backward) "
                          "and activation memory, layer by layer and per training step.")
    src = parser.add_argument_group("the model")
    src.add_argument("run", nargs="?", metavar="RUN_DIR",
                     help="a run folder or checkpoint written by 'chainrule train'")
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


def _import_model(target: str) -> Module:
    if ":" not in target:
        raise UserError(f"--model: expected MODULE:NAME (e.g. mypackage.models:make_cnn), got "
                        f"{target!r}")
    mod_name, attr = target.split(":", 1)
    sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as e:
        raise UserError(f"--model: cannot import {mod_name}: {e}") from None
    finally:
        sys.path.remove(os.getcwd())
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"--model: {mod_name} has no attribute {attr}")
        obj = getattr(obj, part)
    if not isinstance(obj, Module) and callable(obj):
        obj = obj()
    if not isinstance(obj, Module):
        raise UserError(f"--model: {target} is a {type(obj).__name__}, not a chainrule Module")
    return obj


def _trained(args) -> tuple[Module, tuple[int, ...], str]:
    """The model of a run folder, the shape of one of its samples and a line saying what
    it was trained on."""
    given = [flag for flag, value in (("--model", args.model), ("--file", args.file),
                                      ("--layers", args.layers),
                                      ("--activations", args.activations)) if value]
    if given:
        raise UserError(f"RUN_DIR names the model; {', '.join(given)} cannot be given with it")
    loaded = load_run(args.run)
    data, prep = loaded.config["data"], loaded.preprocessing
    scaling = run_scaling(data, prep)
    task = (f"a regression of {', '.join(scaling['names'])}" if scaling is not None
            else f"a classification into {len(loaded.class_names)} classes")
    shape = (tuple(int_list(args.input_shape, "--input-shape")) if args.input_shape
             else tuple(prep["input_shape"]))
    line = (f"{loaded.ckpt_path} (epoch {loaded.ckpt['epoch']}): the "
            f"{loaded.config['model']['kind']} model of {describe(data)}, {task}")
    return loaded.model, shape, line


def _summary(args) -> str:
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be positive, got {args.batch_size}")
    if args.run:
        model, shape, line = _trained(args)
        result = summary(model, shape, batch_size=args.batch_size, dtype=args.dtype)
        return result.to_json() if args.format == "json" else f"{line}\n\n{result}"
    if args.model:
        if args.file or args.layers:
            raise UserError("--model cannot be combined with --file or --layers")
        if not args.input_shape:
            raise UserError("--input-shape is required with --model (e.g. --input-shape "
                            "1,28,28)")
        shape = int_list(args.input_shape, "--input-shape")
        model = _import_model(args.model)
        # The user's model runs once on a batch of zeros: check that batch fits first.
        dtype = np.dtype(args.dtype) if args.dtype else np.dtype(np.float64)
        check_fits(f"--batch-size {args.batch_size} x --input-shape "
                   f"{','.join(map(str, shape))} (the zeros the model runs on, as {dtype})",
                   args.batch_size * math.prod(shape) * dtype.itemsize)
        result = summary(model, tuple(shape), batch_size=args.batch_size, dtype=args.dtype)
    else:
        # An MLP from sizes is counted from shapes alone: placeholder weights, no forward
        # pass, so --layers 30000,30000 answers at once in a few kB.
        spec = merged_spec(args)
        given = spec.get("weights") is not None or spec.get("biases") is not None
        model = network_from_spec(spec, default_hidden="relu", default_output="none",
                                  placeholders=not given)
        shape = (int_list(args.input_shape, "--input-shape") if args.input_shape
                 else [int_list(spec["layers"], "--layers")[0]])
        result = summary_from_shapes(model, tuple(shape), batch_size=args.batch_size,
                                     dtype=args.dtype)
    return result.to_json() if args.format == "json" else str(result)


def run(args: argparse.Namespace) -> int:
    with usage_errors(NAME):
        text = _summary(args)
    sys.stdout.write(text if text.endswith("\n") else f"{text}\n")
    return 0
