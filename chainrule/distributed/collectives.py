"""Collectives on Tensors and NumPy arrays, in place, with PyTorch's names and arguments.

Every process of the group calls the same collective with data of the same shape and dtype;
each one's data is then replaced by the result: the reduction over all processes
(``all_reduce``), the root's values (``broadcast``), the pieces of every process side by
side (``all_gather``), or its own slice of the reduction (``reduce_scatter``). With
``async_op=True`` the call only starts the operation (MPI's non-blocking collectives) and
returns a :class:`Work` handle; the data holds the result after ``handle.wait()``.

    >>> import chainrule as cr, chainrule.distributed as dist
    >>> dist.init_process_group("mpi")
    >>> t = cr.tensor([1.0, 2.0]) * (dist.get_rank() + 1)
    >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)    # every rank: the sum over ranks
    >>> work = dist.all_reduce(t, async_op=True)    # ... compute something else ...
    >>> work.wait()
    True

These are plain data movement, not recorded for autograd (as in PyTorch); a tensor changed
in place has its version bumped, so a backward that saved it refuses to use stale values.
"""
from __future__ import annotations

import enum
from typing import Any, Callable, Sequence

import numpy as np

from chainrule.distributed.group import group
from chainrule.tensor import Tensor

__all__ = ["ReduceOp", "Work", "all_reduce", "broadcast", "all_gather", "all_gather_into_tensor",
           "reduce_scatter", "reduce_scatter_tensor", "barrier", "all_gather_object",
           "broadcast_object_list"]


class ReduceOp(enum.Enum):
    """How ``all_reduce`` and ``reduce_scatter`` combine the processes' values."""

    SUM = "sum"
    AVG = "avg"          # the sum divided by the world size (floating dtypes only)
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


_MPI_OPS = {ReduceOp.SUM: "SUM", ReduceOp.AVG: "SUM", ReduceOp.PRODUCT: "PROD",
            ReduceOp.MIN: "MIN", ReduceOp.MAX: "MAX"}


class Work:
    """The handle of a collective started with ``async_op=True``.

    ``wait()`` blocks until the result is in place (and returns True); ``is_completed()``
    asks without blocking. Keep the data untouched until then.
    """

    def __init__(self, request, finish: Callable[[], None] | None = None):
        self._request = request
        self._finish = finish
        self._done = False

    def _complete(self) -> None:
        if not self._done:
            self._done = True
            if self._finish is not None:
                self._finish()

    def wait(self, timeout=None) -> bool:
        if timeout is not None:
            raise ValueError("Work.wait: MPI requests have no timeout; call wait() without "
                             "one (a rank that fails ends the whole job instead)")
        if not self._done:
            self._request.Wait()
            self._complete()
        return True

    def is_completed(self) -> bool:
        if not self._done and self._request.Test():
            self._complete()
        return self._done


# ------------------------------------------------------------------------- buffers
def _array(x, who: str, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x._array
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{who}: {name} must be a chainrule Tensor or a NumPy array, got "
                    f"{type(x).__name__}")


def _inplace(x, who: str, name: str = "tensor") -> tuple[np.ndarray, Callable[[], None]]:
    """The contiguous array a collective works on for ``x``, and what puts the result back
    into ``x`` afterwards (a copy when ``x`` is not contiguous; a version bump for a Tensor)."""
    arr = _array(x, who, name)
    if not arr.flags.writeable:
        raise ValueError(f"{who}: {name} is read-only; collectives write their result into it")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{who}: {name} has dtype {arr.dtype}; collectives take numeric data")
    work = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)

    def put_back() -> None:
        if work is not arr:
            np.copyto(arr, work)
        _bump(x)
    return work, put_back


def _bump(x) -> None:
    if isinstance(x, Tensor):
        x._version += 1


def _contiguous(x, who: str, name: str) -> np.ndarray:
    arr = _array(x, who, name)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{who}: {name} has dtype {arr.dtype}; collectives take numeric data")
    return np.ascontiguousarray(arr)


def _op(op, who: str):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{who}: op must be a chainrule.distributed.ReduceOp (SUM, AVG, "
                        f"PRODUCT, MIN, MAX), got {op!r}")
    g = group()
    return None if g.mpi is None else getattr(g.mpi, _MPI_OPS[op])


