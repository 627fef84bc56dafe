"""The state of a training run, handed to every callback hook of ``fit``.

It lives apart from the loop so that callbacks, checkpoints and the progress display can
name it without importing the loop (which imports them).
"""
from __future__ import annotations

import math
import sys
from typing import Callable

from chainrule.train.history import History

__all__ = ["TrainState"]


class TrainState:
    """Everything the loop knows, handed to every callback hook.

    Epochs and batches are numbered from 1 (``epoch`` 3 of ``epochs`` 10; ``batch`` 17 of
    ``num_batches``); ``start_epoch`` is the number of epochs finished before this ``fit``
    call (non-zero when resuming) and ``global_step`` the optimizer steps taken in all.
    ``logs`` holds the finished epoch's values (``loss``, metrics, ``val_*``, ``lr``) at
    ``on_epoch_end``. Set ``stop_training = True`` to stop after the current batch/epoch.
    """

    def __init__(self, model, loss_fn, optimizer, scheduler, train_loader, val_loader,
                 epochs: int, start_epoch: int, global_step: int, history: History,
                 metrics: list, config: dict | None, verbose: int):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.scheduler = scheduler
        self.train_loader, self.val_loader = train_loader, val_loader
        self.epochs, self.start_epoch, self.global_step = epochs, start_epoch, global_step
        self.history, self.metrics, self.config = history, metrics, dict(config or {})
        self.verbose = verbose
        self.epoch = start_epoch
        self.batch = 0
        self.num_batches = _len_or_none(train_loader)
        self.batch_size = 0
        self.batch_loss = math.nan
        self.logs: dict[str, float] = {}
        self.stop_training = False
        self.stop_reason: str | None = None
        self.diverged = False
        self.interrupted = False
        self.checkpoint_dir: str | None = None
        self.writer: Callable[[str], None] = lambda msg: print(msg, flush=True)
        self._loss_sum = 0.0
        self._seen = 0          # samples this epoch (over every rank)
        self._local_seen = 0    # samples this epoch on this rank
        # Data-parallel training: this process's rank and how many train together. Rank 0
        # alone prints and writes files.
        self.rank, self.world_size = 0, 1

    def echo(self, msg: str, verbose_only: bool = True) -> None:
        """Show a message: an informational one (``verbose_only``) through the progress
        display unless ``verbose=0``; one that explains a stop or a refusal on stderr."""
        if self.rank != 0:
            return
        if not verbose_only:
            print(msg, file=sys.stderr, flush=True)
        elif self.verbose:
            self.writer(msg)

    def running_logs(self) -> dict[str, float]:
        """The epoch so far: mean training loss and metrics over the batches seen."""
        logs = {"loss": self._loss_sum / self._seen if self._seen else math.nan}
        for m in self.metrics:
            logs[m.name] = m.compute()
        return logs

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])


def _len_or_none(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
