"""The training loop: ``fit``, ``evaluate`` and ``predict``.

One epoch of ``fit`` is the loop every PyTorch user writes by hand::

    model.train()
    for x, y in train_loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

wrapped with what a real run needs: running loss and metrics, validation under
``eval()`` + ``no_grad``, a learning-rate schedule, callbacks (early stopping, checkpoints,
CSV log, a NaN guard), a progress display, clean Ctrl-C, and exact resumption from a
checkpoint (model, optimizer, scheduler, epoch, step, RNG state and history).
"""
from __future__ import annotations

import math
import os
from typing import Callable, Iterable, Sequence

import numpy as np

from chainrule import threads
from chainrule.autograd import no_grad
from chainrule.tensor import Tensor
from chainrule.train import ranks
from chainrule.train.callbacks import (
    Callback, CallbackList, LRSchedulerCallback, TerminateOnNaN)
from chainrule.train.checkpoint import load_checkpoint
from chainrule.train.history import History
from chainrule.train.metric_specs import MetricSpec, make_metrics
from chainrule.train.names import as_loader, make_loss, make_optimizer
from chainrule.train.progress import ProgressBar
from chainrule.train.state import TrainState

__all__ = ["fit", "evaluate", "predict"]


# ------------------------------------------------------------------- batches
def _as_tensor(x):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    return x  # nested structures are the model's business


def _unpack(batch, who: str):
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return _as_tensor(batch[0]), _as_tensor(batch[1])
    raise TypeError(f"{who}: each batch must be an (inputs, targets) pair, got "
                    f"{type(batch).__name__}"
                    + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))


def _batch_len(x) -> int:
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else 1


def _loss_value(loss, who: str) -> float:
    if not isinstance(loss, Tensor) or loss._array.size != 1:
        raise TypeError(f"{who}: loss_fn must return a scalar Tensor, got "
                        f"{type(loss).__name__} with shape {getattr(loss, 'shape', None)}")
    return float(loss._array.reshape(()))


# ------------------------------------------------------------------ evaluate
def evaluate(model, loader, loss_fn: Callable | str | None = None,
             metrics: Sequence[MetricSpec] = ("accuracy",), *,
             batch_size: int = 256) -> dict[str, float]:
    """Mean loss (when ``loss_fn`` is given) and metrics of ``model`` over ``loader``,
    computed in ``eval()`` mode without recording a graph; the model's train/eval mode is
    restored afterwards. ``loader`` may also be an ``(inputs, targets)`` pair of arrays
    (read in batches of ``batch_size``) and ``loss_fn`` a loss name (``"cross_entropy"``).

    Example:
        >>> cr.train.evaluate(model, test_loader, cr.nn.CrossEntropyLoss())   # doctest: +SKIP
        {'loss': 0.071, 'accuracy': 0.978}
    """
    metric_objs = make_metrics(metrics)
    loader = as_loader(loader, batch_size, False, "evaluate")
    loss_fn = None if loss_fn is None else make_loss(loss_fn)
    loss_sum, seen = _evaluation_pass(model, loader, loss_fn, metric_objs)
    if seen == 0:
        raise ValueError("evaluate: the loader produced no batches")
    logs = {"loss": loss_sum / seen} if loss_fn is not None else {}
    for m in metric_objs:
        logs[m.name] = m.compute()
    return logs


def _evaluation_pass(model, loader, loss_fn, metric_objs: list) -> tuple[float, int]:
    """Feed every batch of ``loader`` to the metrics in eval mode, without a graph;
    returns (summed loss, samples)."""
    was_training = getattr(model, "training", False)
    model.eval()
    loss_sum, seen = 0.0, 0
    try:
        with no_grad():
            for batch in loader:
                x, y = _unpack(batch, "evaluate")
                out = model(x)
                n = _batch_len(y)
                if loss_fn is not None:
                    loss_sum += _loss_value(loss_fn(out, y), "evaluate") * n
                for m in metric_objs:
                    m.update(out, y)
                seen += n
    finally:
        model.train(was_training)
    return loss_sum, seen


