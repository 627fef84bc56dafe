"""``chainrule export RUN --format onnx``: the trained model as an ONNX file, ``model.onnx``
next to the checkpoint, for onnxruntime and every other ONNX tool.

    chainrule export runs/mnist-mlp-20240101-120000
    chainrule evaluate runs/mnist-mlp-20240101-120000/model.onnx   # scored by onnxruntime

The file takes the *preprocessed* input (standardised pixels or features, or character ids,
shape ``(batch, *input_shape)``, the batch size free) and gives the logits (a playground
regression network: its predictions, output ``prediction``). It carries the
run's config (data, preprocessing, class names) in its metadata, so ``chainrule evaluate``
can rebuild the test split for it alone. After writing, the file is run by onnxruntime
(when installed) on random inputs and compared with the chainrule model.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from chainrule.cli.errors import UserError
from chainrule.cli.inputs import input_file, parse_json
from chainrule.cli.run_config import check_run_config
from chainrule.cli.runs import LoadedRun, load_run
from chainrule.onnx import ExportError, InferenceModel, export
from chainrule.tensor import Tensor
from chainrule.train import predict

NAME = "export"
HELP = "write the trained model as an ONNX file (model.onnx)"
FORMATS = ("onnx",)
CHECK_SAMPLES = 16      # random inputs onnxruntime and chainrule are compared on


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Write a trained model as an ONNX file (the preprocessed input in, "
                          "logits out, any batch size) and check it with onnxruntime.")
    parser.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="default onnx")
    parser.add_argument("--out", metavar="PATH",
                        help="the file to write (default: model.onnx beside the checkpoint)")
    parser.add_argument("--opset", type=int, default=17, metavar="N",
                        help="ONNX opset version, 17 or later (default 17)")


def run(args: argparse.Namespace) -> int:
    loaded = load_run(args.checkpoint)
    out = args.out or os.path.join(os.path.dirname(loaded.ckpt_path), "model.onnx")
    if os.path.isdir(out):
        raise UserError(f"--out {out!r} is a folder; give the path of the file to write")
    if args.opset < 17:
        raise UserError(f"--opset must be 17 or later (ONNX's LayerNormalization), got {args.opset}")
    example = random_inputs(loaded.preprocessing, 2, np.random.default_rng(0))
    metadata = {"chainrule.config": json.dumps(loaded.config),
                "chainrule.epoch": str(loaded.ckpt.get("epoch", 0)),
                "chainrule.checkpoint": os.path.basename(loaded.ckpt_path)}
    # a playground regression network predicts values, every other model class logits
    output = "prediction" if loaded.config["data"].get("task") == "regression" else "logits"
    try:
        proto = export(loaded.model, example, out, input_names=["input"], output_names=[output],
                       dynamic_axes={"input": {0: "batch"}, output: {0: "batch"}},
                       opset_version=args.opset, metadata=metadata)
    except ImportError as e:
        raise UserError(str(e)) from None
    except ExportError as e:
        raise UserError(f"cannot export {loaded.ckpt_path}: {e}") from None
    shape = ", ".join(["batch"] + [str(s) for s in example.shape[1:]])
    print(f"wrote {out} (ONNX opset {args.opset}, {len(proto.graph.node)} operators): input "
          f"'input' ({shape}), {example.dtype}, preprocessed as in training; output '{output}'")
    _check_with_onnxruntime(loaded, out)
    return 0


def random_inputs(prep: dict, batch: int, rng: np.random.Generator) -> Tensor:
    """Model inputs of the run's shape: standard normal values (what standardisation gives)
    for images and tables, random character ids for text."""
    shape = (batch, *prep["input_shape"])
    if prep["kind"] == "text":
        return Tensor(rng.integers(0, len(prep["vocab"]), shape, dtype=np.int64))
    return Tensor(rng.standard_normal(shape).astype(np.float32))


def _check_with_onnxruntime(loaded: LoadedRun, path: str) -> None:
    try:
        runner = InferenceModel(path)
    except ImportError:
        print("note: onnxruntime is not installed, so the file was not run "
              "(pip install 'chainrule[onnx]')")
        return
    x = random_inputs(loaded.preprocessing, CHECK_SAMPLES, np.random.default_rng(1))
    diff = float(np.abs(predict(runner, x) - predict(loaded.model, x)).max())
    print(f"onnxruntime runs it: largest difference from chainrule on {CHECK_SAMPLES} random "
          f"inputs {diff:.2g}")


def load_onnx_run(path: str) -> LoadedRun:
    """An exported ``.onnx`` file as a run: the model is the file run by onnxruntime, the
    config comes from its metadata (``chainrule evaluate model.onnx``)."""
    input_file(path, "ONNX file")
    try:
        model = InferenceModel(path)
    except ImportError as e:
        raise UserError(str(e)) from None
    text = model.metadata.get("chainrule.config")
    if text is None:
        raise UserError(f"{path} was not written by 'chainrule export' (no chainrule.config in "
                        f"its metadata), so its data and preprocessing are unknown")
    try:  # metadata is the file's word like any other: checked as a checkpoint's config is
        config = check_run_config(parse_json(text, f"{path}'s chainrule.config"), path)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: its chainrule.config metadata is not valid JSON ({e})") from None
    epoch_text = model.metadata.get("chainrule.epoch", "0")
    epoch = int(epoch_text) if epoch_text.isdigit() and len(epoch_text) < 10 else 0
    return LoadedRun(path, {"epoch": epoch}, config, model, config["data"]["preprocessing"],
                     config["data"]["class_names"])
