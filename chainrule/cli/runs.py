"""Run folders: writing their JSON and history files, and rebuilding the model a checkpoint
in one holds (claiming and locking a run folder is :mod:`chainrule.cli.run_folder`).

A run folder written by ``chainrule train`` holds ``config.json`` (data spec, preprocessing,
model and training settings), ``best.ckpt`` / ``last.ckpt`` (each carrying the same config),
``history.csv`` / ``history.json``, ``curves.png`` and ``test_metrics.json`` (a regression
run also ``parity.png``, ``residuals.png`` and, with one input, ``fit.png``). Checkpoints
written by ``chainrule prune`` store mostly-zero weights as bitmasks, and those of
``chainrule quantize`` hold int8 layers (named in their config's ``quantization`` section);
:func:`load_run` rebuilds both.
"""
from __future__ import annotations

import json
import math
import os
import stat
import sys
from typing import Any, NamedTuple

import numpy as np

from chainrule import nn
from chainrule.cli.errors import UserError
from chainrule.cli.limits import check_fits
from chainrule.cli.models import build_model, state_size
from chainrule.cli.run_config import check_run_config
from chainrule.io import CheckpointError, write_atomically
from chainrule.nn.utils.prune import dense_state_dict, is_sparse_entry, sparse_entry_shape
from chainrule.quantization import quantized_skeleton
from chainrule.train import History, load_checkpoint, read_checkpoint

__all__ = ["LoadedRun", "resolve_checkpoint", "stored_model_matches", "load_run", "write_json",
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
    try:
        is_folder = stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        raise UserError(f"checkpoint or run folder {path!r} does not exist") from None
    except PermissionError:  # a folder on the way cannot be searched
        raise UserError(f"cannot read {path!r}: permission denied") from None
    if not is_folder:
        return path
    try:
        names = os.listdir(path)
    except PermissionError:
        raise UserError(f"cannot read run folder {path!r}: permission denied") from None
    for name in ("best.ckpt", "last.ckpt"):
        if name in names:
            return os.path.join(path, name)
    raise UserError(f"{path!r} holds no best.ckpt or last.ckpt; is it a chainrule run folder?")


def _stored_size(value: Any) -> int:
    """How many numbers a state-dict entry holds once dense (a pruned tensor's bitmask
    entry counts its full shape; read_checkpoint has checked the mask covers it)."""
    if is_sparse_entry(value):
        return math.prod(sparse_entry_shape(value))
    return int(np.asarray(value).size)


def _quantized_extras(state: dict[str, Any], config: dict[str, Any]) -> int:
    """The numbers an int8 model stores beyond its float model's state: for each quantised
    layer one weight scale per output channel, its input's scale and its zero point."""
    extras = 0
    for layer in config.get("quantization", {}).get("layers", []):
        weight = state.get(f"{layer}.weight")
        rows = weight.shape[0] if isinstance(weight, np.ndarray) and weight.ndim else 0
        extras += rows + 2
    return extras


def stored_model_matches(ckpt: dict[str, Any], config: dict[str, Any], ckpt_path: str) -> None:
    """Refuse a config whose model is not the one whose weights the checkpoint stores,
    before building it: a model is only ever as large as the weights in the file. A pruned
    run's bitmask tensors count at their dense size (and must fit in memory), an int8
    run's layers with their scales and zero points."""
    state = ckpt["model"]
    stored = sum(_stored_size(v) for v in state.values())
    described = state_size(config["model"])
    extras = _quantized_extras(state, config)
    if described + extras != stored:
        int8 = f" (and {extras:,} int8 scales and zero points)" if extras else ""
        raise UserError(f"{ckpt_path!r} does not hold the model its config describes: the "
                        f"config's {config['model']['kind']} has {described:,} values{int8}, "
                        f"the file stores {stored:,}")
    # the model's weights and, for a pruned run, the dense copy made on the way to them
    check_fits(f"{ckpt_path!r}: its {config['model']['kind']} model ({stored:,} values)",
               2 * stored * np.dtype(np.float64).itemsize)


def load_run(path: str) -> LoadedRun:
    """The model of a checkpoint file or run folder written by ``chainrule train``, rebuilt
    after checking its config (:func:`check_run_config`) and that the config describes the
    weights actually stored."""
    ckpt_path = resolve_checkpoint(path)
    ckpt = read_checkpoint(ckpt_path)
    config = check_run_config(ckpt["config"], ckpt_path)
    stored_model_matches(ckpt, config, ckpt_path)
    model = build_model(config["model"])
    try:
        if "quantization" in config:
            quantized_skeleton(model, config["quantization"]["layers"])
        ckpt["model"] = dense_state_dict(ckpt["model"])
        load_checkpoint(ckpt, model, restore_rng=False)
    except (CheckpointError, ValueError, AttributeError, KeyError) as e:  # AttributeError,
        # KeyError: a quantised layer's name that is not a layer of the model
        raise UserError(f"{ckpt_path!r}: {e}") from None
    data = config["data"]
    return LoadedRun(ckpt_path, ckpt, config, model, data["preprocessing"], data["class_names"])


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
