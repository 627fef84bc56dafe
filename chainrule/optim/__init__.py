"""Optimisers and learning-rate schedules, with PyTorch's names, arguments and update rules.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = cr.optim.Adam([w], lr=0.1)
    >>> sched = cr.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    >>> for _ in range(10):
    ...     opt.zero_grad()
    ...     loss = (w * w).sum()
    ...     loss.backward()
    ...     opt.step()
    ...     sched.step()

Gradient clipping lives in ``chainrule.nn.utils`` (``clip_grad_norm_``), as in PyTorch.
"""
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.sgd import SGD
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adadelta import Adadelta
from chainrule.optim.adamax import Adamax
from chainrule.optim.nadam import NAdam, RAdam
from chainrule.optim.lbfgs import LBFGS
from chainrule.optim import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
           "NAdam", "RAdam", "LBFGS", "lr_scheduler"]
