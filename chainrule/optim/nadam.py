"""NAdam (Adam with Nesterov momentum, Dozat 2016) and RAdam (Adam with its variance rectified
in the first steps, Liu et al. 2019)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.optim.optimizer import (
    Optimizer, ParamsT, _check_adam_hyperparameters, _check_at_least, _directed_grad, _lerp_)

__all__ = ["NAdam", "RAdam"]


def _decay(param: np.ndarray, grad: np.ndarray, group: dict[str, Any]) -> np.ndarray:
    """The gradient the update follows; decoupled weight decay shrinks ``param`` first."""
    weight_decay = group["weight_decay"]
    if group["decoupled_weight_decay"]:
        if weight_decay != 0:
            param *= 1.0 - group["lr"] * weight_decay
        return _directed_grad(param, grad, 0.0, group["maximize"])
    return _directed_grad(param, grad, weight_decay, group["maximize"])


def _moments(param, g, state, beta1, beta2) -> np.ndarray:
    """m += (1 - beta1) (g - m); v = beta2 v + (1 - beta2) g^2. Returns a scratch array."""
    scratch = np.empty_like(param)
    _lerp_(state["exp_avg"], g, 1.0 - beta1, scratch)
    exp_avg_sq = state["exp_avg_sq"]
    exp_avg_sq *= beta2
    np.multiply(g, g, out=scratch)
    scratch *= 1.0 - beta2
    exp_avg_sq += scratch
    return scratch


class _AdamFamily(Optimizer):
    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_adam_hyperparameters(group)

    @staticmethod
    def _start(param: np.ndarray, state: dict[str, Any]) -> None:
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(param)
        state["exp_avg_sq"] = np.zeros_like(param)


class NAdam(_AdamFamily):
    r"""NAdam (PyTorch's ``torch.optim.NAdam``, same update).

    At step ``t``, with ``g`` the gradient (plus ``weight_decay * p``, or decoupled: ``p *= 1 -
    lr * weight_decay``; negated first when ``maximize``)::

        mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay))       (and mu_{t+1} alike)
        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        d = sqrt(v / (1 - beta2^t)) + eps
        p = p - lr (1 - mu_t) / (1 - prod mu_1..t) * g / d
              - lr mu_{t+1} / (1 - prod mu_1..t+1) * m / d

    Args:
        params: parameters or parameter groups to optimise.
        lr: learning rate (default 2e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay coefficient (default 0).
        momentum_decay: how fast the momentum schedule mu_t rises (default 4e-3).
        decoupled_weight_decay: AdamW-style decay (NAdamW).
        maximize: ascend the objective instead of descending it.

    State per parameter: ``step``, ``mu_product`` (kept in float32, as PyTorch keeps it),
    ``exp_avg`` and ``exp_avg_sq``.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.NAdam([w], lr=0.01)
        >>> opt.zero_grad(); (w * w).sum().backward(); opt.step()
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        if isinstance(betas, list):
            betas = tuple(betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        _check_at_least("momentum_decay", group["momentum_decay"], 0.0)

    def _update_param(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                      group: dict[str, Any]) -> None:
        if not state:
            self._start(param, state)
            state["mu_product"] = 1.0
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        state["step"] += 1
        step = state["step"]
        g = _decay(param, grad, group)
        decay = group["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        # PyTorch keeps the running product in a float32 scalar tensor
        mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
        state["mu_product"] = mu_product
        denom = _moments(param, g, state, beta1, beta2)
        np.divide(state["exp_avg_sq"], 1.0 - beta2 ** step, out=denom)
        np.sqrt(denom, out=denom)
        denom += eps
        param += (-lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        param += (-lr * mu_next / (1.0 - mu_product * mu_next)) * (state["exp_avg"] / denom)


class RAdam(_AdamFamily):
    r"""RAdam (PyTorch's ``torch.optim.RAdam``, same update).

    At step ``t``, with ``g`` the gradient (weight decay and ``maximize`` as in NAdam)::

        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        m_hat = m / (1 - beta1^t)
        p = p - lr m_hat r_t sqrt(1 - beta2^t) / (sqrt(v) + eps)   if rho_t > 5
        p = p - lr m_hat                                            otherwise
        with r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))

    Args:
        params: parameters or parameter groups to optimise.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay coefficient (default 0).
        decoupled_weight_decay: AdamW-style decay.
        maximize: ascend the objective instead of descending it.

    State per parameter: ``step``, ``exp_avg`` and ``exp_avg_sq``.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.RAdam([w], lr=0.01)
        >>> opt.zero_grad(); (w * w).sum().backward(); opt.step()
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False):
        if isinstance(betas, list):
            betas = tuple(betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _update_param(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                      group: dict[str, Any]) -> None:
        if not state:
            self._start(param, state)
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        state["step"] += 1
        step = state["step"]
        g = _decay(param, grad, group)
        scratch = _moments(param, g, state, beta1, beta2)
        bias_correction1 = 1.0 - beta1 ** step
        bias_correction2 = 1.0 - beta2 ** step
        corrected = state["exp_avg"] / bias_correction1
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * (beta2 ** step) / bias_correction2
        corrected *= lr
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                             ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            np.sqrt(state["exp_avg_sq"], out=scratch)       # adaptive lr: sqrt(bc2) / (sqrt(v) + eps)
            scratch += eps
            np.divide(math.sqrt(bias_correction2), scratch, out=scratch)
            corrected *= scratch
            corrected *= rect
        param -= corrected
