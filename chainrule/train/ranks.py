"""What ``fit`` does differently when several processes train together (a process group
of more than one, ``chainrule.distributed``).

* Every batch, the ranks' losses are combined (one small all-reduce): callbacks and the
  progress display see the loss of the global batch, and a stop (a NaN loss) happens on
  every rank at the same step, never on one alone (the others would wait for it forever).
* At the end of an epoch the metrics are combined exactly: the built-in metrics keep sums
  (correct and total counts, confusion counts, error sums), which are added over the ranks;
  any other metric is averaged over the ranks weighted by their sample counts (exact for
  a per-sample mean). Validation runs on each rank's share and is combined the same way.
* Rank 0 alone prints and writes files (checkpoints, CSV logs); a checkpoint also carries
  every rank's random generator state, so a resumed run continues bit for bit.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from chainrule import distributed as dist
from chainrule.metrics import Accuracy, ConfusionMatrix, Mean
from chainrule.metrics.streaming import _MeanError
from chainrule.nn.parallel import DistributedDataParallel
from chainrule.random import get_rng_state
from chainrule.train.metric_specs import _FunctionMetric

# The sums each built-in metric keeps: its result over all ranks is its result over these
# sums added up.
_SUMS: dict[type, tuple[str, ...]] = {Mean: ("total", "weight"), Accuracy: ("correct", "total"),
                                      ConfusionMatrix: ("counts",), _MeanError: ("sums", "count")}


def rank_and_size() -> tuple[int, int]:
    """(rank, world size) of the default group, (0, 1) when there is none."""
    if not dist.is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def unwrap(model):
    """The model inside a DistributedDataParallel (what checkpoints and evaluation use)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def check_model(model, world: int) -> None:
    if world > 1 and not isinstance(model, DistributedDataParallel):
        raise ValueError(f"fit: {world} processes are training together but the model is not "
                         f"wrapped in nn.parallel.DistributedDataParallel, so each would train "
                         f"its own copy; wrap it: "
                         f"model = nn.parallel.DistributedDataParallel(model)")


def global_batch(loss: float, count: int) -> tuple[float, int]:
    """(mean loss, sample count) of the global batch from this rank's (mean loss, count)."""
    totals = np.array([loss * count, count], dtype=np.float64)
    dist.all_reduce(totals)
    return float(totals[0] / totals[1]), int(totals[1])


def sum_over_ranks(*values: float) -> list[float]:
    totals = np.array(values, dtype=np.float64)
    dist.all_reduce(totals)
    return totals.tolist()


def _sums_of(metric) -> tuple[Any, tuple[str, ...]]:
    """The object holding a tracked metric's sums and their names ((None, ()) if unknown)."""
    inner = metric.mean if isinstance(metric, _FunctionMetric) else metric
    for kind, names in _SUMS.items():
        if isinstance(inner, kind):
            return inner, names
    return None, ()


def combined_metrics(tracked: list, samples: int) -> dict[str, float]:
    """The values of ``tracked`` (fit's metrics) over every rank's data; ``samples``: how
    many this rank fed them. Collective."""
    mine = []
    for t in tracked:
        holder, names = _sums_of(t.metric)
        if names:
            mine.append([getattr(holder, n) for n in names])
        else:
            mine.append((t.compute() if samples else 0.0, samples))
    everyone: list = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    out = {}
    for i, t in enumerate(tracked):
        holder, names = _sums_of(t.metric)
        if names:
            twin = copy.deepcopy(t)
            twin_holder, _ = _sums_of(twin.metric)
            for k, name in enumerate(names):
                parts = [rank[i][k] for rank in everyone if rank[i][k] is not None]
                setattr(twin_holder, name, sum(parts[1:], parts[0]) if parts else None)
            out[t.name] = twin.compute()
        else:
            weight = sum(rank[i][1] for rank in everyone)
            out[t.name] = sum(rank[i][0] * rank[i][1] for rank in everyone) / weight
    return out


def rng_states() -> list[dict]:
    """Every rank's global generator state, in rank order (collective)."""
    states: list = [None] * dist.get_world_size()
    dist.all_gather_object(states, get_rng_state())
    return states


def sync_buffers(model) -> None:
    """Rank 0's buffers (BatchNorm running statistics) into every rank's copy."""
    for buffer in unwrap(model).buffers():
        dist.broadcast(buffer, src=0)
