"""What ``fit`` and ``evaluate`` accept besides objects: loss and optimiser names, and
``(inputs, targets)`` arrays in place of a loader (Keras's ``fit(x, y)`` habit).

Names are the class names in ``chainrule.nn`` / ``chainrule.optim``, case and underscores
ignored, the ``Loss`` suffix optional, so every loss and optimiser chainrule has is
reachable and none needs listing: ``"cross_entropy"`` is ``nn.CrossEntropyLoss()``, ``"mse"``
``nn.MSELoss()``, ``"bce_with_logits"`` ``nn.BCEWithLogitsLoss()``; ``"adam"`` is
``optim.Adam(model.parameters())``, ``"sgd"``, ``"adamw"``, ``"rmsprop"`` ... with their
default arguments.

    >>> from chainrule import nn
    >>> type(make_loss("cross_entropy")).__name__, type(make_optimizer("adamw", nn.Linear(2, 1))).__name__
    ('CrossEntropyLoss', 'AdamW')
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.tensor import Tensor

__all__ = ["make_loss", "make_optimizer", "as_loader"]


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def _classes(namespace, base: type, suffix: str = "") -> dict[str, type]:
    found = {}
    for attr in dir(namespace):
        obj = getattr(namespace, attr)
        if isinstance(obj, type) and issubclass(obj, base) and obj is not base \
                and obj.__name__.endswith(suffix) and not obj.__name__.startswith("_"):
            found[_key(obj.__name__)] = obj
    return found


def make_loss(loss: str | Callable) -> Callable:
    """A loss function: a callable as it is, or a name (``"cross_entropy"``, ``"mse"``,
    ``"nll"``, ``"bce"``, ``"bce_with_logits"``, ``"l1"``, ``"huber"``, ``"smooth_l1"``,
    ``"kl_div"``, or a class name such as ``"CrossEntropyLoss"``) made into that loss with
    its default arguments."""
    if callable(loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss_fn must be a callable or a loss name, got {type(loss).__name__}")
    losses = _classes(nn, nn.Module, "Loss")
    key = _key(loss)
    cls = losses.get(key if key.endswith("loss") else key + "loss")
    if cls is None:
        names = sorted(_snake(c.__name__[:-4]) for c in losses.values())
        raise ValueError(f"unknown loss {loss!r}; give a callable or one of {', '.join(names)}")
    return cls()


def make_optimizer(optimizer, model) -> optim.Optimizer:
    """An optimiser: an Optimizer as it is, or a name (``"adam"``, ``"sgd"``, ``"adamw"``,
    ``"rmsprop"``, ...) made into that optimiser over ``model.parameters()`` with its
    default arguments (learning rate included)."""
    if isinstance(optimizer, optim.Optimizer):
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be a chainrule.optim optimiser or its name, got "
                        f"{type(optimizer).__name__}")
    classes = _classes(optim, optim.Optimizer)
    cls = classes.get(_key(optimizer))
    if cls is None:
        names = sorted(c.__name__.lower() for c in classes.values())
        raise ValueError(f"unknown optimizer {optimizer!r}; give an optimiser object or one of "
                         f"{', '.join(names)}")
    if not hasattr(model, "parameters"):
        raise TypeError(f"optimizer {optimizer!r} given by name needs a model with "
                        f"parameters(), got {type(model).__name__}")
    return cls(model.parameters())


def _snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i and (name[i - 1].islower() or
                                   (i + 1 < len(name) and name[i + 1].islower())):
            out += "_"
        out += ch.lower()
    return out


def _is_array(x) -> bool:
    return isinstance(x, (np.ndarray, Tensor))


def as_loader(data, batch_size: int, shuffle: bool, who: str):
    """``data`` as an iterable of batches: an ``(inputs, targets)`` pair of arrays or
    Tensors becomes a DataLoader over them (``batch_size``, ``shuffle``); anything else
    (a DataLoader, a list of batches) is returned as it is."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(_is_array(d) for d in data):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"{who}: batch_size must be a positive int, got {batch_size!r}")
        inputs, targets = data
        if len(inputs) != len(targets):
            raise ValueError(f"{who}: inputs and targets have different numbers of samples "
                             f"({len(inputs)} and {len(targets)}; shapes {tuple(inputs.shape)} "
                             f"and {tuple(targets.shape)})")
        return DataLoader(TensorDataset(inputs, targets), batch_size=int(batch_size),
                          shuffle=shuffle)
    return data
