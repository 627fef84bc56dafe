"""Run folders: making one, writing its JSON and history files, and rebuilding the model a
checkpoint in it holds.

A run folder written by ``chainrule train`` holds ``config.json`` (data spec, preprocessing,
model and training settings), ``best.ckpt`` / ``last.ckpt`` (each carrying the same config),
``history.csv`` / ``history.json``, ``curves.png`` and ``test_metrics.json`` (a regression
run also ``parity.png``, ``residuals.png`` and, with one input, ``fit.png``). Checkpoints
written by ``chainrule prune`` store mostly-zero weights as bitmasks, and those of
``chainrule quantize`` hold int8 layers (named in their config's ``quantization`` section);
:func:`load_run` rebuilds both.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import sys
from typing import Any, NamedTuple

from chainrule import nn
from chainrule.cli.errors import UserError
from chainrule.cli.models import build_model
from chainrule.io import write_atomically
from chainrule.nn.utils.prune import dense_state_dict
from chainrule.quantization import quantized_skeleton
from chainrule.train import History, load_checkpoint, read_checkpoint

__all__ = ["LoadedRun", "resolve_checkpoint", "load_run", "new_run_dir", "write_json",
           "save_history"]


class LoadedRun(NamedTuple):
    """A checkpoint's model, rebuilt from its config with the saved weights loaded."""
    ckpt_path: str
    ckpt: dict[str, Any]
    config: dict[str, Any]
    model: nn.Module
    preprocessing: dict[str, Any]
    class_names: list[str]


def resolve_checkpoint(path: str) -> str:
    """A checkpoint file, or a run folder's best.ckpt (else last.ckpt)."""
    if os.path.isdir(path):
        for name in ("best.ckpt", "last.ckpt"):
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        raise UserError(f"{path!r} holds no best.ckpt or last.ckpt; is it a chainrule run folder?")
    if not os.path.exists(path):
        raise UserError(f"checkpoint or run folder {path!r} does not exist")
    return path


def load_run(path: str) -> LoadedRun:
    """The model of a checkpoint file or run folder written by ``chainrule train``."""
    ckpt_path = resolve_checkpoint(path)
    ckpt = read_checkpoint(ckpt_path)
    config = ckpt["config"]
    try:
        model = build_model(config["model"])
        prep, names = config["data"]["preprocessing"], config["data"]["class_names"]
        if "quantization" in config:
            quantized_skeleton(model, config["quantization"]["layers"])
    except (KeyError, TypeError):
        raise UserError(f"{ckpt_path!r} lacks the model/data config that 'chainrule train' "
                        f"writes, so it cannot be rebuilt from the command line") from None
    ckpt["model"] = dense_state_dict(ckpt["model"])
    load_checkpoint(ckpt, model, restore_rng=False)
    return LoadedRun(ckpt_path, ckpt, config, model, prep, names)


def new_run_dir(out: str | None, data_name: str, model_kind: str) -> str:
    """Create the run folder: ``out`` (which must not hold a run yet), or a new
    ``runs/<data>-<model>-<time>``."""
    if out is not None:
        if os.path.isfile(out):
            raise UserError(f"--out {out!r} is a file; give a folder")
        if any(os.path.exists(os.path.join(out, f)) for f in ("best.ckpt", "last.ckpt")):
            raise UserError(f"--out {out!r} already holds a run; continue it with --resume {out} "
                            f"or choose another folder")
        os.makedirs(out, exist_ok=True)
        return out
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join("runs", f"{data_name}-{model_kind}-{stamp}")
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = f"{base}-{n}"
    os.makedirs(path)
    return path


def _json_safe(obj):
    """``obj`` with every NaN or infinite float replaced by None: JSON has no NaN, and a
    bare ``NaN`` token breaks strict readers (browsers, jq, most languages)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(path: str, obj) -> None:
    """Write ``obj`` as indented, strict JSON (a non-finite number becomes null),
    replacing ``path`` in one step."""
    text = json.dumps(_json_safe(obj), indent=1, allow_nan=False)
    write_atomically(path, (text + "\n").encode("utf-8"))


def save_history(history: History, run_dir: str, plot: bool) -> None:
    """history.csv and history.json (and curves.png when ``plot``) in the run folder."""
    if not len(history):
        return
    history.to_csv(os.path.join(run_dir, "history.csv"))
    history.to_json(os.path.join(run_dir, "history.json"))
    if plot:
        try:
            history.plot(os.path.join(run_dir, "curves.png"))
        except ImportError:
            print("chainrule: note: matplotlib is not installed; no curves.png "
                  "(pip install 'chainrule[plot]')", file=sys.stderr)
