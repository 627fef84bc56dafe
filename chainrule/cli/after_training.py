"""What the commands that work on a finished run share (``prune``, ``quantize``, ``distill``):
its data rebuilt exactly, accuracy, checkpoint sizes, and where results go."""
from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from chainrule import io
from chainrule.cli.data import Prepared, prepare
from chainrule.cli.errors import UserError
from chainrule.cli.runs import LoadedRun
from chainrule.train import predict

__all__ = ["run_data", "accuracy", "saved_size", "kib", "output_folder", "refuse_quantized",
           "refuse_regression"]


def run_data(loaded: LoadedRun) -> Prepared:
    """The run's own splits (train, validation, test), preprocessed as it was trained."""
    spec = {k: v for k, v in loaded.config["data"].items()
            if k not in ("class_names", "preprocessing")}
    return prepare(spec, preprocessing=loaded.preprocessing)


def accuracy(model, X: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    return float((predict(model, X, batch_size=batch_size).argmax(axis=1) == y).mean())


def saved_size(obj: Any) -> int:
    """The bytes ``cr.save(obj)`` writes (through a temporary file)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "size.ckpt")
        io.save(obj, path)
        return os.path.getsize(path)


def kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def output_folder(run_path: str, name: str) -> str:
    """``<run folder>/<name>``: results stay beside the run they came from."""
    folder = run_path if os.path.isdir(run_path) else (os.path.dirname(run_path) or ".")
    return os.path.join(folder, name)


def refuse_quantized(loaded: LoadedRun, what: str) -> None:
    if "quantization" in loaded.config:
        raise UserError(f"{loaded.ckpt_path!r} holds an int8 (quantised) model, which cannot be "
                        f"{what}; use the float run it was made from")


def refuse_regression(loaded: LoadedRun, command: str) -> None:
    """These commands score (and distil) class predictions; a regression run has none."""
    if loaded.config.get("data", {}).get("task") == "regression":
        raise UserError(f"{loaded.ckpt_path!r} is a regression run; chainrule {command} works on "
                        f"classifiers (it scores accuracy, or distils class probabilities)")