def _averaging(op: ReduceOp, arr: np.ndarray, who: str) -> Callable[[], None]:
    """For ReduceOp.AVG: the division by the world size that follows the sum."""
    if op is not ReduceOp.AVG:
        return lambda: None
    if arr.dtype.kind != "f":
        raise TypeError(f"{who}: ReduceOp.AVG needs floating-point data, got dtype {arr.dtype} "
                        f"(use SUM and divide as you need)")
    size = group().size
    return lambda: np.divide(arr, size, out=arr, casting="same_kind")


def _run(start: Callable[[bool], Any], finish: Callable[[], None], async_op: bool):
    """Run a collective: blocking (finish at once, return None) or started (a Work)."""
    if async_op:
        return Work(start(True), finish)
    start(False)
    finish()
    return None


def _in_place_marker():
    g = group()
    return "in place" if g.mpi is None else g.mpi.IN_PLACE


def _check_same(arrays: Sequence[np.ndarray], like: np.ndarray, who: str, name: str) -> None:
    size = group().size
    if len(arrays) != size:
        raise ValueError(f"{who}: {name} must hold world_size={size} tensors, got {len(arrays)}")
    for i, a in enumerate(arrays):
        if a.shape != like.shape or a.dtype != like.dtype:
            raise ValueError(f"{who}: {name}[{i}] has shape {a.shape} and dtype {a.dtype}; "
                             f"expected shape {like.shape} and dtype {like.dtype}")


# --------------------------------------------------------------------- collectives
def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, async_op: bool = False) -> Work | None:
    """Replace ``tensor`` on every process by the reduction (``op``) of all processes'
    ``tensor``.

    Example:
        >>> dist.all_reduce(grad, op=dist.ReduceOp.AVG)       # the mean over ranks
    """
    who = "all_reduce"
    mpi_op = _op(op, who)
    arr, put_back = _inplace(tensor, who)
    average = _averaging(op, arr, who)
    comm, here = group().comm, _in_place_marker()

    def start(nonblocking: bool):
        if nonblocking:
            return comm.Iallreduce(here, arr, op=mpi_op)
        comm.Allreduce(here, arr, op=mpi_op)

    def finish():
        average()
        put_back()
    return _run(start, finish, async_op)


def broadcast(tensor, src: int, async_op: bool = False) -> Work | None:
    """Replace ``tensor`` on every process by the values of rank ``src``.

    Example:
        >>> dist.broadcast(weights, src=0)        # every rank starts from rank 0's weights
    """
    who = "broadcast"
    g = group()
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < g.size:
        raise ValueError(f"{who}: src must be a rank in [0, {g.size}), got {src!r}")
    arr, put_back = _inplace(tensor, who)

    def start(nonblocking: bool):
        if nonblocking:
            return g.comm.Ibcast(arr, root=int(src))
        g.comm.Bcast(arr, root=int(src))
    return _run(start, put_back, async_op)


def all_gather(tensor_list: list, tensor, async_op: bool = False) -> Work | None:
    """Fill ``tensor_list`` (world size tensors shaped like ``tensor``) with every process's
    ``tensor``, rank 0's first, on every process.

    Example:
        >>> parts = [cr.zeros(3) for _ in range(dist.get_world_size())]
        >>> dist.all_gather(parts, cr.ones(3) * dist.get_rank())
    """
    who = "all_gather"
    send = _contiguous(tensor, who, "tensor")
    if not isinstance(tensor_list, list):
        raise TypeError(f"{who}: tensor_list must be a list of tensors (one per rank), got "
                        f"{type(tensor_list).__name__}")
    targets = [_inplace(t, who, f"tensor_list[{i}]") for i, t in enumerate(tensor_list)]
    _check_same([_array(t, who, "tensor_list") for t in tensor_list], send, who, "tensor_list")
    g = group()
    recv = np.empty((g.size,) + send.shape, dtype=send.dtype)

    def start(nonblocking: bool):
        if nonblocking:
            return g.comm.Iallgather(send, recv)
        g.comm.Allgather(send, recv)

    def finish():
        for (arr, put_back), part in zip(targets, recv):
            np.copyto(arr, part)
            put_back()
    return _run(start, finish, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, async_op: bool = False) -> Work | None:
    """Every process's ``input_tensor`` one after the other (rank order) in
    ``output_tensor``, whose size is world size x the input's (PyTorch's form for one
    flat output: shape ``(world_size * n, ...)`` or ``(world_size, n, ...)``)."""
    who = "all_gather_into_tensor"
    send = _contiguous(input_tensor, who, "input_tensor")
    arr, put_back = _inplace(output_tensor, who, "output_tensor")
    g = group()
    if arr.size != g.size * send.size or arr.dtype != send.dtype:
        raise ValueError(f"{who}: output_tensor has shape {arr.shape} and dtype {arr.dtype}; "
                         f"it must hold world_size={g.size} x input_tensor's {send.size} values "
                         f"of dtype {send.dtype}")

    def start(nonblocking: bool):
        if nonblocking:
            return g.comm.Iallgather(send, arr)
        g.comm.Allgather(send, arr)
    return _run(start, put_back, async_op)


