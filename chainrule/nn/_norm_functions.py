"""Group and instance normalisation and ``normalize`` (public as ``chainrule.nn.functional.*``).

Group and instance normalisation are the fused :class:`~chainrule.ops.norm.AffineNormalize`
primitive (one node, closed-form backward; its ``reference`` composition under
``create_graph``) with other statistics axes than BatchNorm's and LayerNorm's:

* ``group_norm``: the channels of each sample are cut into ``num_groups`` groups; the
  statistics are taken over each group's channels and positions, the input viewed as
  (N, G, C/G, *spatial), the parameters as (G, C/G, 1, ...);
* ``instance_norm``: the statistics of each (sample, channel) over its positions.
"""
from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.backend import ArgumentError, ShapeError
from chainrule.ops.norm import AffineNormalize, normalization_statistics
from chainrule.ops.registry import Const, S, op
from chainrule.tensor import Tensor

_F = dict(namespace="F", method=False)


def _check_param(name: str, what: str, t, channels: int) -> None:
    if t is not None and tuple(t.shape) != (channels,):
        raise ShapeError(f"{name}: {what} has shape {tuple(t.shape)}, expected ({channels},) "
                         f"(one value per channel of the input's dim 1)")


@op(**_F, samples=lambda s: [
    S(s.real(2, 6, 3), 3, s.real(6), s.real(6)),
    S(s.real(2, 4, 3, 2), 2, s.real(4), s.real(4), eps=1e-3),
    S(s.real(3, 4), 1), S(s.real(2, 4, 5), 4, s.real(4))])
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise (N, C, *) input over groups of ``C / num_groups`` channels (and all
    positions) per sample, then scale and shift per channel. The same computation in
    training and evaluation (no running statistics).

    Example:
        >>> y = F.group_norm(cr.randn(8, 32, 16, 16), 4)      # 4 groups of 8 channels
    """
    if input.ndim < 2:
        raise ShapeError(f"group_norm: expected an input with at least 2 dims (N, C, *), got "
                         f"shape {input.shape}")
    n, channels = input.shape[:2]
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) \
            or num_groups < 1 or channels % num_groups:
        raise ShapeError(f"group_norm: num_groups={num_groups!r} must be a positive int that "
                         f"divides the {channels} channels of the input (shape {input.shape})")
    _check_param("group_norm", "weight", weight, channels)
    _check_param("group_norm", "bias", bias, channels)
    spatial = tuple(input.shape[2:])
    grouped = (n, num_groups, channels // num_groups) + spatial
    axes = tuple(range(2, len(grouped)))
    param_shape = (num_groups, channels // num_groups) + (1,) * len(spatial)
    mean, var, centered = normalization_statistics(input._array.reshape(grouped), axes)
    out = AffineNormalize.apply(input.reshape(grouped), weight, bias, axes=axes,
                                param_shape=param_shape, eps=eps, mean=mean, var=var,
                                batch_stats=True, centered=centered)
    return out.reshape(input.shape)


def _update_running(buffer: Tensor, stat: np.ndarray, momentum: float) -> None:
    """running = (1 - momentum) running + momentum stat, in place (a buffer, not a graph)."""
    data = buffer._array
    np.multiply(data, 1.0 - momentum, out=data, casting="unsafe")
    np.add(data, momentum * stat.reshape(data.shape), out=data, casting="unsafe")
    buffer._version += 1


def statistics(name: str, input: Tensor, axes: tuple, param_shape: tuple, running_mean,
               running_var, use_input: bool, count: int, momentum: float, flag: str,
               per_sample: bool = False) -> tuple:
    """(mean, var, centered input) for ``AffineNormalize``, shared by batch and instance
    norm: the input's own statistics over ``axes``, updating the running ones when given
    (variance unbiased by ``count``; with ``per_sample``, averaged over the samples first),
    or, when ``flag`` is False, the running ones."""
    if use_input:
        mean, var, centered = normalization_statistics(input._array, axes)
        if running_mean is not None:
            _update_running(running_mean, mean.mean(axis=0) if per_sample else mean, momentum)
        if running_var is not None:
            unbiased = var * (count / (count - 1))
            _update_running(running_var, unbiased.mean(axis=0) if per_sample else unbiased,
                            momentum)
        return mean, var, centered
    if running_mean is None or running_var is None:
        raise ArgumentError(f"{name}: running_mean and running_var are required when "
                            f"{flag}=False")
    return (running_mean._array.reshape(param_shape), running_var._array.reshape(param_shape),
            None)


@op(**_F, samples=lambda s: [
    S(s.real(2, 3, 5)), S(s.real(2, 3, 4, 3), weight=s.real(3), bias=s.real(3)),
    S(s.real(2, 3, 4), Const(s.real(3)), Const(s.positive(3)), s.real(3), s.real(3),
      use_input_stats=False)])
def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of (N, C, *spatial) input over its positions,
    then scale and shift per channel.

    With ``use_input_stats=False`` the running statistics are used instead (InstanceNorm
    with ``track_running_stats=True`` in eval mode). With input statistics, running ones
    (when given) are updated in place with the batch mean of the per-instance statistics,
    the variance unbiased (as PyTorch).

    Example:
        >>> y = F.instance_norm(cr.randn(4, 3, 32, 32))
    """
    if input.ndim < 3:
        raise ShapeError(f"instance_norm: expected an input with at least 3 dims "
                         f"(N, C, *spatial), got shape {input.shape}")
    channels = input.shape[1]
    for what, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _check_param("instance_norm", what, t, channels)
    axes = tuple(range(2, input.ndim))
    param_shape = (channels,) + (1,) * (input.ndim - 2)
    count = int(np.prod(input.shape[2:]))
    if use_input_stats:
        if count <= 1:
            raise ShapeError(f"instance_norm: expected more than 1 spatial element when "
                             f"using input statistics, got input of shape {input.shape}")
    mean, var, centered = statistics("instance_norm", input, axes, param_shape, running_mean,
                                     running_var, use_input_stats, count, momentum,
                                     "use_input_stats", per_sample=True)
    return AffineNormalize.apply(input, weight, bias, axes=axes, param_shape=param_shape,
                                 eps=eps, mean=mean, var=var, batch_stats=use_input_stats,
                                 centered=centered)


@op(**_F, samples=lambda s: [S(s.real(3, 4)), S(s.real(2, 3, 4), 1.0, -1),
                             S(s.real(2, 5), dim=0, eps=1e-3), S(s.real(3, 4), 3)])
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``: unit-norm vectors (a zero vector
    stays zero).

    Example:
        >>> unit = F.normalize(cr.randn(8, 64), dim=1)     # each row has length 1
    """
    return input / ops.clamp(ops.norm(input, p, dim, keepdim=True), min=eps)
