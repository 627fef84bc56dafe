"""The command under an MPI launcher: ``mpiexec -n 4 chainrule train ...``.

Every process runs the same command. Started by a launcher, ``train`` joins them into a
process group (:func:`start`); each rank then trains a DistributedDataParallel copy of the
model on its share of every batch, and rank 0 alone prints and writes the run folder.

``--batch-size`` is the *global* batch: each of N ranks takes ``batch_size / N`` samples
of it (so it must divide evenly), and the learning rate is the one for that global batch.
The same command on 1 or N processes therefore trains the same way (up to the order in
which samples are drawn), and nothing needs rescaling.

A rank that fails ends the job: the error is reported once, as ``chainrule: error: rank 2
of 4: <cause>``, and MPI stops every rank (:func:`report_error`).
"""
from __future__ import annotations

import sys
import time

import numpy as np

import chainrule as cr
from chainrule import distributed as dist, threads
from chainrule.cli.errors import UserError
from chainrule.data import DataLoader, DistributedSampler, Subset, TensorDataset
from chainrule.train.ranks import unwrap

__all__ = ["start", "rank", "world_size", "per_rank_batch", "loaders", "wrap", "unwrap",
           "header", "finish", "report_error", "share_run_dir"]

# A failing rank other than 0 waits this long before reporting: when every rank meets the
# same error (a bad file, say), rank 0 reports it once and its abort ends the others first.
# Generous, since on a loaded machine rank 0 can reach the same line seconds later (2 s was
# seen to be too short during a full test run); it only delays an error of rank N alone.
_GRACE_SECONDS = 5.0


def start() -> None:
    """Join the process group when a launcher started several processes (a no-op
    otherwise, and for a second call)."""
    launch = dist.launched_by_mpi()
    if launch is not None and launch[0] > 1 and not dist.is_initialized():
        dist.init_process_group("mpi")


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def per_rank_batch(batch_size: int) -> int:
    """Each rank's share of the global ``--batch-size``."""
    world = world_size()
    if batch_size % world:
        below, above = batch_size - batch_size % world, batch_size + world - batch_size % world
        raise UserError(f"--batch-size {batch_size} (the global batch) must split evenly over "
                        f"the {world} processes; use {max(below, world)} or {above}")
    return batch_size // world


def loaders(data, batch_size: int, seed: int) -> tuple[DataLoader, DataLoader | None]:
    """(train, validation) loaders. One process: the whole data set, shuffled from the
    global generator. Several: each rank a DistributedSampler share of the training data
    (shuffled from ``seed`` and the epoch) in batches of its share of ``batch_size``, and
    every ``world``-th validation sample (fit combines the ranks' results exactly)."""
    train_set = TensorDataset(data.X_train, data.y_train)
    world = world_size()
    val_set = None if data.X_val is None else TensorDataset(data.X_val, data.y_val)
    if world == 1:
        train = DataLoader(train_set, batch_size=batch_size, shuffle=True)
        return train, None if val_set is None else DataLoader(val_set, batch_size=512)
    sampler = DistributedSampler(train_set, shuffle=True, seed=seed)
    train = DataLoader(train_set, batch_size=per_rank_batch(batch_size), sampler=sampler)
    if val_set is None:
        return train, None
    share = Subset(val_set, np.arange(rank(), len(val_set), world))
    return train, DataLoader(share, batch_size=512)


def wrap(model, seed: int):
    """With several ranks: the model in DistributedDataParallel (rank 0's weights for all,
    gradients kept in its buckets), its BatchNorm layers as SyncBatchNorm (statistics of the
    global batch, as one process would have them; the checkpoints' keys are the same), and
    each rank's own random stream (dropout masks) from ``seed`` and its rank."""
    if world_size() == 1:
        return model
    model = cr.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    # The command keeps no gradient across steps, so they may live in the buckets (one pass
    # over them less per step; see DistributedDataParallel's gradient_as_bucket_view).
    model = cr.nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=True)
    cr.manual_seed(seed + rank())
    return model


def header(batch_size: int) -> str | None:
    """The line that says how the work is split (None for one process)."""
    world = world_size()
    if world == 1:
        return None
    line = (f"data parallel: {world} processes x {batch_size // world} samples = global batch "
            f"{batch_size} (--batch-size is the global batch; the learning rate is the one "
            f"for it, unscaled); rank 0 writes the run folder")
    busy = threads.measured_busy
    if busy is not None and busy >= 0.5:
        line += (f"\nnote: other programs kept {busy:.1f} of this machine's cores busy as the "
                 f"job started; the ranks wait for each other at every step, so expect less "
                 f"speed-up than on an idle machine")
    return line


def finish() -> None:
    """Wait here, sleeping, until every rank is done (rank 0 tests the model and writes the
    run folder after training). MPI's own wait at exit would spin on a core that rank 0
    needs."""
    if world_size() == 1:
        return
    work = dist.barrier(async_op=True)
    while not work.is_completed():
        time.sleep(0.01)


def share_run_dir(run_dir: str | None) -> str:
    """Rank 0's run folder, on every rank."""
    if world_size() == 1:
        return run_dir
    box = [run_dir]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def report_error(line: str, status: int) -> int:
    """Show a command's one-line error and return its exit status; under a launcher with
    several processes, say which rank failed and end every rank (MPI_Abort), since the
    others would otherwise wait for the failed one forever."""
    launch = dist.launched_by_mpi()
    if launch is None or launch[0] == 1:
        print(line, file=sys.stderr, flush=True)
        return status
    size, this_rank = launch
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        # Before the ranks joined up (bad options): every rank has the same error.
        if this_rank == 0:
            print(line, file=sys.stderr, flush=True)
        return status
    if this_rank != 0:
        time.sleep(_GRACE_SECONDS)
    prefix, _, cause = line.partition("error: ")
    dist.abort(f"{prefix}error: rank {this_rank} of {size}: {cause}" if cause else
               f"{line} (rank {this_rank} of {size})", status)
    return status
