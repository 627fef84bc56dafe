"""RMSprop: gradient steps divided by a running root-mean-square of recent gradients
(Hinton's lecture notes; centred variant: Graves, 2013)."""
from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import (
    Optimizer, ParamsT, _check_at_least, _directed_grad, _lerp_)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (PyTorch's ``torch.optim.RMSprop``, same update).

    With ``g = grad + weight_decay * p`` (negated first when ``maximize``)::

        v = alpha * v + (1 - alpha) * g * g
        a = alpha * a + (1 - alpha) * g                 (centered only)
        s = sqrt(v - a * a) if centered else sqrt(v)
        b = momentum * b + g / (s + eps);  p = p - lr * b     (momentum > 0)
        p = p - lr * g / (s + eps)                            (otherwise)

    Args:
        params: parameters or parameter groups to optimise.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty coefficient (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by an estimate of the gradient's variance instead of its second
            moment.
        maximize: ascend the objective instead of descending it.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.RMSprop([w], lr=0.01, momentum=0.9, centered=True)
        >>> opt.zero_grad(); (w * w).sum().backward(); opt.step()
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_at_least("lr", group["lr"], 0.0)
        _check_at_least("eps", group["eps"], 0.0)
        _check_at_least("momentum", group["momentum"], 0.0)
        _check_at_least("weight_decay", group["weight_decay"], 0.0)
        _check_at_least("alpha", group["alpha"], 0.0)

    def _update_param(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                      group: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
        # Buffers an option needs are created when the option is first seen (it may be switched
        # on mid-training, e.g. by OneCycleLR cycling the momentum).
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = np.zeros_like(param)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(param)
        lr, alpha, momentum = group["lr"], group["alpha"], group["momentum"]
        state["step"] += 1
        g = _directed_grad(param, grad, group["weight_decay"], group["maximize"])

        square_avg = state["square_avg"]
        scratch = np.empty_like(param)
        square_avg *= alpha                                 # v = alpha v + (1 - alpha) g^2
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - alpha
        square_avg += scratch

        avg = scratch
        if group["centered"]:
            grad_avg = state["grad_avg"]
            _lerp_(grad_avg, g, 1.0 - alpha, scratch)       # a += (1 - alpha) (g - a)
            np.multiply(grad_avg, grad_avg, out=avg)        # s = sqrt(v - a^2)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        avg += group["eps"]

        step_dir = np.divide(g, avg, out=avg)               # g / (s + eps)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += step_dir
            np.multiply(buf, lr, out=step_dir)
        else:
            step_dir *= lr
        param -= step_dir
