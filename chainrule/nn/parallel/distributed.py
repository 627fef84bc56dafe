"""DistributedDataParallel: one model copy per process, gradients averaged during backward.

Each process runs forward and backward on its own slice of the global batch; the average
of the processes' gradients is then the gradient of the mean loss over the whole global
batch, so every copy takes the same optimiser step and the copies stay equal.

How the averaging overlaps the backward pass (PyTorch's design, on MPI):

* the parameters are grouped into buckets of about ``bucket_cap_mb`` (25 MB; the first one
  1 MB so communication starts early), in reverse registration order, which is about the
  order backward finishes their gradients;
* a hook on each parameter (``register_post_accumulate_grad_hook``) fires once its
  gradient for this backward is final; it is copied into its bucket's flat buffer, and
  when every gradient of a bucket is in, the bucket's non-blocking sum (``MPI_Iallreduce``)
  starts while backward goes on computing the gradients of earlier layers;
* buckets start strictly in order (a finished bucket waits for the ones before it), so
  every process issues the same collectives in the same order, as MPI requires;
* when the backward pass ends (``autograd.queue_callback``), the last buckets are waited for
  and each ``.grad`` becomes the sum divided by the world size, before ``backward()``
  returns.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from chainrule.autograd import is_grad_enabled, leaf_uses, queue_callback
from chainrule.distributed import group as _group_module
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1 << 20      # PyTorch's too: the first bucket's sum starts early


class _Bucket:
    """Parameters whose gradients are summed in one collective, and their flat buffer."""

    def __init__(self, params: list, dtype: np.dtype):
        self.params = params
        sizes = [p._array.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.flat = np.empty(self.offsets[-1], dtype=dtype)
        self.views = [self.flat[a:b].reshape(p.shape)
                      for p, a, b in zip(params, self.offsets, self.offsets[1:])]
        self.ready = [False] * len(params)
        self.pending = len(params)
        self.request = None

    def reset(self) -> None:
        self.ready = [False] * len(self.params)
        self.pending = len(self.params)
        self.request = None


class DistributedDataParallel(Module):
    """Data-parallel training of ``module`` over the processes of the default group.

    At construction every process takes rank 0's parameters and buffers (so all copies
    start equal). Each forward broadcasts rank 0's buffers (``broadcast_buffers``: BatchNorm
    running statistics stay equal); each backward averages the gradients over the
    processes in buckets whose communication overlaps the rest of backward (see the module
    docstring). The wrapped model is ``.module``; ``state_dict`` keys carry the ``module.``
    prefix, as PyTorch's do.

    Args:
        module: the model; every process must build the same architecture.
        broadcast_buffers: take rank 0's buffers at every forward.
        bucket_cap_mb: bucket size in MB (default 25).
        find_unused_parameters: allow parameters that take no part in a step's loss (found
            by walking the graph from the forward's outputs); without it such a parameter
            is an error, as in PyTorch. A parameter unused on every process keeps its
            ``.grad``; one used on some processes gets their average (zeros elsewhere).
        gradient_as_bucket_view: after each synchronised backward, every ``.grad`` is a
            view into its bucket instead of a separate array, which saves one pass over
            all the gradients per step (the copy back) and their memory. As in PyTorch,
            a ``.grad`` kept from an earlier step then changes with the next backward;
            and each process's gradient is divided by the world size before the sum
            (bit for bit the same result on 2 or 4 processes, rounded differently on 3).

    Gradient accumulation: inside ``with ddp.no_sync():`` the gradients of the backward
    that follows a forward stay local (they add up in ``.grad``); the first forward/backward
    outside it averages the sum. With one process (no launcher) this is the plain module.

    Example:
        >>> dist.init_process_group("mpi")
        >>> model = nn.parallel.DistributedDataParallel(Net())
        >>> loss_fn(model(x), y).backward()      # .grad: the average over every rank
        >>> opt.step()
    """

    def __init__(self, module: Module, *, broadcast_buffers: bool = True,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 gradient_as_bucket_view: bool = False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a chainrule.nn.Module, "
                            f"got {type(module).__name__}")
        if isinstance(module, DistributedDataParallel):
            raise TypeError("DistributedDataParallel: the module is already wrapped")
        cap = 25.0 if bucket_cap_mb is None else bucket_cap_mb
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got "
                             f"{bucket_cap_mb!r}")
        g = _group_module.group()      # the clear error when init_process_group was not called
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.bucket_cap_mb = float(cap)
        self.require_backward_grad_sync = True
        names = {id(p): n for n, p in module.named_parameters()}
        self._names = names
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._world = g.size
        self._comm, self._mpi = g.comm, g.mpi
        self._buckets = self._make_buckets(int(cap * 1024 * 1024))
        self._slot = {id(p): (b, i) for b in self._buckets for i, p in enumerate(b.params)}
        self._armed = False           # this backward averages (set by forward)
        self._started = False         # a hook of this backward has fired
        self._next = 0                # the next bucket to start
        self._reached = set()         # ids of the parameters the last forward used
        self._used_map: np.ndarray | None = None
        self._used_request = None
        self._handles = []
        if self._world > 1:
            self._check_same_model()
            self._broadcast_states(list(module.parameters()) + list(module.buffers()))
            self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready)
                             for p in self._params]

    # ----------------------------------------------------------------- set-up
    def _make_buckets(self, cap_bytes: int) -> list[_Bucket]:
        """Reverse registration order, one dtype per bucket, closed once it reaches the
        cap (at most 1 MB for the first)."""
        open_: dict[np.dtype, list] = {}
        size: dict[np.dtype, int] = {}
        buckets: list[_Bucket] = []
        for p in reversed(self._params):
            dt = p._array.dtype
            open_.setdefault(dt, []).append(p)
            size[dt] = size.get(dt, 0) + p._array.nbytes
            limit = min(_FIRST_BUCKET_BYTES, cap_bytes) if not buckets else cap_bytes
            if size[dt] >= limit:
                buckets.append(_Bucket(open_.pop(dt), dt))
                size[dt] = 0
        buckets.extend(_Bucket(params, dt) for dt, params in open_.items() if params)
        return buckets

    def _check_same_model(self) -> None:
        """Every process must hold the same parameters (names, shapes, dtypes)."""
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in self.module.named_parameters()]
        everyone = self._comm.allgather(mine)
        for rank, theirs in enumerate(everyone):
            if theirs != everyone[0]:
                diff = next(((a, b) for a, b in zip(everyone[0], theirs) if a != b),
                            (f"{len(everyone[0])} parameters", f"{len(theirs)} parameters"))
                raise ValueError(f"DistributedDataParallel: rank {rank} built a different model "
                                 f"than rank 0: {diff[1]} where rank 0 has {diff[0]}; every "
                                 f"rank must build the same architecture")

    def _broadcast_states(self, tensors: list) -> None:
        """Rank 0's values into ``tensors`` on every process: one broadcast per dtype."""
        by_dtype: dict[np.dtype, list] = {}
        for t in tensors:
            by_dtype.setdefault(t._array.dtype, []).append(t)
        for dt, ts in by_dtype.items():
            flat = np.concatenate([t._array.ravel() for t in ts]) if ts else np.empty(0, dt)
            self._comm.Bcast(flat, root=0)
            offset = 0
            for t in ts:
                n = t._array.size
                np.copyto(t._array, flat[offset:offset + n].reshape(t._array.shape))
                t._version += 1
                offset += n

    # ---------------------------------------------------------------- forward
    def forward(self, *args, **kwargs):
        if self._world > 1 and self.broadcast_buffers:
            buffers = list(self.module.buffers())
            if buffers:
                self._broadcast_states(buffers)
        out = self.module(*args, **kwargs)
        self._armed = (self._world > 1 and self.require_backward_grad_sync and is_grad_enabled()
                       and bool(self._params))
        if self._armed:
            self._prepare(out)
        return out

    def _prepare(self, out) -> None:
        for b in self._buckets:
            b.reset()
        self._started, self._next = False, 0
        self._used_request = None
        if self.find_unused_parameters:
            self._reached = leaf_uses(out).keys()

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Keep gradients local in the backward passes of forwards run inside this block
        (gradient accumulation); the next synchronised backward averages what piled up.

        Example:
            >>> with ddp.no_sync():
            ...     loss_fn(ddp(x1), y1).backward()     # local only
            >>> loss_fn(ddp(x2), y2).backward()         # averages x1's + x2's gradients
        """
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # --------------------------------------------------------------- backward
    def _grad_ready(self, p: Tensor) -> None:
        """A parameter's gradient for this backward is final: copy it into its bucket."""
        if not self._armed:
            return
        if not self._started:
            self._start_pass()
        bucket, i = self._slot[id(p)]
        if bucket.ready[i]:
            return                      # already counted (an unused one, filled at start)
        self._fill(bucket, i)
        if bucket.pending == 0:
            self._start_ready_buckets()
        elif self._next and self._mpi is not None:
            # Let MPI move the buckets already under way (it progresses inside its calls).
            self._mpi.Request.Testall([b.request for b in self._buckets[:self._next]
                                       if b.request is not None])

    def _fill(self, bucket: _Bucket, i: int) -> None:
        grad = bucket.params[i].grad
        if grad is None:
            bucket.views[i].fill(0)
        else:
            if grad.grad_fn is not None:
                raise RuntimeError("DistributedDataParallel does not average gradients that "
                                   "are recorded for a second derivative "
                                   "(backward(create_graph=True)); use the plain module")
            if self.gradient_as_bucket_view:    # in place when .grad is already the view
                np.divide(grad._array, self._world, out=bucket.views[i])
            else:
                np.copyto(bucket.views[i], grad._array)
        bucket.ready[i] = True
        bucket.pending -= 1

    def _start_pass(self) -> None:
        """The first hook of this backward: register the end-of-pass wait and, with
        find_unused_parameters, count the unused parameters in (with what .grad holds)."""
        self._started = True
        queue_callback(self._finish_pass)
        if self.find_unused_parameters:
            used = np.zeros(len(self._params), dtype=np.int32)
            for k, p in enumerate(self._params):
                here = id(p) in self._reached
                used[k] = here or p.grad is not None
                if not here:
                    bucket, i = self._slot[id(p)]
                    self._fill(bucket, i)
            self._used_map = used
            self._used_request = self._comm.Iallreduce(
                self._in_place(), used, op=self._mpi.MAX)
            self._start_ready_buckets()

    def _in_place(self):
        return self._mpi.IN_PLACE

    def _start_ready_buckets(self) -> None:
        while self._next < len(self._buckets) and self._buckets[self._next].pending == 0:
            b = self._buckets[self._next]
            b.request = self._comm.Iallreduce(self._in_place(), b.flat, op=self._mpi.SUM)
            self._next += 1

    def _finish_pass(self) -> None:
        """End of backward: wait for every bucket, then .grad = sum / world size."""
        self._armed = self._started = False
        started = [b.request for b in self._buckets if b.request is not None]
        missing = [p for b in self._buckets for p, r in zip(b.params, b.ready) if not r]
        if missing:
            self._mpi.Request.Waitall(started)
            if self._used_request is not None:
                self._used_request.Wait()
            names = ", ".join(self._names.get(id(p), "?") for p in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise RuntimeError(
                f"DistributedDataParallel: parameters {names}{more} received no gradient in "
                f"this backward pass, so their gradients could not be averaged over the "
                f"ranks. If the model does not use every parameter in every step, pass "
                f"find_unused_parameters=True (or freeze them: requires_grad=False)")
        self._mpi.Request.Waitall(started)
        unused_everywhere = set()
        if self._used_request is not None:
            self._used_request.Wait()
            unused_everywhere = {id(p) for p, u in zip(self._params, self._used_map) if not u}
        world = self._world
        for b in self._buckets:
            for p, view in zip(b.params, b.views):
                if id(p) in unused_everywhere:
                    continue
                if self.gradient_as_bucket_view:    # averaged already: .grad is the view
                    if p.grad is None or p.grad._array is not view:
                        p.grad = Tensor(view)
                    else:
                        p.grad._version += 1
                elif p.grad is None:
                    p.grad = Tensor(view / world)
                else:
                    np.divide(view, world, out=p.grad._array)

    def extra_repr(self) -> str:
        sizes = [f"{b.flat.nbytes / 2 ** 20:.2f}" for b in self._buckets]
        return (f"world_size={self._world}, buckets={len(self._buckets)} "
                f"({', '.join(sizes)} MB)")