# ------------------------------------------------------------------- predict
def predict(model, data, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for every sample, as one ndarray (in ``eval()`` mode, no graph).

    ``data`` is an array/Tensor of inputs (split into batches of ``batch_size``) or an
    iterable of batches (a DataLoader; from ``(inputs, targets)`` pairs the inputs are used).

    Example:
        >>> logits = cr.train.predict(model, X_test)            # doctest: +SKIP
        >>> labels = logits.argmax(axis=1)                       # doctest: +SKIP
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"predict: batch_size must be a positive int, got {batch_size!r}")
    if isinstance(data, (np.ndarray, Tensor, list)):
        arr = data._array if isinstance(data, Tensor) else np.asarray(data)
        if arr.ndim == 0:
            raise ValueError("predict: inputs must have a batch dimension, got a scalar")
        batches: Iterable = (arr[i:i + batch_size] for i in range(0, len(arr), batch_size))
    else:
        batches = data
    was_training = getattr(model, "training", False)
    model.eval()
    outputs = []
    try:
        with no_grad():
            for batch in batches:
                if isinstance(batch, (tuple, list)):
                    batch = batch[0]
                out = model(_as_tensor(batch))
                outputs.append(np.asarray(out._array if isinstance(out, Tensor) else out))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict: no inputs given")
    return np.concatenate(outputs, axis=0)


