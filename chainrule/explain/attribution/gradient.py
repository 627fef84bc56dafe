"""Gradient attributions: Saliency, InputXGradient, IntegratedGradients and the NoiseTunnel
(SmoothGrad) around any of them, with Captum's names, arguments and results.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.explain.attribution._common import (
    Attribution, convergence_delta, expand_additional_args, expand_target,
    format_additional_args, format_baselines, format_inputs, format_output, gradients)
from chainrule.random import default_generator
from chainrule.tensor import Tensor

__all__ = ["Saliency", "InputXGradient", "IntegratedGradients", "NoiseTunnel",
           "approximation_parameters", "INTEGRATION_METHODS", "NOISE_TUNNEL_TYPES"]

INTEGRATION_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
                       "gausslegendre")
NOISE_TUNNEL_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


class Saliency(Attribution):
    """The gradient of the target output with respect to each input value (Simonyan et al.,
    2013); by default its absolute value, as Captum's ``Saliency``.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.explain.attribution import Saliency
        >>> model = cr.nn.Linear(3, 2)
        >>> Saliency(model).attribute(cr.randn(4, 3), target=1).shape
        (4, 3)
    """

    def attribute(self, inputs, target=None, abs: bool = True,   # noqa: A002 (Captum's name)
                  additional_forward_args=None):
        """``|d f(x)[target] / dx|`` (or the signed gradient with ``abs=False``)."""
        xs, is_tuple = format_inputs(inputs)
        xs = self._cast(xs)
        grads = gradients(self._model_for_call(), xs, target,
                          format_additional_args(additional_forward_args))
        return format_output(is_tuple, [np.abs(g) if abs else g for g in grads])


class InputXGradient(Attribution):
    """Each input value times the gradient of the target output with respect to it.

    Example:
        >>> model = cr.nn.Linear(3, 2)
        >>> a = InputXGradient(model).attribute(cr.ones(1, 3), target=0)   # = the weights
    """

    def attribute(self, inputs, target=None, additional_forward_args=None):
        """``x * d f(x)[target] / dx``."""
        xs, is_tuple = format_inputs(inputs)
        xs = self._cast(xs)
        grads = gradients(self._model_for_call(), xs, target,
                          format_additional_args(additional_forward_args))
        return format_output(is_tuple, [x._array * g for x, g in zip(xs, grads)])


def approximation_parameters(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Step sizes and points ``alpha`` in [0, 1] of a rule for the integral over [0, 1].

    * ``riemann_left/right/middle``: ``n`` equal steps of ``1/n`` at ``alpha_k = k/n``,
      ``(k+1)/n`` or ``(k+1/2)/n``.
    * ``riemann_trapezoid``: points ``linspace(0, 1, n)`` with Captum's weights: ``1/n``
      each, halved at both ends. They add up to ``(n-1)/n``, not 1 (the textbook rule uses
      steps of ``1/(n-1)``), so this rule leaves a completeness error of order ``1/n`` even
      for a linear model; it is kept for parity with Captum.
    * ``gausslegendre`` (the default): Gauss-Legendre nodes and weights mapped from [-1, 1]
      to [0, 1], exact for polynomials of degree ``2n - 1`` along the path.
    """
    if method not in INTEGRATION_METHODS:
        raise ValueError(f"method: unknown integration rule {method!r}; choose from "
                         f"{', '.join(INTEGRATION_METHODS)}")
    least = 1 if method == "gausslegendre" else 2
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or \
            n_steps < least:
        raise ValueError(f"n_steps: the {method} rule needs an int >= {least}, got {n_steps!r}")
    n = int(n_steps)
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return 0.5 * weights, 0.5 * (1.0 + nodes)
    steps = np.full(n, 1.0 / n)
    if method == "riemann_trapezoid":
        steps[0] /= 2
        steps[-1] /= 2
        return steps, np.linspace(0.0, 1.0, n)
    start = {"riemann_left": 0.0, "riemann_right": 1.0 / n,
             "riemann_middle": 0.5 / n}[method]
    return steps, start + np.arange(n) / n


