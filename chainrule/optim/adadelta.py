"""Adadelta: steps scaled by the ratio of running RMS of past updates to running RMS of
gradients, so no learning rate needs tuning at first (Zeiler, 2012)."""
from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, ParamsT, _check_at_least, _directed_grad

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (PyTorch's ``torch.optim.Adadelta``, same update).

    With ``g = grad + weight_decay * p`` (negated first when ``maximize``)::

        v = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p = p - lr * delta

    Args:
        params: parameters or parameter groups to optimise.
        lr: scales the step (default 1.0).
        rho: decay rate of the running averages (default 0.9).
        eps: added inside both square roots (default 1e-6).
        weight_decay: L2 penalty coefficient (default 0).
        maximize: ascend the objective instead of descending it.

    State per parameter: ``step``, ``square_avg`` (v) and ``acc_delta`` (u).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.Adadelta([w])
        >>> opt.zero_grad(); (w * w).sum().backward(); opt.step()
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_at_least("lr", group["lr"], 0.0)
        _check_at_least("eps", group["eps"], 0.0)
        _check_at_least("weight_decay", group["weight_decay"], 0.0)
        rho = group["rho"]
        if not isinstance(rho, (int, float, np.floating)) or isinstance(rho, bool) \
                or not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: rho={rho!r} (expected 0 <= rho <= 1)")

    def _update_param(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                      group: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
            state["acc_delta"] = np.zeros_like(param)
        rho, eps = group["rho"], group["eps"]
        state["step"] += 1
        g = _directed_grad(param, grad, group["weight_decay"], group["maximize"])
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1.0 - rho) * (g * g)
        delta = np.sqrt(acc_delta + eps)
        delta /= np.sqrt(square_avg + eps)
        delta *= g
        acc_delta *= rho
        acc_delta += (1.0 - rho) * (delta * delta)
        delta *= group["lr"]
        param -= delta
