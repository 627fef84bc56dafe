"""Training: ``fit`` / ``evaluate`` / ``predict``, callbacks, the History, checkpoints.

    >>> import chainrule as cr
    >>> history = cr.train.fit(model, cr.nn.CrossEntropyLoss(), opt, train_loader, epochs=10,
    ...                        val_loader=val_loader,
    ...                        callbacks=[cr.train.EarlyStopping(patience=3),
    ...                                   cr.train.ModelCheckpoint("runs/exp1")])  # doctest: +SKIP
    >>> history.plot("curves.png")                                                  # doctest: +SKIP

Resume a stopped run exactly (same parameters, bit for bit, as an uninterrupted run):
``cr.train.fit(model, loss_fn, opt, train_loader, epochs=20, resume="runs/exp1/last.ckpt")``.
"""
from chainrule.train.history import History
from chainrule.train.callbacks import (
    Callback, CallbackList, LambdaCallback, EarlyStopping, ModelCheckpoint, LRSchedulerCallback,
    CSVLogger, TerminateOnNaN)
from chainrule.train.progress import ProgressBar
from chainrule.train.state import TrainState
from chainrule.train.loop import fit, evaluate, predict
from chainrule.train.checkpoint import save_checkpoint, load_checkpoint, read_checkpoint
from chainrule.train.distillation import Distiller

__all__ = ["History", "Callback", "CallbackList", "LambdaCallback", "EarlyStopping",
           "ModelCheckpoint", "LRSchedulerCallback", "CSVLogger", "TerminateOnNaN", "ProgressBar",
           "fit", "evaluate", "predict", "TrainState", "save_checkpoint", "load_checkpoint",
           "read_checkpoint", "Distiller"]
