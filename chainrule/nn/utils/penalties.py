"""L1 / L2 weight penalties to add to a loss.

Which parameters: by default *all* that require grad, biases included (the same set that
an optimiser's ``weight_decay`` acts on); frozen parameters are skipped. ``exclude_bias=True``
also skips every parameter with at most one dimension: biases, and the scales and shifts of
normalisation layers, which penalising would only distort (the usual practice in modern
training recipes).
"""
from __future__ import annotations

from chainrule import ops
from chainrule.tensor import Tensor


def _selected(model_or_params, exclude_bias: bool) -> list[Tensor]:
    if hasattr(model_or_params, "parameters") and callable(model_or_params.parameters):
        params = list(model_or_params.parameters())
    elif isinstance(model_or_params, Tensor):
        params = [model_or_params]
    else:
        params = list(model_or_params)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"penalty: expected a Module or tensors, got an item of type "
                            f"{type(p).__name__}")
    return [p for p in params if p.requires_grad and not (exclude_bias and p.ndim <= 1)]


def _penalty(terms: list[Tensor], weight: float) -> Tensor:
    if not terms:
        return Tensor(0.0)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total * weight


def l1_penalty(model_or_params, weight: float = 1.0, exclude_bias: bool = False) -> Tensor:
    """``weight * sum |w|`` over the parameters (a Module or an iterable of tensors), as a
    differentiable scalar; its gradient is ``weight * sign(w)``.

    Example:
        >>> loss = criterion(model(x), y) + cr.nn.utils.l1_penalty(model, 1e-4)
    """
    params = _selected(model_or_params, exclude_bias)
    return _penalty([ops.abs(p).sum() for p in params], weight)


def l2_penalty(model_or_params, weight: float = 1.0, exclude_bias: bool = False) -> Tensor:
    """``weight * sum w^2`` over the parameters, as a differentiable scalar; its gradient is
    ``2 * weight * w`` (so ``weight = wd / 2`` matches SGD's ``weight_decay=wd``).

    Example:
        >>> loss = criterion(model(x), y) + cr.nn.utils.l2_penalty(model, 5e-4, exclude_bias=True)
    """
    params = _selected(model_or_params, exclude_bias)
    return _penalty([(p * p).sum() for p in params], weight)