def reduce_scatter(output, input_list: list, op: ReduceOp = ReduceOp.SUM,
                   async_op: bool = False) -> Work | None:
    """Reduce ``input_list`` (one tensor per rank, each shaped like ``output``) over all
    processes and give rank ``r`` element ``r`` of the result, in ``output``.

    Example:
        >>> out = cr.zeros(2)
        >>> dist.reduce_scatter(out, [cr.ones(2) for _ in range(dist.get_world_size())])
    """
    who = "reduce_scatter"
    if not isinstance(input_list, list):
        raise TypeError(f"{who}: input_list must be a list of tensors (one per rank), got "
                        f"{type(input_list).__name__}")
    arr, put_back = _inplace(output, who, "output")
    inputs = [_array(t, who, f"input_list[{i}]") for i, t in enumerate(input_list)]
    _check_same(inputs, arr, who, "input_list")
    send = np.ascontiguousarray(np.stack(inputs)) if inputs else np.empty(0, arr.dtype)
    return _reduce_scatter(send, arr, put_back, op, async_op, who)


def reduce_scatter_tensor(output, input, op: ReduceOp = ReduceOp.SUM,
                          async_op: bool = False) -> Work | None:
    """``reduce_scatter`` with the inputs as one tensor of world size x ``output``'s size,
    rank ``r``'s slice being the ``r``-th block of it."""
    who = "reduce_scatter_tensor"
    arr, put_back = _inplace(output, who, "output")
    send = _contiguous(input, who, "input")
    g = group()
    if send.size != g.size * arr.size or send.dtype != arr.dtype:
        raise ValueError(f"{who}: input has shape {send.shape} and dtype {send.dtype}; it must "
                         f"hold world_size={g.size} x output's {arr.size} values of dtype "
                         f"{arr.dtype}")
    return _reduce_scatter(send, arr, put_back, op, async_op, who)


def _reduce_scatter(send, recv, put_back, op, async_op, who):
    mpi_op = _op(op, who)
    average = _averaging(op, recv, who)
    g = group()
    counts = [recv.size] * g.size

    def start(nonblocking: bool):
        if nonblocking:
            return g.comm.Ireduce_scatter(send, recv, counts, op=mpi_op)
        g.comm.Reduce_scatter(send, recv, counts, op=mpi_op)

    def finish():
        average()
        put_back()
    return _run(start, finish, async_op)


def barrier(async_op: bool = False) -> Work | None:
    """Wait until every process has reached this call."""
    comm = group().comm

    def start(nonblocking: bool):
        if nonblocking:
            return comm.Ibarrier()
        comm.Barrier()
    return _run(start, lambda: None, async_op)


def all_gather_object(object_list: list, obj: Any) -> None:
    """Fill ``object_list`` (world size entries) with every process's picklable ``obj``.

    Example:
        >>> names = [None] * dist.get_world_size()
        >>> dist.all_gather_object(names, socket.gethostname())
    """
    g = group()
    if not isinstance(object_list, list) or len(object_list) != g.size:
        raise ValueError(f"all_gather_object: object_list must be a list of world_size={g.size} "
                         f"entries, got {object_list!r}")
    object_list[:] = g.comm.allgather(obj)


def broadcast_object_list(object_list: list, src: int = 0) -> None:
    """Replace the entries of ``object_list`` on every process by those of rank ``src``
    (picklable objects; the list must have the same length everywhere)."""
    g = group()
    if not isinstance(object_list, list):
        raise TypeError(f"broadcast_object_list: object_list must be a list, got "
                        f"{type(object_list).__name__}")
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < g.size:
        raise ValueError(f"broadcast_object_list: src must be a rank in [0, {g.size}), got {src!r}")
    object_list[:] = g.comm.bcast(object_list if g.rank == src else None, root=int(src))
