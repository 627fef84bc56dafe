"""Speed machinery, fenced off from the maths: every trick that makes a step faster without
changing what it computes lives here, behind one switch.

* ``tune_malloc()``      keep freed array memory in the process (an explicit call, made by the
                         command line and the benchmarks; never a side effect of import)
* ``run_split``          a small thread pool for memory-bound NumPy passes
* ``add_scaled_``        ``param += alpha * x`` in cache-sized chunks, on the pool
* gradient buffers       a dropped large ``.grad`` kept aside and written into next backward
  (``keep_spare``, ``product_into_grad``)
* ``reduce_sum``/``reduce_dot``  per-channel sums as BLAS products
* ``ones``               a cached vector of ones (bias gradients as one GEMV)

Turn it all off with ``CHAINRULE_KERNELS=0`` in the environment, or ``set_enabled(False)``:
every function here then takes the plain NumPy expression, which computes the same values
(tests/test_kernels.py checks both paths). Measured effects are in benchmarks/README.md.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import math
import os
import sys
import threading

import numpy as np

from chainrule import threads

_enabled = os.environ.get("CHAINRULE_KERNELS", "1") != "0"


def enabled() -> bool:
    """True when the fast paths are on (the default)."""
    return _enabled


def set_enabled(flag: bool) -> bool:
    """Switch every fast path on or off; returns the previous setting.

    Example: ``old = kernels.set_enabled(False)`` ... ``kernels.set_enabled(old)``
    """
    global _enabled
    previous, _enabled = _enabled, bool(flag)
    return previous


# ------------------------------------------------------------------------------ malloc
def tune_malloc() -> bool:
    """Keep freed array memory in the process instead of handing it back to the kernel.

    glibc returns blocks above 128 KiB to the kernel (mmap) and trims the heap eagerly, so an
    activation freed at the end of one training step is faulted back in, page by zeroed
    page, in the next. Raising the two thresholds (32 MiB for mmap, 128 MiB kept before
    trimming) avoids that. It changes the whole process's allocator, so it is the caller's
    decision: ``chainrule`` (the command) and the benchmarks make it; a library user calls
    ``cr.kernels.tune_malloc()`` once at start-up if they want it. Linux/glibc only; returns
    True when the settings were applied. ``CHAINRULE_MALLOC_TUNING=0`` declines it.
    """
    if (not _enabled or os.environ.get("CHAINRULE_MALLOC_TUNING", "1") == "0"
            or not sys.platform.startswith("linux")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3     # from glibc's <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and \
            bool(libc.mallopt(m_trim_threshold, 128 << 20))
    except (OSError, AttributeError):
        return False        # not glibc (musl, macOS): nothing to tune


# ------------------------------------------------------------------------- thread pool
def num_threads() -> int:
    """Threads chainrule's own loops may use (BLAS keeps its own pool): see
    ``chainrule.threads.pool_size`` (a count set with ``cr.set_num_threads``, else
    ``OMP_NUM_THREADS``-style variables, else the fitted count, else the CPUs we may use)."""
    return threads.pool_size()


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
    loops, which release the GIL: one core cannot use all of the memory bandwidth. Every part
    has finished when this returns, also when one raised (the first error is re-raised);
    called from inside a part, it runs in that thread."""
    global _pool
    parts = min(num_threads(), size // max(min_part, 1)) if _enabled else 1
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


# ----------------------------------------------------------------- the parameter update
# Elements per chunk: 1 MiB of float32, so a scaled chunk is still in cache when it is added.
_CHUNK = 1 << 18
# Arrays up to 4 MiB of float32 take the plain expression: the full-size temporary still fits
# in the cache, and one pass of two NumPy calls beats chunking.
_PLAIN_MAX = 1 << 20


def add_scaled_(param: np.ndarray, x: np.ndarray, alpha: float) -> None:
    """``param += alpha * x`` in place, exactly as that expression rounds, without a
    full-size temporary: large arrays go through in cache-sized chunks, on several threads.
    (The one update rule of SGD and friends; see benchmarks/README.md for its timings.)"""
    if (not _enabled or param.size <= _PLAIN_MAX
            or not (x.shape == param.shape and param.flags.c_contiguous and x.flags.c_contiguous)):
        # (A NumPy scalar alpha is not weak: it keeps its own dtype, so it is used as is.)
        param += x * typed_scalar(alpha, x.dtype) if type(alpha) is float else alpha * x
        return
    flat_p, flat_x = param.reshape(-1), x.reshape(-1)
    dtype = np.result_type(x, alpha)

    def update(start: int, stop: int) -> None:
        scratch = np.empty(_CHUNK, dtype=dtype)
        for lo in range(start, stop, _CHUNK):
            hi = min(lo + _CHUNK, stop)
            scaled = scratch[:hi - lo]
            np.multiply(flat_x[lo:hi], alpha, out=scaled)
            flat_p[lo:hi] += scaled

    run_split(update, flat_p.size, min_part=1 << 21)


_typed_scalars: dict = {}


def typed_scalar(alpha: float, dtype) -> np.ndarray:
    """Python float ``alpha`` as a read-only 0-d array of the dtype NumPy gives ``alpha *
    array_of_dtype``, kept for the next call: a Python number costs NumPy a dtype decision
    per expression (see backend.Constant). NumPy rounds a Python number to that dtype before
    multiplying, so the product is the same."""
    key = (alpha, dtype)
    typed = _typed_scalars.get(key)
    if typed is None:
        if len(_typed_scalars) > 64:        # a schedule changes lr every step: stay small
            _typed_scalars.clear()
        typed = np.asarray(alpha, dtype=np.result_type(dtype, alpha))
        _typed_scalars[key] = typed
        typed.flags.writeable = False
    return typed


# ------------------------------------------------------------------- gradient buffers
# glibc maps every array above its mmap threshold fresh from the kernel, which zeroes it
# page by page. So zero_grad keeps a dropped gradient this large aside (``keep_spare``), and
# the next backward writes the new gradient into it (``product_into_grad``).
SPARE_MIN_BYTES = 32 << 20


def keep_spare(t, grad) -> None:
    """Called by ``autograd.zero_grad_`` as it drops ``grad`` from ``t``: keep its array as
    ``t._grad_spare`` when it is large and nobody else can see it."""
    arr = getattr(grad, "_array", None)
    if (_enabled and type(arr) is np.ndarray and arr.nbytes >= SPARE_MIN_BYTES
            and getattr(grad, "grad_fn", None) is None and arr.base is None
            and _reference_counts(grad, arr) == _UNSHARED_GRAD):
        try:
            t._grad_spare = arr
        except AttributeError:
            pass                     # a parameter-like object that is not a Tensor


def _spare_for(t, shape: tuple, dtype) -> np.ndarray | None:
    """The spare array to compute leaf ``t``'s gradient into, or None. Taken at most once:
    a second use of ``t`` in the same backward gets a fresh array. (``dtype`` may be a
    callable giving it, so the usual case, no spare, does not compute it.)"""
    if not _enabled or t is None or t._array.nbytes < SPARE_MIN_BYTES:
        return None                     # too small to have been kept (the usual case)
    spare = getattr(t, "_grad_spare", None)
    if spare is None:
        return None
    if callable(dtype):
        dtype = dtype()
    if _reference_counts(spare) != _UNSHARED_SPARE:
        spare = None                     # somehow held elsewhere too: never write into it
    t._grad_spare = None
    if spare is None or t.grad is not None or spare.shape != shape or spare.dtype != dtype:
        return None
    return spare


def product_into_grad(leaf, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``, the gradient of ``leaf`` (a weight), written into the array its last
    gradient left behind when there is one (see ``keep_spare``)."""
    buf = _spare_for(leaf, (a.shape[0], b.shape[1]), lambda: np.result_type(a, b))
    return np.dot(a, b) if buf is None else np.matmul(a, b, out=buf)


def _reference_counts(*objects) -> tuple:
    return tuple(sys.getrefcount(o) for o in objects)


class _Holder:
    __slots__ = ("_array", "_grad_spare")


def _counts_as_in_keep_spare(t, grad) -> tuple:
    arr = getattr(grad, "_array", None)       # the same frame shape as keep_spare's
    return _reference_counts(grad, arr)


def _calibrate() -> tuple[tuple, tuple]:
    """What _reference_counts reports, in the two places above, for objects nobody else
    holds: measured rather than assumed, since interpreters count borrowed references
    differently (CPython 3.14 borrows more of them)."""
    grad = _Holder()                     # as in zero_grad_: held by its local, and passed on
    grad._array = np.empty(1)
    unshared_grad = _counts_as_in_keep_spare(None, grad)
    holder = _Holder()
    holder._grad_spare = np.empty(1)
    spare = getattr(holder, "_grad_spare", None)   # as in _spare_for: the slot and a local
    return unshared_grad, _reference_counts(spare)


_UNSHARED_GRAD, _UNSHARED_SPARE = _calibrate()


# --------------------------------------------------------------------- fast reductions
# Normalisation needs per-channel (BatchNorm) or per-row (LayerNorm) sums over large arrays.
# NumPy's multi-axis sum makes several passes; a matrix-vector product against a vector of
# ones is one SIMD pass, and a batched dot product gives the sum of a product without
# building it. Both apply whenever the kept dims form one block.
def _blocks(shape: tuple, axes: tuple) -> tuple[int, int, int] | None:
    """(A, K, B) when the dims not in ``axes`` are one contiguous block: the array reads as
    (A, K, B) and the reduction is over A and B. None otherwise."""
    kept = [i for i in range(len(shape)) if i not in axes]
    if not kept or kept != list(range(kept[0], kept[-1] + 1)):
        return None
    return (math.prod(shape[:kept[0]]), math.prod(shape[kept[0]:kept[-1] + 1]),
            math.prod(shape[kept[-1] + 1:]))


def reduce_sum(a: np.ndarray, axes: tuple) -> np.ndarray:
    """``a.sum(axes, keepdims=True)``, in one pass where the layout allows."""
    blocks = _blocks(a.shape, axes) if _enabled else None
    if blocks is None or a.dtype.kind != "f":
        return a.sum(axis=axes, keepdims=True)
    keep = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    n_a, n_k, n_b = blocks
    if n_b >= 16:                                   # rows of B values: one GEMV, then over A
        out = a.reshape(n_a * n_k, n_b) @ np.ones(n_b, dtype=a.dtype)
        out = out.reshape(n_a, n_k).sum(axis=0) if n_a > 1 else out
    else:                                           # short rows: sum over A by one GEMV first
        out = np.ones(n_a, dtype=a.dtype) @ a.reshape(n_a, n_k * n_b)
        out = out.reshape(n_k, n_b).sum(axis=1) if n_b > 1 else out
    return out.reshape(keep)


def reduce_dot(a: np.ndarray, b: np.ndarray, axes: tuple) -> np.ndarray:
    """``(a * b).sum(axes, keepdims=True)`` without building ``a * b`` where it can."""
    blocks = _blocks(a.shape, axes) if _enabled else None
    if blocks is None or a.shape != b.shape or a.dtype.kind != "f" or a.dtype != b.dtype:
        return (a * b).sum(axis=axes, keepdims=True)
    keep = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    n_a, n_k, n_b = blocks
    if n_b >= 32:                                   # long rows: one BLAS dot per row
        rows = np.matmul(a.reshape(n_a * n_k, 1, n_b), b.reshape(n_a * n_k, n_b, 1))
        out = rows.reshape(n_a, n_k).sum(axis=0)
    else:
        out = np.einsum("akb,akb->k", a.reshape(n_a, n_k, n_b), b.reshape(n_a, n_k, n_b))
    return out.reshape(keep)


_ones_cache: list = [np.ones(0)]


def column_sums(m: np.ndarray) -> np.ndarray:
    """``m.sum(axis=0)`` for a 2-D array, as the product of a cached vector of ones with it
    (BLAS, several times faster than NumPy's sum at layer sizes; a training loop asks for the
    same length every step, so the vector is kept)."""
    if not _enabled:
        return m.sum(axis=0)
    ones = _ones_cache[0]
    n = m.shape[0]
    if ones.shape[0] != n or ones.dtype != m.dtype:
        ones = np.ones(n, dtype=m.dtype)
        ones.flags.writeable = False
        _ones_cache[0] = ones
    return np.dot(ones, m)
