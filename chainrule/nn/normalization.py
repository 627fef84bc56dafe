"""BatchNorm1d / BatchNorm2d, InstanceNorm1d/2d/3d, LayerNorm and GroupNorm, with PyTorch's
parameters, buffers and modes."""
from __future__ import annotations

import warnings

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn._factory import non_negative_int, param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


class _NormBase(Module):
    """Per-channel normalisation with optional affine parameters (``weight``, ``bias``) and
    running statistics (``running_mean``, ``running_var``, ``num_batches_tracked``): the
    shared body of BatchNorm and InstanceNorm; subclasses say which input ranks they accept."""

    _ranks: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True):
        super().__init__()
        self.num_features = non_negative_int(f"{type(self).__name__}: num_features", num_features)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = param_dtype(device, dtype)
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(num_features, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dt)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean._array.fill(0)
            self.running_var._array.fill(1)
            self.num_batches_tracked._array.fill(0)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_rank(self, input: Tensor) -> None:
        if input.ndim not in self._ranks:
            want = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(f"{type(self).__name__}: expected {want} input (got {input.ndim}D "
                             f"input of shape {input.shape})")

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")

    def forward_macs(self, inputs: tuple, output) -> int:
        """Two per element: normalise, then scale and shift."""
        return 2 * output.numel()


class _BatchNorm(_NormBase):
    """Shared body of the BatchNorm layers."""

    def _check_input(self, input: Tensor) -> None:
        self._check_rank(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels in "
                             f"dim 1, got input of shape {input.shape}")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        # PyTorch's rule: momentum=None means a cumulative average over the batches seen.
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._array += 1
            self.num_batches_tracked._version += 1
            if self.momentum is None:
                factor = 1.0 / int(self.num_batches_tracked._array)
        use_batch_stats = self.training or self.running_mean is None
        keep_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if keep_running else None,
                            self.running_var if keep_running else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs: each of the C channels is
    normalised by its mean and variance over the batch (and L), then scaled by ``weight``
    and shifted by ``bias``.

    Training mode uses the batch statistics and updates ``running_mean`` / ``running_var``
    (exponential average with ``momentum``, or the cumulative average when it is None;
    the variance is the unbiased one); eval mode uses the running statistics.

    Example:
        >>> bn = cr.nn.BatchNorm1d(16)
        >>> y = bn(cr.randn(32, 16))        # training: batch statistics
        >>> y = bn.eval()(cr.randn(4, 16))  # evaluation: running statistics
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) inputs, per channel (see BatchNorm1d)."""

    _ranks = (4,)


class _InstanceNorm(_NormBase):
    """Shared body of the InstanceNorm layers: PyTorch's defaults (no affine parameters, no
    running statistics) and its handling of unbatched input."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        self._check_rank(input)
        unbatched = input.ndim == self._ranks[0]
        channels = input.shape[0 if unbatched else 1]
        if channels != self.num_features:
            message = (f"{type(self).__name__}: expected input's size at dim "
                       f"{0 if unbatched else 1} to match num_features ({self.num_features}), "
                       f"got input of shape {input.shape}")
            if self.affine:
                raise ValueError(message)
            warnings.warn(message + "; num_features is not used because affine=False",
                          stacklevel=2)
        x = input.unsqueeze(0) if unbatched else input
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              0.0 if self.momentum is None else self.momentum, self.eps)
        return out.squeeze(0) if unbatched else out

class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or unbatched (C, L) input: each channel of each
    sample normalised over its positions (then, with ``affine=True``, scaled and shifted per
    channel). With ``track_running_stats=True``, eval mode uses running statistics.

    Example:
        >>> norm = cr.nn.InstanceNorm1d(16, affine=True)
        >>> norm(cr.randn(4, 16, 50)).shape
        (4, 16, 50)
    """

    _ranks = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or unbatched (C, H, W) input, per sample and
    channel over H x W (see InstanceNorm1d). Example: ``cr.nn.InstanceNorm2d(3)``"""

    _ranks = (3, 4)


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or unbatched (C, D, H, W) input (see
    InstanceNorm1d). Example: ``cr.nn.InstanceNorm3d(8, affine=True)``"""

    _ranks = (4, 5)


class _ScaleShiftNorm(Module):
    """What GroupNorm and LayerNorm share: an optional scale (``weight``, starting at ones)
    and shift (``bias``, starting at zeros) applied after normalising."""

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward_macs(self, inputs: tuple, output) -> int:
        """Two per element: normalise, then scale and shift."""
        return 2 * output.numel()


class GroupNorm(_ScaleShiftNorm):
    """Group normalisation: the C channels of (N, C, *) input are split into ``num_groups``
    groups, each normalised per sample over its channels and positions, then (with
    ``affine``) scaled and shifted per channel. Independent of the batch size, and the same
    in training and evaluation.

    Example:
        >>> gn = cr.nn.GroupNorm(4, 32)          # 4 groups of 8 channels
        >>> gn(cr.randn(2, 32, 8, 8)).shape
        (2, 32, 8, 8)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_groups = non_negative_int("GroupNorm: num_groups", num_groups)
        self.num_channels = non_negative_int("GroupNorm: num_channels", num_channels)
        if self.num_groups == 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.eps, self.affine = eps, affine
        dt = param_dtype(device, dtype)
        self.register_parameter("weight", Parameter(np.ones(num_channels, dtype=dt))
                                if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(num_channels, dtype=dt))
                                if affine and bias else None)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LayerNorm(_ScaleShiftNorm):
    """Normalise each sample over its last dims (``normalized_shape``), then apply an
    elementwise scale and shift (``elementwise_affine``; ``bias=False`` drops the shift).
    The same computation in training and evaluation.

    Example:
        >>> ln = cr.nn.LayerNorm(64)
        >>> ln(cr.randn(8, 10, 64)).shape
        (8, 10, 64)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
            else tuple(normalized_shape)
        self.normalized_shape = tuple(non_negative_int("LayerNorm: normalized_shape", s) for s in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = param_dtype(device, dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
