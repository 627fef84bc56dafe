"""``chainrule quantize RUN``: post-training int8 quantisation of a trained model's Linear and
Conv2d layers, calibrated on training samples; compares accuracy, size and speed with the
float model and saves the int8 model.

    chainrule quantize runs/mnist-cnn-20240101-120000
    chainrule evaluate runs/mnist-cnn-20240101-120000/quantized.ckpt

Weights become int8 with one symmetric scale per output channel; each layer's input range
is taken from ``--calibration-samples`` training samples. ``quantized.ckpt`` (beside the
run's checkpoints unless ``--out`` says otherwise) is read by ``evaluate`` and ``predict``.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from chainrule import io, quantization
from chainrule.cli.after_training import (
    accuracy, kib, output_folder, refuse_quantized, refuse_regression, run_data, saved_size)
from chainrule.cli.errors import UserError
from chainrule.cli.output import say
from chainrule.cli.run_folder import claim_run_folder
from chainrule.cli.runs import load_run, write_json
from chainrule.train import predict
from chainrule.train.checkpoint import make_checkpoint

NAME = "quantize"
HELP = "int8 post-training quantisation of a trained model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Quantise a trained run's Linear and Conv2d layers to int8 (per-channel "
                     "weights, calibrated input ranges), compare accuracy, size and speed with "
                     "the float model, and save the int8 model.")
    p.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    p.add_argument("--calibration-samples", type=int, default=512, metavar="N",
                   help="training samples whose activations set the input ranges (default 512)")
    p.add_argument("--batch-size", type=int, default=512, metavar="N",
                   help="batch size for evaluation and timing (default 512)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="which training samples calibrate (default 0)")
    p.add_argument("--out", metavar="FILE", help="where to save (default RUN/quantized.ckpt)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _timed_predict(model, X: np.ndarray, batch_size: int) -> float:
    """Seconds for one pass over ``X`` (after one warm-up batch)."""
    predict(model, X[:batch_size], batch_size=batch_size)
    start = time.perf_counter()
    predict(model, X, batch_size=batch_size)
    return time.perf_counter() - start


def _metrics_path(out: str) -> str:
    return os.path.splitext(out)[0] + ".json"


def _check_out(out: str) -> None:
    """``out`` and its metrics file must be new: quantize never replaces a file."""
    if os.path.isdir(out):
        raise UserError(f"--out {out!r} is a folder; give a file name")
    for path in (out, _metrics_path(out)):
        if os.path.lexists(path):
            raise UserError(f"{path!r} already exists; chainrule quantize does not replace "
                            f"files: choose another --out")


def run(args: argparse.Namespace) -> int:
    if args.calibration_samples < 1:
        raise UserError(f"--calibration-samples must be >= 1, got {args.calibration_samples}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    loaded = load_run(args.checkpoint)
    refuse_quantized(loaded, "quantised again")
    refuse_regression(loaded, "quantize")
    out = args.out or output_folder(args.checkpoint, "quantized.ckpt")
    _check_out(out)
    say(args, f"loading the data of {loaded.ckpt_path} ...")
    data = run_data(loaded)
    n = min(args.calibration_samples, len(data.y_train))
    chosen = np.sort(np.random.default_rng(args.seed).choice(len(data.y_train), n, replace=False))
    model = loaded.model.eval()
    try:
        qmodel = quantization.quantize(model, predict, (data.X_train[chosen],))
    except ValueError as e:
        raise UserError(str(e)) from None
    layers = quantization.quantized_layer_names(qmodel)
    X, y = data.X_test, data.y_test
    float_acc, int8_acc = accuracy(model, X, y, args.batch_size), accuracy(qmodel, X, y, args.batch_size)
    float_s = _timed_predict(model, X, args.batch_size)
    int8_s = _timed_predict(qmodel, X, args.batch_size)
    config = dict(loaded.config, quantization={
        "source": os.path.abspath(loaded.ckpt_path), "layers": layers,
        "weights": "int8, symmetric per output channel",
        "inputs": "int8, affine per tensor, calibrated", "calibration_samples": n})
    ckpt = make_checkpoint(qmodel, epoch=loaded.ckpt["epoch"], config=config)
    float_bytes, int8_bytes = saved_size({"model": model.state_dict()}), saved_size({"model": ckpt["model"]})
    result = {"float_accuracy": float_acc, "int8_accuracy": int8_acc, "layers": layers,
              "float_weights_bytes": float_bytes, "int8_weights_bytes": int8_bytes,
              "float_seconds": float_s, "int8_seconds": int8_s, "test_samples": int(len(y)),
              "calibration_samples": n}
    # The folder is a run's (or the user's): write only while no run writes there, and
    # never over a file already there.
    with claim_run_folder(os.path.dirname(out) or ".", "--out"):
        _check_out(out)
        io.save(ckpt, out)
        write_json(_metrics_path(out), result)
    print(f"{loaded.ckpt_path}: layers {', '.join(layers)} quantised to int8 "
          f"(input ranges from {n} training samples)")
    print(f"  test accuracy   float {float_acc:.4f}   int8 {int8_acc:.4f}   "
          f"({(int8_acc - float_acc) * 100:+.2f} points, {len(y)} samples)")
    print(f"  weights         float {kib(float_bytes)}   int8 {kib(int8_bytes)}   "
          f"({float_bytes / int8_bytes:.2f}x smaller)")
    print(f"  inference       float {len(y) / float_s:,.0f} samples/s   int8 "
          f"{len(y) / int8_s:,.0f} samples/s (batch {args.batch_size}, one pass each)")
    print(f"saved {out}")
    return 0
