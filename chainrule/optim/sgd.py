"""Stochastic gradient descent, with optional (Nesterov) momentum and weight decay."""
from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.kernels import add_scaled_
from chainrule.optim.optimizer import Optimizer, ParamsT, _check_at_least, _directed_grad

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (PyTorch's ``torch.optim.SGD``, same update).

    With ``g = grad + weight_decay * p`` (negated first when ``maximize``)::

        b = g                                  on the first step
        b = momentum * b + (1 - dampening) * g afterwards
        d = g + momentum * b  (nesterov)  or  b  (momentum > 0)  or  g
        p = p - lr * d

    Args:
        params: parameters or parameter groups to optimise.
        lr: learning rate (default 1e-3, as in PyTorch 2).
        momentum: momentum factor (default 0: plain SGD).
        dampening: dampening of the gradient's share in the momentum (default 0).
        weight_decay: L2 penalty coefficient added to the gradient (default 0).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend the objective instead of descending it.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(3):
        ...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_at_least("lr", group["lr"], 0.0)
        _check_at_least("momentum", group["momentum"], 0.0)
        _check_at_least("weight_decay", group["weight_decay"], 0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"Nesterov momentum requires a momentum and zero dampening: got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    def _update_param(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                      group: dict[str, Any]) -> None:
        lr, momentum = group["lr"], group["momentum"]
        if momentum == 0 and group["weight_decay"] == 0 and not group["maximize"]:
            add_scaled_(param, grad, -lr)          # plain SGD: p = p - lr * g
            return
        d_p = _directed_grad(param, grad, group["weight_decay"], group["maximize"])
        owns_d_p = d_p is not grad
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d_p, copy=True)
            else:
                buf *= momentum
                dampening = group["dampening"]
                if dampening == 0:
                    buf += d_p
                else:
                    buf += (1.0 - dampening) * d_p
            if group["nesterov"]:
                # d = g + momentum * b, built in a buffer of our own
                nesterov = np.multiply(buf, momentum)
                nesterov += d_p
                d_p, owns_d_p = nesterov, True
            else:
                d_p, owns_d_p = buf, False
        if owns_d_p:
            d_p *= lr
            param -= d_p
        else:
            add_scaled_(param, d_p, -lr)
