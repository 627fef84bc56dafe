"""The array module in use, and the one place that knows which it is.

Everything numeric in chainrule goes through ``xp``. Today that is NumPy; a GPU build swaps
in CuPy here and nowhere else.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import os
import sys
import threading

import numpy as np

xp = np


def _tune_malloc() -> None:
    """Keep freed array memory in the process instead of handing it back to the kernel.

    glibc returns blocks above 128 KiB to the kernel (mmap) and trims the heap eagerly, so an
    activation freed at the end of one training step is faulted back in, page by zeroed
    page, in the next: 28-31% of a convolution or LSTM step was the kernel zeroing pages.
    Raising the two thresholds once (32 MiB for mmap, 128 MiB kept before trimming) about
    halves those steps. Linux/glibc only; set CHAINRULE_MALLOC_TUNING=0 to leave malloc alone.
    """
    if os.environ.get("CHAINRULE_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3     # from glibc's <malloc.h>
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 128 << 20)
    except (OSError, AttributeError):
        pass  # not glibc (musl, macOS): nothing to tune


_tune_malloc()


def num_threads() -> int:
    """Threads chainrule's own loops may use (BLAS keeps its own pool): the first of
    ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` that is set, as the
    BLAS libraries read them, else the number of CPUs this process may run on."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not Linux
        return os.cpu_count() or 1


_pool = None
_pool_lock = threading.Lock()
_in_pool = threading.local()


def _forget_pool() -> None:
    global _pool
    _pool = None        # a forked child inherits the pool object but none of its threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _run_in_pool(fn, lo: int, hi: int) -> None:
    _in_pool.active = True
    try:
        fn(lo, hi)
    finally:
        _in_pool.active = False


def run_split(fn, size: int, min_part: int) -> None:
    """Call ``fn(start, stop)`` over ``[0, size)``: in parts on ``num_threads()`` threads
    when each part gets at least ``min_part`` items, else once here. For memory-bound NumPy
    loops (an optimiser's update of a 16M-element weight), which release the GIL: one core
    cannot use all of the memory bandwidth (see ``optim.optimizer.add_scaled_``). Every part
    has finished when this returns, also when one raised (the first error is re-raised);
    called from inside a part, it runs in that thread."""
    global _pool
    parts = min(num_threads(), size // max(min_part, 1))
    if parts < 2 or getattr(_in_pool, "active", False):
        fn(0, size)
        return
    with _pool_lock:
        if _pool is None or _pool._max_workers < parts:
            _pool = concurrent.futures.ThreadPoolExecutor(parts, thread_name_prefix="chainrule")
        pool = _pool
    bounds = [size * i // parts for i in range(parts + 1)]
    futures = [pool.submit(_run_in_pool, fn, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    try:
        fn(bounds[0], bounds[1])    # the first part in this thread
    finally:
        concurrent.futures.wait(futures)
    for f in futures:
        f.result()


_default_float = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The floating dtype given to tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype) -> None:
    """Set the floating dtype for new tensors: ``cr.set_default_dtype(np.float64)``."""
    global _default_float
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_float = d


def as_array(data, dtype=None) -> np.ndarray:
    """Turn user data into an ndarray: Python floats become the default float dtype,
    NumPy arrays keep theirs (float64 stays float64), Python ints become int64."""
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data
    arr = np.asarray(data)
    if arr.dtype.kind == "f" and not isinstance(data, np.generic):
        arr = arr.astype(_default_float, copy=False)
    elif arr.dtype.kind == "i" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype}")
    return arr


class Constant(dict):
    """One number as a read-only 0-d array of each dtype asked for: ``HALF[x.dtype]``.

    NumPy takes a slower path for a Python number in an array expression (it works out the
    result dtype from the value each time: 0.85 us for ``x * 0.5`` against 0.45 us for
    ``x * HALF[x.dtype]`` on a small float32 array), and hot elementwise rules meet such
    numbers every step. The result dtype is the same: that of ``x``.

    Example: ``HALF = Constant(0.5)``, then ``np.tanh(a * HALF[a.dtype])``
    """

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def __missing__(self, dtype) -> np.ndarray:
        array = np.asarray(self.value, dtype=dtype)
        array.flags.writeable = False
        self[dtype] = array
        return array


HALF, ONE = Constant(0.5), Constant(1.0)     # the ones the engine's hot rules use


def sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` down to ``shape``: undoes broadcasting, the gradient rule of every op that
    broadcast an input of ``shape`` up to ``g.shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"cannot sum a gradient of shape {g.shape} down to shape {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    out = g.sum(axis=axes, keepdims=True) if axes else g
    return out.reshape(shape) if lead else out


def parse_to(args: tuple, kwargs: dict, what: str = "to"):
    """The dtype asked for by PyTorch-style ``.to(...)`` (None when only a device is named).

    Accepts ``to(dtype)``, ``to("cpu")``, ``to(tensor)`` and ``to(device=..., dtype=...)``;
    a device other than the CPU is an error, since arrays live in NumPy here.
    """
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("copy", None)
    if kwargs:
        raise TypeError(f"{what}: unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if not isinstance(a, (type, np.dtype)) and hasattr(a, "dtype") and hasattr(a, "shape"):
            dtype = a.dtype                     # another tensor or array: take its dtype
        elif isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda", "mps"):
            device = a
        else:
            dtype = a
    if device is not None and str(device).split(":")[0] != "cpu":
        raise ValueError(f"{what}: chainrule runs on the CPU (NumPy); device {device!r} is "
                         f"not available")
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{what}: expected a dtype, a device string or a tensor, got "
                        f"{dtype!r}") from None
