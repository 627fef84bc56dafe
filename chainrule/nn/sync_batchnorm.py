"""SyncBatchNorm: BatchNorm whose batch statistics are those of the global batch, summed
over every process of a data-parallel job (PyTorch's ``nn.SyncBatchNorm``).

With a small batch per process, per-process statistics are noisy and each copy of the model
normalises differently; SyncBatchNorm makes the N processes together behave like one
process on the concatenated batch. Forward gathers each process's count, mean and variance
per channel (one all-gather) and combines them; backward sums two per-channel quantities
over the processes (one all-reduce). In evaluation, or with one process, it is BatchNorm.
"""
from __future__ import annotations

import numpy as np

from chainrule import distributed as dist
from chainrule.autograd import Function
from chainrule.nn._norm_functions import _update_running
from chainrule.nn.module import Module
from chainrule.nn.normalization import _BatchNorm
from chainrule.ops.norm import normalization_statistics
from chainrule.tensor import Tensor

__all__ = ["SyncBatchNorm", "sync_batch_norm"]


def _global_statistics(x: np.ndarray, local_mean: np.ndarray,
                       local_var: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean, biased variance, count) per channel over the global batch, from every
    process's (count, mean, variance), combined in float64 with Chan et al.'s rule:
    M2 = sum_r n_r (var_r + (mean_r - mean)^2), so no large sums of squares cancel."""
    channels = x.shape[1]
    mine = np.concatenate([[x.size // max(channels, 1)], local_mean.ravel(),
                           local_var.ravel()]).astype(np.float64)
    table = np.empty((dist.get_world_size(), mine.size), dtype=np.float64)
    dist.all_gather_into_tensor(table, mine)
    counts, means, variances = table[:, :1], table[:, 1:channels + 1], table[:, channels + 1:]
    n = counts.sum()
    mean = (counts * means).sum(axis=0) / n
    var = (counts * (variances + (means - mean) ** 2)).sum(axis=0) / n
    return mean, var, int(round(n))


class _SyncAffineNormalize(Function):
    """y = (x - mean) r w + b with the global batch's mean and r = 1/sqrt(var + eps).

    Backward, with xhat = (x - mean) r and n the global count per channel:
        dx = r w (g - S_g / n - xhat S_gxhat / n)
    where S_g = sum(g) and S_gxhat = sum(g xhat) are summed over every process (the
    statistics depend on every process's x, so every process's g reaches each x);
        dw = sum(g xhat), db = sum(g)      over this process's batch only
    (DistributedDataParallel averages those over the processes, like any gradient).
    """

    differentiable_backward = False     # its backward communicates; no second derivative

    @staticmethod
    def forward(ctx, x, weight, bias, *, axes, param_shape, eps, mean, var, count, centered):
        r = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        out = centered                      # x - mean, ours to overwrite
        out *= r if weight is None else r * weight.reshape(param_shape)
        if bias is not None:
            out += bias.reshape(param_shape)
        ctx.axes, ctx.param_shape, ctx.count, ctx.mean = axes, param_shape, count, mean
        ctx.save_for_backward(x, weight, r)
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight, r = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        axes, channels = ctx.axes, x.shape[1]
        xhat = (x - ctx.mean) * r
        sum_g = g.sum(axis=axes, dtype=np.float64)
        sum_gx = (g * xhat).sum(axis=axes, dtype=np.float64)
        gw = sum_gx.astype(x.dtype) if need_w else None
        gb = sum_g.astype(x.dtype) if need_b else None
        gx = None
        if need_x:
            totals = np.concatenate([sum_g, sum_gx])
            dist.all_reduce(totals)
            mean_g = (totals[:channels] / ctx.count).astype(x.dtype).reshape(ctx.param_shape)
            mean_gx = (totals[channels:] / ctx.count).astype(x.dtype).reshape(ctx.param_shape)
            k = r if weight is None else r * weight.reshape(ctx.param_shape)
            gx = (g - mean_g - xhat * mean_gx) * k
        return gx, gw, gb


def sync_batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None, bias: Tensor | None, momentum: float,
                    eps: float) -> Tensor:
    """Batch normalisation of (N, C, ...) ``input`` with the statistics of the global batch
    (every process of the default group), updating the running statistics in place
    (unbiased variance over the global count, as BatchNorm does). Collective: every
    process calls it, in the same order.

    Example: ``y = sync_batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
    0.1, 1e-5)``
    """
    if input.ndim < 2:
        raise ValueError(f"sync_batch_norm: expected an input with at least 2 dims (N, C, ...), "
                         f"got shape {input.shape}")
    x = input._array
    channels = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    param_shape = (channels,) + (1,) * (x.ndim - 2)
    local_mean, local_var, centered = normalization_statistics(x, axes)
    mean, var, count = _global_statistics(x, local_mean, local_var)
    if count <= 1:
        raise ValueError(f"sync_batch_norm: expected more than 1 value per channel over all "
                         f"processes when training, got input of shape {input.shape}")
    if running_mean is not None:
        _update_running(running_mean, mean.astype(x.dtype), momentum)
    if running_var is not None:
        _update_running(running_var, (var * (count / (count - 1))).astype(x.dtype), momentum)
    mean = mean.astype(x.dtype).reshape(param_shape)
    centered -= mean - local_mean          # x - global mean, reusing the centred copy
    return _SyncAffineNormalize.apply(
        input, weight, bias, axes=axes, param_shape=param_shape, eps=eps, mean=mean,
        var=var.astype(x.dtype).reshape(param_shape), count=count, centered=centered)


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, ...) inputs whose training statistics are those of the global
    batch across the processes of the default group (see the module docstring); the same
    parameters, buffers and modes as BatchNorm1d/2d. Turn a model's BatchNorm layers into
    it with :meth:`convert_sync_batchnorm`.

    Example:
        >>> model = cr.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        >>> model = cr.nn.parallel.DistributedDataParallel(model)
    """

    _ranks = (2, 3, 4, 5)

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)       # evaluation, or one process: BatchNorm
        self._check_input(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked._array += 1
            self.num_batches_tracked._version += 1
            if self.momentum is None:
                factor = 1.0 / int(self.num_batches_tracked._array)
        return sync_batch_norm(input, self.running_mean, self.running_var, self.weight,
                               self.bias, factor, self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """``module`` with every BatchNorm layer replaced by a SyncBatchNorm holding the
        same parameters, buffers and mode (a BatchNorm given alone comes back converted).

        Example: ``model = nn.SyncBatchNorm.convert_sync_batchnorm(model)``
        """
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, bias=module.bias is not None or not module.affine)
            for name in ("weight", "bias"):
                if getattr(module, name, None) is not None:
                    setattr(out, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                out.register_buffer(name, getattr(module, name))
            out.train(module.training)
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child))
        return out

