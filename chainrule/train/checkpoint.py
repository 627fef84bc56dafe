"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is one file written with ``cr.save`` (atomically: a crash mid-write leaves the
previous file intact). It holds::

    format, version     "chainrule.checkpoint", 1
    model               the model's state_dict (parameters and buffers)
    optimizer           the optimizer's state_dict (moments, step counts, hyper-parameters)
    scheduler           the LR scheduler's state_dict, or None
    epoch               epochs finished
    global_step         optimizer steps taken
    rng_state           chainrule's global generator (shuffling, dropout, ...)
    rank_rng_states     (data-parallel runs) every rank's generator, in rank order
    loader_rng_state    the training loader's own generator, when it has one
    history             the History so far
    config              the caller's dict (how to rebuild the model and its data)

Restoring all of it makes the next epoch draw the same shuffles and dropout masks and apply
the same updates as an uninterrupted run: the parameters match bit for bit (for a
data-parallel run, resumed with the same number of processes). The model is saved without
its DistributedDataParallel wrapper, so a checkpoint loads into the plain model and back.

A checkpoint read from a file is checked against :data:`CHECKPOINT_SCHEMA` (every field's
type and range) before anything uses it, so a damaged or hand-made file ends in one
``CheckpointError`` naming the field, never in a failure deep inside the training loop.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from chainrule import io  # io needs only tensor: it sits below train, which saves runs
from chainrule.nn.utils.prune import SPARSE_FORMAT, sparse_entry_shape
from chainrule.io.schema import (
    Array, Either, Float, Int, Json, List, Map, Null, Optional, Record, SchemaError, Satisfies,
    Str, check)
from chainrule.random import get_rng_state, set_rng_state
from chainrule.train.history import History
from chainrule.train import ranks
from chainrule.train.state import TrainState

FORMAT = "chainrule.checkpoint"
VERSION = 1


_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


def _restorable_rng_state(state: Any) -> None:
    """Raise ValueError/TypeError/OverflowError unless a fresh NumPy bit generator of the
    named kind accepts ``state`` (NumPy checks every field, sizes included)."""
    name = state["bit_generator"]
    if name not in _BIT_GENERATORS:
        raise ValueError(f"unknown bit generator {name!r}")
    getattr(np.random, name)().state = state


_RNG_STATE = Satisfies(_restorable_rng_state, f"the state of a NumPy bit generator "
                                              f"({', '.join(_BIT_GENERATORS)})")
_NAME = Str(max_len=1024)
_EPOCHS = Int(0, 2 ** 31 - 1)
# What cr.save can give back for each field of a training checkpoint (see the module
# docstring); optimizer and scheduler state are plain data (their own load_state_dict
# checks the meaning), the per-parameter optimizer state arrays or numbers.
# A pruned model's mostly-zero tensor (nn.utils.prune.sparse_state_dict): a bitmask and the
# kept values, whose sizes must agree with the shape before it is ever made dense.
_SPARSE_TENSOR = Satisfies(sparse_entry_shape, f"a {SPARSE_FORMAT} tensor whose mask covers "
                                               f"its shape and whose values fill the mask")
CHECKPOINT_SCHEMA = Record({
    "format": Str([FORMAT]),
    "version": Int(VERSION, VERSION),
    "model": Map(_NAME, Either(Array(), _SPARSE_TENSOR)),
    "optimizer": Optional(Record({
        "state": Map(Int(0, 2 ** 31 - 1), Map(_NAME, Either(Array(), Int(0, 2 ** 53)))),
        "param_groups": List(Map(_NAME, Json(max_depth=2, finite=True)))})),
    "scheduler": Optional(Map(_NAME, Json(max_depth=8))),
    "epoch": _EPOCHS,
    "global_step": Int(0, 2 ** 53),
    "rng_state": _RNG_STATE,
    "loader_rng_state": Optional(_RNG_STATE),
    "rank_rng_states": List(_RNG_STATE),
    "history": Record({"epoch": List(_EPOCHS),
                       "history": Map(_NAME, List(Either(Null(), Float(finite=False))))}),
    "config": Map(_NAME, Json(max_depth=16, arrays=True)),
}, optional=("optimizer", "scheduler", "loader_rng_state", "rank_rng_states"))


def _loader_generator(loader) -> np.random.Generator | None:
    gen = getattr(loader, "generator", None)
    return gen if isinstance(gen, np.random.Generator) else None


