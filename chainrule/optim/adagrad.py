"""Adagrad: per-coordinate steps that shrink with the sum of all past squared gradients
(Duchi, Hazan & Singer, 2011)."""
from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, ParamsT, _check_at_least, _directed_grad

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (PyTorch's ``torch.optim.Adagrad``, same update).

    At step ``t``, with ``g = grad + weight_decay * p`` (negated first when ``maximize``)::

        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                      (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    Args:
        params: parameters or parameter groups to optimise.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty coefficient (default 0).
        initial_accumulator_value: starting value of the squared-gradient sum (default 0).
        eps: added to the denominator for numerical stability (default 1e-10).
        maximize: ascend the objective instead of descending it.

    A parameter group's own ``initial_accumulator_value`` fills its accumulators (PyTorch uses
    the constructor's value for every group).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.Adagrad([w], lr=0.1, initial_accumulator_value=0.1)
        >>> opt.zero_grad(); (w * w).sum().backward(); opt.step()
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_at_least("lr", group["lr"], 0.0)
        _check_at_least("lr_decay", group["lr_decay"], 0.0)
        _check_at_least("weight_decay", group["weight_decay"], 0.0)
        _check_at_least("initial_accumulator_value", group["initial_accumulator_value"], 0.0)
        _check_at_least("eps", group["eps"], 0.0)

    def _update_param(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                      group: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(param, group["initial_accumulator_value"])
        state["step"] += 1
        g = _directed_grad(param, grad, group["weight_decay"], group["maximize"])
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])

        total = state["sum"]
        scratch = np.multiply(g, g)                         # s += g^2
        total += scratch
        std = np.sqrt(total, out=scratch)                   # sqrt(s) + eps
        std += group["eps"]
        step_dir = np.divide(g, std, out=std)
        step_dir *= clr
        param -= step_dir