# ----------------------------------------------------------------------- fit
def fit(model, loss_fn: Callable | str, optimizer, train_loader, epochs: int, val_loader=None,
        metrics: Sequence[MetricSpec] = ("accuracy",), callbacks: Iterable[Callback] = (),
        scheduler=None, scheduler_interval: str = "epoch", verbose: int = 1,
        start_epoch: int = 0, *, history: History | None = None, global_step: int = 0,
        resume: str | os.PathLike | dict | None = None, config: dict | None = None,
        nan_guard: bool = True, scheduler_monitor: str = "val_loss",
        batch_size: int = 32) -> History:
    """Train ``model`` for epochs ``start_epoch + 1 .. epochs`` and return the History.

    Args:
        model: a ``cr.nn.Module``.
        loss_fn: ``loss_fn(outputs, targets)`` -> scalar Tensor (e.g. ``nn.CrossEntropyLoss()``),
            or a loss name: ``"cross_entropy"``, ``"mse"``, ``"bce_with_logits"`` ...
        optimizer: a ``cr.optim`` optimiser over the model's parameters, or a name
            (``"adam"``, ``"sgd"``, ...) for that optimiser with its default arguments.
        train_loader / val_loader: iterables of ``(inputs, targets)`` batches (DataLoaders),
            or ``(inputs, targets)`` pairs of arrays or Tensors, read in batches of
            ``batch_size`` (training: shuffled every epoch).
        epochs: the epoch number to stop after (the total, counting resumed epochs).
        metrics: names (``"accuracy"``, ...) or metric objects with ``update/compute/reset``;
            logged for training batches and, prefixed ``val_``, for validation.
        callbacks: :class:`Callback` objects (EarlyStopping, ModelCheckpoint, CSVLogger, ...).
        scheduler: a learning-rate scheduler, stepped every ``scheduler_interval``
            (``"epoch"`` or ``"batch"``); ReduceLROnPlateau gets ``scheduler_monitor``.
        verbose: 0 silent, 1 progress bar (one line per epoch when stdout is not a
            terminal), 2 one line per epoch.
        start_epoch / history / global_step: continue a run by hand; ``resume`` (a
            checkpoint path or a loaded checkpoint dict) restores all of it plus the model,
            optimizer, scheduler and RNG state, so training continues bit for bit.
        config: a JSON-friendly dict stored in every checkpoint (how to rebuild the model).
        nan_guard: stop when the loss is NaN/Inf (a :class:`TerminateOnNaN` is added).

    A NaN/Inf loss stops training with a message naming the epoch and step; no checkpoint is
    written from such weights. Ctrl-C stops cleanly after printing how to resume; both
    return the History so far.

    Data-parallel (``chainrule.distributed`` initialised with several processes, the model
    wrapped in ``nn.parallel.DistributedDataParallel``, each rank's loader giving it its
    share, e.g. through ``data.DistributedSampler``): losses and metrics are combined over
    the ranks, rank 0 alone shows progress and writes checkpoints and logs, and a loader
    whose sampler has ``set_epoch`` gets the epoch number before each epoch. See
    ``chainrule.train.ranks``.

    The first ``fit`` in a process also fits the BLAS thread count to the cores the process
    may really use (``cr.threads.fit_threads``; a count the user set is kept).

    Example:
        >>> hist = cr.train.fit(model, cr.nn.CrossEntropyLoss(), opt, train_loader, 10,
        ...                     val_loader=val_loader,
        ...                     callbacks=[cr.train.EarlyStopping(patience=2)])  # doctest: +SKIP
        >>> hist.history["val_accuracy"][-1]                                      # doctest: +SKIP
        >>> cr.train.fit(model, "cross_entropy", "adam", (X, y), epochs=5,
        ...              val_loader=(X_val, y_val))                               # doctest: +SKIP
    """
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"fit: verbose must be 0, 1 or 2, got {verbose!r}")
    rank, world = ranks.rank_and_size()
    ranks.check_model(model, world)
    if rank != 0:
        verbose = 0             # one progress display: rank 0's
    threads.fit_threads()
    loss_fn, optimizer = make_loss(loss_fn), make_optimizer(optimizer, model)
    train_loader = as_loader(train_loader, batch_size, True, "fit")
    val_loader = as_loader(val_loader, max(batch_size, 256), False, "fit")
    if resume is not None:
        ckpt = load_checkpoint(resume, model, optimizer, scheduler, train_loader=train_loader)
        start_epoch, global_step = ckpt["epoch"], ckpt["global_step"]
        history = ckpt["history"]
        config = config if config is not None else ckpt.get("config")
    for name, value in (("epochs", epochs), ("start_epoch", start_epoch), ("global_step", global_step)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"fit: {name} must be an int >= 0, got {value!r}")
    history = history if history is not None else History()

    state = TrainState(model, loss_fn, optimizer, scheduler, train_loader, val_loader,
                       int(epochs), int(start_epoch), int(global_step), history,
                       make_metrics(metrics), config, verbose)
    state.rank, state.world_size = rank, world
    cbs = list(callbacks)
    if scheduler is not None:
        cbs.append(LRSchedulerCallback(scheduler, scheduler_interval, scheduler_monitor))
    if nan_guard and not any(isinstance(cb, TerminateOnNaN) for cb in cbs):
        cbs.append(TerminateOnNaN())
    if verbose:
        cbs.append(ProgressBar("lines" if verbose == 2 else "auto"))
    callback_list = CallbackList(cbs)

    if start_epoch >= epochs:
        state.echo(f"fit: already trained for {start_epoch} epochs (epochs={epochs}); "
                   f"nothing to do")
        return history

    callback_list.call("on_train_begin", state)
    try:
        for epoch in range(state.start_epoch + 1, state.epochs + 1):
            state.epoch = epoch
            _train_epoch(state, callback_list)
            if state.diverged:
                break  # no validation, no epoch end: nothing may save the diverged weights
            _finish_epoch(state, callback_list)
            if state.stop_training:
                break
    except KeyboardInterrupt:
        if world > 1:
            raise               # ranks stop at different points: the job ends instead
        state.interrupted = True
        state.stop_reason = _interrupt_message(state)
    callback_list.call("on_train_end", state)
    history.stop_reason, history.interrupted = state.stop_reason, state.interrupted
    history.diverged = state.diverged
    if state.stop_reason:
        state.echo(state.stop_reason, verbose_only=False)
    return history


