"""Finite-difference gradient checks, public so users can test their own Functions.

The numeric derivative of f at x in direction e_i is the central difference
(f(x + eps e_i) - f(x - eps e_i)) / (2 eps), accurate to O(eps^2); run it in float64.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from chainrule.autograd import grad as autograd_grad
from chainrule.autograd import enable_grad, no_grad
from chainrule.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when analytic and numeric gradients disagree."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _numeric_jacobian_vjp(fn, inputs, i, out_grads, eps):
    """d(sum_k out_k * w_k)/d inputs[i], by central differences."""
    x = inputs[i]
    num = np.zeros(x.shape, dtype=np.float64)
    data = x._array
    # Perturb through a multi-index, not a flattened view: reshape(-1) of a non-contiguous
    # array is a copy, and nudging a copy would leave the input untouched.
    for idx in np.ndindex(*x.shape):
        orig = data[idx]
        data[idx] = orig + eps
        with no_grad():
            plus = [o._array.astype(np.float64) for o in _as_tuple(fn(*inputs))]
        data[idx] = orig - eps
        with no_grad():
            minus = [o._array.astype(np.float64) for o in _as_tuple(fn(*inputs))]
        data[idx] = orig
        num[idx] = sum(np.sum((p - m) * w) for p, m, w in zip(plus, minus, out_grads)) / (2 * eps)
    return num


def _compare(name, analytic, numeric, atol, rtol):
    diff = np.abs(analytic - numeric)
    bad = diff > atol + rtol * np.abs(numeric)
    if bad.any():
        order = np.argsort(-(diff * bad).reshape(-1))[:5]
        rows = []
        for k in order:
            if not bad.reshape(-1)[k]:
                break
            idx = np.unravel_index(k, analytic.shape) if analytic.ndim else ()
            rows.append(f"  index {tuple(int(v) for v in idx)}: analytic {analytic.reshape(-1)[k]:.8g}"
                        f"  numeric {numeric.reshape(-1)[k]:.8g}  |diff| {diff.reshape(-1)[k]:.3g}")
        raise GradcheckError(f"gradcheck: {name} mismatch in {int(bad.sum())} of {bad.size} entries "
                             f"(atol={atol}, rtol={rtol}); worst:\n" + "\n".join(rows))


def gradcheck(fn: Callable, inputs: Sequence[Tensor] | Tensor, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check ``fn``'s backward against central differences; True, or a GradcheckError
    listing the worst entries.

    Every output is weighted by a fixed random tensor, so one vector-Jacobian product per
    input is checked (covering every output entry).

    Example:
        >>> x = cr.randn(3, 4, dtype=np.float64, requires_grad=True)
        >>> cr.gradcheck(lambda t: (t.exp() * t).sum(dim=1), x)
        True
    """
    inputs = _as_tuple(inputs)
    for k, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise TypeError(f"gradcheck: input {k} has dtype {t.dtype}; use float64 "
                            "(finite differences in float32 are too coarse to judge)")
    diff_idx = [k for k, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck: no input requires grad")
    outs = _as_tuple(fn(*inputs))
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(o.shape) for o in outs]
    diff_outs = [(o, w) for o, w in zip(outs, weights) if o.requires_grad]
    if not diff_outs:
        raise GradcheckError("gradcheck: no output requires grad (is fn differentiable?)")
    analytic = autograd_grad([o for o, _ in diff_outs], [inputs[k] for k in diff_idx],
                             grad_outputs=[Tensor(w.astype(o.dtype)) for o, w in diff_outs],
                             allow_unused=True)
    for k, a in zip(diff_idx, analytic):
        numeric = _numeric_jacobian_vjp(fn, inputs, k, weights, eps)
        a_arr = np.zeros(inputs[k].shape) if a is None else a._array.astype(np.float64)
        _compare(f"gradient of input {k}", a_arr, numeric, atol, rtol)
    return True


def gradgradcheck(fn: Callable, inputs: Sequence[Tensor] | Tensor, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, seed: int = 1) -> bool:
    """Check second derivatives: the vector-Jacobian product of ``fn`` (built with
    ``create_graph=True``) is itself gradchecked, with respect to the inputs *and* the
    vector, as ``torch.autograd.gradgradcheck`` does, so linear functions are covered too.

    Example:
        >>> x = cr.randn(3, dtype=np.float64, requires_grad=True)
        >>> cr.gradgradcheck(lambda t: t.tanh() * t, x)
        True
    """
    inputs = _as_tuple(inputs)
    diff_idx = [k for k, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    outs0 = [o for o in _as_tuple(fn(*inputs)) if o.requires_grad]
    rng = np.random.default_rng(seed)
    weights = [Tensor(rng.standard_normal(o.shape).astype(o.dtype), requires_grad=True)
               for o in outs0]
    n_in = len(inputs)

    def first_grads(*xs_and_ws):
        xs, ws = xs_and_ws[:n_in], xs_and_ws[n_in:]
        with enable_grad():  # the numeric pass runs fn under no_grad; this one needs a graph
            outs = [o for o in _as_tuple(fn(*xs)) if o.requires_grad]
            grads = autograd_grad(outs, [xs[k] for k in diff_idx], grad_outputs=list(ws),
                                  create_graph=True, allow_unused=True)
        # Every input's gradient is an output here, a missing one as zeros: if the engine
        # dropped a gradient (None, or cut from the graph), the numeric derivative of that
        # output still sees it, and the check fails instead of skipping it.
        return tuple(Tensor(np.zeros(xs[k].shape)) if g is None else g
                     for k, g in zip(diff_idx, grads))

    return gradcheck(first_grads, tuple(inputs) + tuple(weights), eps=eps, atol=atol,
                     rtol=rtol, seed=seed + 1)
