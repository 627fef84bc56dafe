"""Callbacks: code that runs at fixed points of ``fit`` (Keras's hooks, PyTorch's names).

Every hook receives the loop's :class:`~chainrule.train.state.TrainState` (model, optimizer,
epoch, global step, logs, history, ...) and may set ``state.stop_training = True``.
Callbacks run in ascending ``order`` (then in the order given): the NaN guard and scheduler
first, so a checkpoint saved at the end of an epoch already holds the stepped scheduler and
never holds weights from a diverged step; the progress display last.

    >>> import chainrule as cr
    >>> stop = cr.train.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    >>> ckpt = cr.train.ModelCheckpoint("runs/demo", monitor="val_accuracy")
    >>> # cr.train.fit(model, loss_fn, opt, train_loader, 20, val_loader=val, callbacks=[stop, ckpt])
"""
from __future__ import annotations

import csv
import math
import os
from typing import Any, Iterable

import numpy as np

from chainrule.optim.lr_scheduler import ReduceLROnPlateau
from chainrule.train.checkpoint import copy_state_dict, save_checkpoint
from chainrule.train.history import _is_better_fn, resolve_mode
from chainrule.train.state import TrainState

__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint", "LRSchedulerCallback",
           "CSVLogger", "TerminateOnNaN", "LambdaCallback"]


class Callback:
    """Base class: override the hooks you need; each gets the loop state.

    Example:
        >>> class PrintLR(Callback):
        ...     def on_epoch_end(self, state):
        ...         state.echo(f"lr is now {state.optimizer.param_groups[0]['lr']}")
    """

    #: Callbacks run in ascending order; ties keep the order they were given in.
    order: int = 0

    def on_train_begin(self, state: TrainState) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...
    def on_epoch_begin(self, state: TrainState) -> None: ...
    def on_epoch_end(self, state: TrainState) -> None: ...
    def on_batch_begin(self, state: TrainState) -> None: ...
    def on_batch_end(self, state: TrainState) -> None: ...


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda s: ...)``."""

    _HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
              "on_batch_begin", "on_batch_end")

    def __init__(self, order: int = 0, **hooks):
        unknown = set(hooks) - set(self._HOOKS)
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hooks {sorted(unknown)}; "
                            f"choose from {list(self._HOOKS)}")
        self.order = order
        for name, fn in hooks.items():
            setattr(self, name, fn)


class CallbackList:
    """Runs a list of callbacks in ``order``."""

    def __init__(self, callbacks: Iterable[Callback] = ()):
        callbacks = list(callbacks)
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected chainrule.train.Callback instances, got "
                                f"{type(cb).__name__}")
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)  # sorted() is stable

    def __iter__(self):
        return iter(self.callbacks)

    def call(self, hook: str, state: TrainState) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(state)


# --------------------------------------------------------------------- helpers
def _monitored(state: TrainState, monitor: str, who: str) -> float:
    """The value of ``monitor`` in this epoch's logs, or a clear error listing what there is."""
    if monitor not in state.logs:
        hint = " (pass val_loader to fit to get val_ values)" if monitor.startswith("val_") else ""
        raise KeyError(f"{who}: monitor {monitor!r} is not among the logged values "
                       f"{sorted(state.logs)}{hint}")
    return float(state.logs[monitor])


def _check_monitor(state: TrainState, monitor: str, who: str) -> None:
    """Fail at the start, not after the first epoch, when validation values are asked for
    but there is no validation data."""
    if monitor.startswith("val_") and state.val_loader is None:
        raise ValueError(f"{who}: monitor {monitor!r} needs validation data; pass val_loader to "
                         f"fit or monitor a training value such as 'loss'")


def _best_so_far(state: TrainState, monitor: str, mode: str) -> tuple[float, int | None]:
    """Best value and its epoch among the rows already in the history (for resumed runs):
    a callback's running best is derived from the history, so nothing extra is checkpointed."""
    if monitor in state.history and any(not math.isnan(v) for v in state.history[monitor]):
        epoch, value = state.history.best(monitor, mode)
        return value, epoch
    return (math.inf if mode == "min" else -math.inf), None


def params_finite(model) -> bool:
    """True when every floating parameter and buffer of ``model`` is finite."""
    for value in model.state_dict().values():
        arr = np.asarray(value)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            return False
    return True


