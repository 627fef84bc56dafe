"""Adamax: Adam with the infinity norm in place of the second moment (Kingma & Ba, 2015)."""
from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import (
    Optimizer, ParamsT, _check_adam_hyperparameters, _directed_grad, _lerp_)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax (PyTorch's ``torch.optim.Adamax``, same update).

    At step ``t``, with ``g = grad + weight_decay * p`` (negated first when ``maximize``)::

        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1^t) * m / u

    Args:
        params: parameters or parameter groups to optimise.
        lr: learning rate (default 2e-3).
        betas: decay rates of the first moment and of the infinity norm (default (0.9, 0.999)).
        eps: added to |g| (default 1e-8).
        weight_decay: L2 penalty coefficient (default 0).
        maximize: ascend the objective instead of descending it.

    State per parameter: ``step``, ``exp_avg`` (m) and ``exp_inf`` (u).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.Adamax([w], lr=0.01)
        >>> opt.zero_grad(); (w * w).sum().backward(); opt.step()
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        if isinstance(betas, list):
            betas = tuple(betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_adam_hyperparameters(group)

    def _update_param(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                      group: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_inf"] = np.zeros_like(param)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        g = _directed_grad(param, grad, group["weight_decay"], group["maximize"])
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        scratch = np.empty_like(param)
        _lerp_(exp_avg, g, 1.0 - beta1, scratch)            # m += (1 - beta1) (g - m)
        exp_inf *= beta2                                    # u = max(beta2 u, |g| + eps)
        np.abs(g, out=scratch)
        scratch += group["eps"]
        np.maximum(exp_inf, scratch, out=exp_inf)
        step_size = group["lr"] / (1.0 - beta1 ** state["step"])
        np.divide(exp_avg, exp_inf, out=scratch)
        scratch *= step_size
        param -= scratch