class IntegratedGradients(Attribution):
    """Integrated gradients (Sundararajan et al., 2017): the gradient averaged along the
    straight path from a baseline ``b`` to the input ``x``, times ``x - b``::

        IG_i(x) = (x_i - b_i) * integral_0^1  d f(b + a (x - b)) / dx_i  da

    By the fundamental theorem of calculus for line integrals the attributions add up to
    ``f(x) - f(b)`` (completeness); ``return_convergence_delta=True`` returns how far the
    numerical rule is from that, per example. ``multiply_by_inputs=False`` returns the
    integrated gradient alone (Captum's "local" attribution).

    Example:
        >>> model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))
        >>> ig = IntegratedGradients(model, dtype=cr.float64)
        >>> attr, delta = ig.attribute(cr.randn(2, 3), target=0, n_steps=32,
        ...                            return_convergence_delta=True)
        >>> bool(abs(delta.numpy()).max() < 1e-8)
        True
    """

    def __init__(self, forward_func, multiply_by_inputs: bool = True, dtype=None):
        super().__init__(forward_func, dtype)
        self.multiplies_by_inputs = bool(multiply_by_inputs)

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  n_steps: int = 50, method: str = "gausslegendre",
                  internal_batch_size: int | None = None,
                  return_convergence_delta: bool = False):
        """Attributions shaped like ``inputs`` (and the per-example delta when asked).

        ``n_steps`` points of the rule ``method`` are evaluated as one batch of
        ``n_steps * N`` examples, or in chunks of at most ``internal_batch_size`` examples
        (whole steps at a time, at least one step per chunk)."""
        xs, is_tuple = format_inputs(inputs)
        xs = self._cast(xs)
        bs = format_baselines(baselines, xs)
        step_sizes, alphas = approximation_parameters(method, n_steps)
        model = self._model_for_call()
        args = format_additional_args(additional_forward_args)
        n = xs[0].shape[0]
        per_chunk = len(alphas) if internal_batch_size is None else \
            max(1, int(internal_batch_size) // max(n, 1))
        totals = [np.zeros(x.shape, x.dtype) for x in xs]
        for start in range(0, len(alphas), per_chunk):
            chunk = alphas[start:start + per_chunk]
            k = len(chunk)
            # The path points, step after step: rows [a_0 batch, a_1 batch, ...].
            points = [np.concatenate([b + float(a) * (x._array - b) for a in chunk])
                      for x, b in zip(xs, bs)]
            grads = gradients(model, points, expand_target(target, n, k),
                              expand_additional_args(args, n, k))
            weights = step_sizes[start:start + k]
            for total, g in zip(totals, grads):
                g = g.reshape((k, n) + g.shape[1:])
                total += np.tensordot(weights.astype(g.dtype), g, axes=1)
        attributions = [t * (x._array - b) if self.multiplies_by_inputs else t
                        for t, x, b in zip(totals, xs, bs)]
        result = format_output(is_tuple, attributions)
        if not return_convergence_delta:
            return result
        delta = convergence_delta(model, attributions, bs, xs, target, args)
        return result, Tensor(delta)


class NoiseTunnel:
    """SmoothGrad and its variants around another attribution method (Smilkov et al., 2017;
    Adebayo et al., 2018): attribute ``nt_samples`` copies of each input with Gaussian noise
    of standard deviation ``stdevs`` added, then return

    * ``smoothgrad``    the mean attribution,
    * ``smoothgrad_sq`` the mean of the squared attributions,
    * ``vargrad``       their variance (mean of squares minus the squared mean).

    Noise comes from ``generator`` (default: chainrule's global generator, so
    ``cr.manual_seed`` makes it repeatable). Other keyword arguments go to the wrapped
    method's ``attribute``; per-example ones (target, baselines, extra forward arguments,
    feature_mask) are repeated for the noisy copies.

    Example:
        >>> model = cr.nn.Linear(3, 2)
        >>> sg = NoiseTunnel(Saliency(model))
        >>> sg.attribute(cr.randn(2, 3), nt_type="smoothgrad", nt_samples=8, stdevs=0.1,
        ...              target=0, abs=False).shape
        (2, 3)
    """

    def __init__(self, attribution_method: Attribution):
        if not callable(getattr(attribution_method, "attribute", None)):
            raise TypeError(f"NoiseTunnel: expected an attribution method (Saliency(model), "
                            f"IntegratedGradients(model), ...), got "
                            f"{type(attribution_method).__name__}")
        self.attribution_method = attribution_method

    def attribute(self, inputs, nt_type: str = "smoothgrad", nt_samples: int = 5,
                  nt_samples_batch_size: int | None = None, stdevs: float | tuple = 1.0,
                  generator: np.random.Generator | None = None, **kwargs: Any):
        """The smoothed attributions (and, for a method with a convergence delta and
        ``return_convergence_delta=True``, the deltas of all N * nt_samples noisy copies)."""
        if nt_type not in NOISE_TUNNEL_TYPES:
            raise ValueError(f"nt_type: unknown {nt_type!r}; choose from "
                             f"{', '.join(NOISE_TUNNEL_TYPES)}")
        for name, value in (("nt_samples", nt_samples),
                            ("nt_samples_batch_size", nt_samples_batch_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, np.integer)) or value < 1):
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        xs, is_tuple = format_inputs(inputs)
        sds = stdevs if isinstance(stdevs, tuple) else (stdevs,) * len(xs)
        if len(sds) != len(xs) or any(not np.isscalar(s) or s < 0 for s in sds):
            raise ValueError(f"stdevs: expected one number >= 0, or a tuple with one per "
                             f"input ({len(xs)}), got {stdevs!r}")
        rng = default_generator() if generator is None else generator
        batch = nt_samples if nt_samples_batch_size is None else \
            min(nt_samples, nt_samples_batch_size)
        wants_delta = bool(kwargs.get("return_convergence_delta", False))
        n = xs[0].shape[0]
        sums = squares = None
        deltas = []
        done = 0
        while done < nt_samples:
            k = min(batch, nt_samples - done)
            done += k
            # Each example's k noisy copies sit together: rows [x0 x0 .. x1 x1 ..].
            noisy = tuple(Tensor(np.repeat(x._array, k, axis=0) + (
                rng.standard_normal((n * k,) + x.shape[1:]) * s).astype(x.dtype))
                for x, s in zip(xs, sds))
            out = self.attribution_method.attribute(
                noisy if is_tuple else noisy[0], **_expand_kwargs(kwargs, n, k, len(xs)))
            if wants_delta:
                out, delta = out
                deltas.append(np.asarray(delta._array))
            parts = [a._array for a in (out if isinstance(out, tuple) else (out,))]
            grouped = [a.reshape((n, k) + a.shape[1:]) for a in parts]
            part_sums = [g.sum(1) for g in grouped]
            part_squares = [(g * g).sum(1) for g in grouped]
            sums = part_sums if sums is None else [a + b for a, b in zip(sums, part_sums)]
            squares = part_squares if squares is None else \
                [a + b for a, b in zip(squares, part_squares)]
        means = [s / nt_samples for s in sums]
        mean_squares = [s / nt_samples for s in squares]
        if nt_type == "smoothgrad":
            values = means
        elif nt_type == "smoothgrad_sq":
            values = mean_squares
        else:
            values = [sq - m * m for m, sq in zip(means, mean_squares)]
        result = format_output(is_tuple, values)
        return (result, Tensor(np.concatenate(deltas))) if wants_delta else result


def _expand_kwargs(kwargs: dict, n: int, k: int, n_inputs: int) -> dict:
    """The wrapped method's per-example arguments for a batch with k copies of each row."""
    out = dict(kwargs)
    if "target" in out:
        out["target"] = expand_target(out["target"], n, k, interleave=True)
    if "additional_forward_args" in out:
        args = format_additional_args(out["additional_forward_args"])
        out["additional_forward_args"] = expand_additional_args(args, n, k, interleave=True)
    for key in ("baselines", "feature_mask"):
        if out.get(key) is not None:
            value = out[key]
            items = value if isinstance(value, tuple) else (value,)
            expanded = tuple(_repeat_rows(v, n, k) for v in items)
            out[key] = expanded if isinstance(value, tuple) else expanded[0]
    return out


def _repeat_rows(value, n: int, k: int):
    arr = value._array if isinstance(value, Tensor) else value
    if isinstance(arr, np.ndarray) and arr.ndim >= 1 and arr.shape[0] == n and n > 1:
        arr = np.repeat(arr, k, axis=0)
        return Tensor(arr) if isinstance(value, Tensor) else arr
    return value