# ---------------------------------------------------------------- NaN guard
class TerminateOnNaN(Callback):
    """Stop as soon as a training loss is NaN or infinite (``fit`` adds one by default).

    The stop message names the epoch and step. The loop then skips the epoch's end, so no
    checkpoint is written from the diverged weights; the last good checkpoint stays as it was.
    """

    order = -100

    def on_batch_end(self, state: TrainState) -> None:
        if not math.isfinite(state.batch_loss):
            state.diverged = True
            state.stop_training = True
            state.stop_reason = (
                f"training stopped: the loss became {state.batch_loss} at epoch {state.epoch}, "
                f"step {state.batch} (global step {state.global_step}); "
                f"the weights from this step were not saved")


# ---------------------------------------------------------------- scheduler
def _is_plateau(scheduler) -> bool:
    """ReduceLROnPlateau: its ``step`` needs the monitored value."""
    return isinstance(scheduler, ReduceLROnPlateau)


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler after every batch or every epoch.

    ``ReduceLROnPlateau`` is stepped with the monitored value (``monitor``, falling back to
    ``"loss"`` when there is no validation). ``fit(scheduler=...)`` uses this callback; pass
    it yourself to choose ``monitor``. The scheduler's state goes into checkpoints.

    Example:
        >>> sched = cr.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)   # doctest: +SKIP
        >>> cr.train.fit(..., callbacks=[LRSchedulerCallback(sched)])             # doctest: +SKIP
    """

    order = -50

    def __init__(self, scheduler, interval: str = "epoch", monitor: str = "val_loss"):
        if interval not in ("epoch", "batch"):
            raise ValueError(f"LRSchedulerCallback: interval must be 'epoch' or 'batch', got {interval!r}")
        if not hasattr(scheduler, "step"):
            raise TypeError(f"LRSchedulerCallback: scheduler must have a step() method, got "
                            f"{type(scheduler).__name__}")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor
        if _is_plateau(scheduler) and interval == "batch":
            raise ValueError("LRSchedulerCallback: ReduceLROnPlateau steps once per epoch with "
                             "the monitored value; use interval='epoch'")

    def on_train_begin(self, state: TrainState) -> None:
        if state.scheduler is None:
            state.scheduler = self.scheduler
        elif state.scheduler is not self.scheduler:
            raise ValueError("fit: two schedulers given (scheduler= and an LRSchedulerCallback); "
                             "use one")

    def on_batch_end(self, state: TrainState) -> None:
        if self.interval == "batch" and not state.diverged:
            self.scheduler.step()

    def on_epoch_end(self, state: TrainState) -> None:
        if self.interval != "epoch":
            return
        if _is_plateau(self.scheduler):
            monitor = self.monitor if self.monitor in state.logs else "loss"
            self.scheduler.step(_monitored(state, monitor, "LRSchedulerCallback"))
        else:
            self.scheduler.step()


# ---------------------------------------------------------------- early stop
class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row (Keras's rule; ``patience=0`` stops at the first epoch without
    improvement); with ``restore_best_weights`` the model ends with the best epoch's weights.

    Example:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 0,
                 min_delta: float = 0.0, restore_best_weights: bool = False, verbose: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode = resolve_mode(monitor, mode)
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        self._better = _is_better_fn(self.mode, self.min_delta)
        self.best: float = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_train_begin(self, state: TrainState) -> None:
        _check_monitor(state, self.monitor, "EarlyStopping")
        # A resumed run continues counting from the history it carries.
        self.best, self.best_epoch = _best_so_far(state, self.monitor, self.mode)
        self.wait = 0 if self.best_epoch is None else state.start_epoch - self.best_epoch
        self.stopped_epoch = None

    def on_epoch_end(self, state: TrainState) -> None:
        current = _monitored(state, self.monitor, "EarlyStopping")
        if self._better(current, self.best):
            self.best, self.best_epoch, self.wait = current, state.epoch, 0
            if self.restore_best_weights:
                self.best_weights = copy_state_dict(state.model)
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = state.epoch
            state.stop_training = True
            state.echo(f"EarlyStopping: {self.monitor} has not improved for {self.wait} epochs "
                       f"(best {self.best:.6g} at epoch {self.best_epoch}); "
                       f"stopping after epoch {state.epoch}", verbose_only=True)

    def on_train_end(self, state: TrainState) -> None:
        if not self.restore_best_weights or self.best_epoch is None:
            return
        if self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)
            state.echo(f"EarlyStopping: restored the weights of epoch {self.best_epoch} "
                       f"({self.monitor} {self.best:.6g})", verbose_only=True)
        else:
            state.echo(f"EarlyStopping: the best weights (epoch {self.best_epoch}) were "
                       f"found before this run resumed; load them from the best checkpoint",
                       verbose_only=True)


# ---------------------------------------------------------------- checkpoint
class ModelCheckpoint(Callback):
    """Save checkpoints at the end of epochs with ``cr.save``.

    Give ``dirpath`` to keep ``best.ckpt`` (rewritten when ``monitor`` improves) and
    ``last.ckpt`` (every epoch, unless ``save_best_only``); or ``filepath`` for one file,
    which may hold ``str.format`` fields from the logs, e.g. ``"ck-{epoch:02d}-{val_loss:.3f}.ckpt"``
    (``epoch`` counts from 1). A checkpoint holds the model, optimizer and scheduler state,
    the epoch, the global step, the RNG state, the history and ``fit``'s ``config``: enough for
    ``fit(..., resume=path)`` to continue exactly. Weights that are not finite are never saved.
    In data-parallel training every rank runs it and rank 0 writes the files.

    Example:
        >>> ckpt = ModelCheckpoint("runs/exp1", monitor="val_accuracy")   # mode "auto" -> max
    """

    order = 50

    def __init__(self, dirpath: str | os.PathLike | None = None, filepath: str | None = None,
                 monitor: str = "val_loss", mode: str = "auto", save_best_only: bool = False,
                 verbose: bool = False):
        if (dirpath is None) == (filepath is None):
            raise ValueError("ModelCheckpoint: give exactly one of dirpath (best.ckpt and "
                             "last.ckpt) or filepath (one file)")
        self.dirpath = None if dirpath is None else os.fspath(dirpath)
        self.filepath = filepath
        self.monitor, self.mode = monitor, resolve_mode(monitor, mode)
        self.save_best_only, self.verbose = save_best_only, verbose
        self._better = _is_better_fn(self.mode, 0.0)
        self.best: float = math.inf if self.mode == "min" else -math.inf
        self.best_path: str | None = None
        self.last_path: str | None = None

    def on_train_begin(self, state: TrainState) -> None:
        _check_monitor(state, self.monitor, "ModelCheckpoint")
        self.best, _ = _best_so_far(state, self.monitor, self.mode)
        if self.dirpath is not None:
            if state.rank == 0:         # rank 0 writes the files (save_checkpoint)
                os.makedirs(self.dirpath, exist_ok=True)
            state.checkpoint_dir = self.dirpath

    def on_epoch_end(self, state: TrainState) -> None:
        current = _monitored(state, self.monitor, "ModelCheckpoint")
        improved = not math.isnan(current) and self._better(current, self.best)
        if not params_finite(state.model):
            state.echo(f"ModelCheckpoint: epoch {state.epoch} has weights that are not "
                       f"finite; no checkpoint written", verbose_only=False)
            return
        if improved:
            self.best = current
        if self.filepath is not None:
            if improved or not self.save_best_only:
                path = self.filepath.format(epoch=state.epoch, **state.logs)
                if state.rank == 0:
                    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                save_checkpoint(path, state)
                self.last_path = path
                if improved:
                    self.best_path = path
            return
        if improved:
            self.best_path = os.path.join(self.dirpath, "best.ckpt")
            save_checkpoint(self.best_path, state)
            if self.verbose:
                state.echo(f"ModelCheckpoint: {self.monitor} improved to {current:.6g}; "
                           f"saved {self.best_path}", verbose_only=True)
        if not self.save_best_only:
            self.last_path = os.path.join(self.dirpath, "last.ckpt")
            save_checkpoint(self.last_path, state)


# ---------------------------------------------------------------- CSV logger
class CSVLogger(Callback):
    """Append one row per epoch (the epoch number, then every logged value) to a CSV file,
    flushed each epoch so a crash loses nothing; ``append=True`` continues an existing file
    (as a resumed run should).

    Example:
        >>> log = CSVLogger("runs/exp1/log.csv")
    """

    order = 60

    def __init__(self, path: str | os.PathLike, append: bool = False, separator: str = ","):
        self.path, self.append, self.separator = os.fspath(path), append, separator
        self._file = None
        self._writer = None
        self._keys: list[str] | None = None

    def on_train_begin(self, state: TrainState) -> None:
        if state.rank != 0:
            return                      # one log per run: rank 0 writes it
        keep = self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        self._keys = None
        if keep:
            with open(self.path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self._keys = header[1:] if header else None
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._file = open(self.path, "a" if keep else "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, delimiter=self.separator)

    def on_epoch_end(self, state: TrainState) -> None:
        if self._file is None:
            return
        if self._keys is None:
            self._keys = list(state.logs)
            self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([state.epoch] + [_csv_value(state.logs.get(k)) for k in self._keys])
        self._file.flush()

    def on_train_end(self, state: TrainState) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _csv_value(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(float(v))