def _train_epoch(state: TrainState, callbacks: CallbackList) -> None:
    model, optimizer, loss_fn = state.model, state.optimizer, state.loss_fn
    state._loss_sum, state._seen, state._local_seen, state.batch = 0.0, 0, 0, 0
    for m in state.metrics:
        m.reset()
    model.train()
    sampler = getattr(state.train_loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(state.epoch)      # a DistributedSampler's order for this epoch
    callbacks.call("on_epoch_begin", state)
    for batch in state.train_loader:
        x, y = _unpack(batch, "fit")
        state.batch += 1
        state.batch_size = _batch_len(y)
        callbacks.call("on_batch_begin", state)
        optimizer.zero_grad()
        out = model(x)
        loss = loss_fn(out, y)
        state.batch_loss = _loss_value(loss, "fit")
        loss.backward()
        optimizer.step()
        state.global_step += 1
        state._local_seen += state.batch_size
        if state.world_size > 1:
            state.batch_loss, state.batch_size = ranks.global_batch(state.batch_loss,
                                                                    state.batch_size)
        state._loss_sum += state.batch_loss * state.batch_size
        state._seen += state.batch_size
        if math.isfinite(state.batch_loss):
            for m in state.metrics:
                m.update(out.detach(), y)
        callbacks.call("on_batch_end", state)
        if state.stop_training:
            break
    if state._seen == 0:
        raise ValueError("fit: train_loader produced no batches")


def _finish_epoch(state: TrainState, callbacks: CallbackList) -> None:
    """Logs for the epoch (train, then validation), history row, then the callbacks:
    scheduler step, early stopping, checkpoints, CSV, display."""
    if state.world_size == 1:
        logs = state.running_logs()
    else:
        logs = {"loss": state._loss_sum / state._seen}
        logs.update(ranks.combined_metrics(state.metrics, state._local_seen))
    if state.val_loader is not None:
        logs.update({f"val_{k}": v for k, v in _validate(state).items()})
    logs["lr"] = state.lr()  # the rate this epoch trained with (before an epoch-end step)
    state.logs = logs
    state.history.append(state.epoch, logs)
    callbacks.call("on_epoch_end", state)


def _validate(state: TrainState) -> dict[str, float]:
    """Validation logs: ``evaluate`` on the val loader; with several ranks, each rank's
    share combined, on rank 0's buffers (the plain module: no collective per batch, so the
    ranks' shares may differ in size)."""
    metric_objs = [m.fresh() for m in state.metrics]
    if state.world_size == 1:
        return evaluate(state.model, state.val_loader, state.loss_fn, metric_objs)
    ranks.sync_buffers(state.model)
    loss_sum, seen = _evaluation_pass(ranks.unwrap(state.model), state.val_loader,
                                      state.loss_fn, metric_objs)
    loss_sum, total = ranks.sum_over_ranks(loss_sum, seen)
    if total == 0:
        raise ValueError("fit: val_loader produced no batches on any rank")
    logs = {"loss": loss_sum / total}
    logs.update(ranks.combined_metrics(metric_objs, seen))
    return logs


def _interrupt_message(state: TrainState) -> str:
    where = f"interrupted during epoch {state.epoch}, step {state.batch}"
    if state.checkpoint_dir is None:
        return (f"training {where}; no checkpoint was being written (add "
                f"cr.train.ModelCheckpoint to be able to resume)")
    saved = [os.path.join(state.checkpoint_dir, name) for name in ("last.ckpt", "best.ckpt")]
    saved = [path for path in saved if os.path.exists(path)]
    if not saved:
        return f"training {where}; no epoch had finished, so there is no checkpoint to resume from"
    last = saved[0]
    # A checkpoint of the starting state (chainrule train writes one) resumes from epoch 1.
    done = (f"last complete epoch: {state.history.epoch[-1]}" if len(state.history)
            else "no epoch had finished; resuming starts again at epoch 1")
    return (f"training {where}; the checkpoints in {state.checkpoint_dir} are intact ({done}). "
            f"Resume with: chainrule train --resume {state.checkpoint_dir}  (or "
            f"cr.train.fit(..., resume='{last}'))")