def copy_state_dict(model) -> dict[str, np.ndarray]:
    """An independent copy of the model's state (parameters and buffers) as arrays."""
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def make_checkpoint(model, optimizer=None, scheduler=None, *, epoch: int = 0,
                    global_step: int = 0, history: History | None = None,
                    config: Mapping | None = None, train_loader=None) -> dict[str, Any]:
    """The checkpoint dict for the current state (the RNG state is taken now)."""
    loader_gen = _loader_generator(train_loader)
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": copy_state_dict(ranks.unwrap(model)),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "global_step": int(global_step),
        "rng_state": get_rng_state(),
        "loader_rng_state": loader_gen.bit_generator.state if loader_gen is not None else None,
        "history": (history or History()).to_dict(),
        "config": dict(config or {}),
    }


def save_checkpoint(path: str | os.PathLike, state: TrainState) -> None:
    """Write the loop's state at the end of ``state.epoch`` to ``path``. With several
    ranks every rank calls it (their generator states are gathered) and rank 0 writes."""
    ckpt = make_checkpoint(state.model, state.optimizer, state.scheduler, epoch=state.epoch,
                           global_step=state.global_step, history=state.history,
                           config=state.config, train_loader=state.train_loader)
    if state.world_size > 1:
        ckpt["rank_rng_states"] = ranks.rng_states()
    if state.rank == 0:
        io.save(ckpt, os.fspath(path))


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a checkpoint file; ``history`` comes back as a :class:`History`.

    Raises FileNotFoundError for a missing file and ``chainrule.io.CheckpointError`` (a
    ValueError) for anything that is not an intact chainrule training checkpoint.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise io.CheckpointError(f"{path!r} is a folder; give the checkpoint file inside it "
                                    f"(best.ckpt or last.ckpt)")
    return _check(io.load(path), path)


def _check(ckpt: Any, path: str) -> dict[str, Any]:
    CheckpointError = io.CheckpointError
    if not isinstance(ckpt, Mapping) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path!r} was saved with cr.save but is not a training "
                              f"checkpoint (no format={FORMAT!r} entry)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path!r} has checkpoint version {ckpt.get('version')!r}; this "
                              f"chainrule reads version {VERSION}")
    missing = [k for k in ("model", "epoch", "global_step", "rng_state", "history", "config")
               if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path!r} is missing entries {missing}")
    try:
        check(CHECKPOINT_SCHEMA, ckpt, "checkpoint")
    except SchemaError as e:
        raise CheckpointError(f"checkpoint {path!r} is damaged: {e}") from None
    out = dict(ckpt)
    try:
        out["history"] = History.from_dict(ckpt["history"])
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path!r} has a damaged history: {e}") from None
    out["epoch"], out["global_step"] = int(ckpt["epoch"]), int(ckpt["global_step"])
    return out


def load_checkpoint(checkpoint: str | os.PathLike | Mapping, model, optimizer=None,
                    scheduler=None, *, train_loader=None, restore_rng: bool = True) -> dict[str, Any]:
    """Restore a checkpoint (a path or a dict from :func:`read_checkpoint`) into ``model``
    and, when given, ``optimizer``, ``scheduler`` and ``train_loader``'s generator; with
    ``restore_rng`` the global generator too. Returns the checkpoint dict (``epoch``,
    ``global_step``, ``history``, ``config``, ...).

    Example:
        >>> ckpt = cr.train.load_checkpoint("runs/exp1/last.ckpt", model, opt)  # doctest: +SKIP
        >>> ckpt["epoch"], ckpt["config"]                                        # doctest: +SKIP
    """
    if isinstance(checkpoint, Mapping):
        where = None
        ckpt = checkpoint if isinstance(checkpoint.get("history"), History) \
            else _check(checkpoint, "<dict>")
    else:
        where = os.fspath(checkpoint)
        ckpt = read_checkpoint(checkpoint)
    CheckpointError = io.CheckpointError
    try:
        ranks.unwrap(model).load_state_dict(ckpt["model"])
    except RuntimeError as e:  # missing/unexpected keys, shape mismatches: all named in e
        which = "the checkpoint" if where is None else f"checkpoint {where!r}"
        raise CheckpointError(f"{which} does not fit this model: {e}") from None
    if optimizer is not None:
        if ckpt.get("optimizer") is None:
            raise CheckpointError("load_checkpoint: the checkpoint holds no optimizer state")
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        if ckpt.get("scheduler") is None:
            raise CheckpointError("load_checkpoint: the checkpoint holds no scheduler state "
                                  "(it was saved from a run without a scheduler)")
        scheduler.load_state_dict(ckpt["scheduler"])
    if restore_rng:
        # A data-parallel run restores each rank's own generator (same world size).
        per_rank = ckpt.get("rank_rng_states")
        rank, world = ranks.rank_and_size()
        set_rng_state(per_rank[rank] if per_rank and len(per_rank) == world
                      else ckpt["rng_state"])
        gen = _loader_generator(train_loader)
        if gen is not None and ckpt.get("loader_rng_state") is not None:
            gen.bit_generator.state = ckpt["loader_rng_state"]
    return ckpt
