"""How many threads the BLAS library and chainrule's own loops run on: the cores this process
may really use, never more.

OpenBLAS starts one thread per CPU it can see. That is too many when the CPUs are not all
ours: a container's CPU quota, an affinity mask shared with other ranks of a data-parallel
job, or a core another program keeps busy. Then the BLAS threads wait for each other on
shared cores: with one busy process on the other core of a 2-core machine, a 2-thread step
runs 3-4x slower than a 1-thread one. :func:`fit_threads` counts the cores that are really
free, the smallest of

* the CPUs in the affinity mask (``taskset``, ``mpiexec --bind-to``, a cpuset),
* the cgroup CPU quota (``docker run --cpus 1.5`` gives 1), v2 ``cpu.max`` or v1
  ``cpu.cfs_quota_us``,
* those CPUs less the ones other processes keep busy (per-CPU busy time from
  ``/proc/stat``, sampled over 50 ms while this process sleeps),

shares them among the ranks of the job that run on the same cores, and lowers the thread
count to that. It never raises a count: a limit set by the user (``OMP_NUM_THREADS``,
``threadpoolctl``, :func:`set_num_threads`) stays. ``init_process_group``, ``fit`` and the
``chainrule`` command call it once per process; a script with its own loop may call it too.

The BLAS side goes through ``threadpoolctl`` (installed with ``chainrule[mpi]``); without it
only chainrule's own thread pool (``kernels.run_split``) follows the count.

    >>> import chainrule as cr
    >>> cr.set_num_threads(1)          # as torch.set_num_threads
    >>> cr.get_num_threads()
    1
"""
from __future__ import annotations

import math
import os
import time

__all__ = ["set_num_threads", "get_num_threads", "fit_threads", "user_chose_threads",
           "pool_size", "usable_cpus", "affinity_cpus", "cgroup_cpu_limit", "busy_elsewhere"]

# The count set by set_num_threads (the user's) and the one fit_threads chose.
_explicit: int | None = None
_fitted: int | None = None
_measured = False          # fit_threads has measured once in this process
# Cores other processes kept busy when fit_threads measured (None: not measured).
measured_busy: float | None = None

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ------------------------------------------------------------------------ what we may use
def affinity_cpus() -> set[int]:
    """The CPUs this process may run on (all of them where the OS has no affinity call)."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:
        return set(range(os.cpu_count() or 1))


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in cores (``1.5`` for ``--cpus 1.5``), or None
    when there is none. Reads cgroup v2 ``cpu.max`` ("quota period" or "max ...") or v1
    ``cpu/cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (a quota of -1 means none)."""
    text = _read(os.path.join(root, "cpu.max"))
    if text:
        quota, _, period = text.partition(" ")
        return int(quota) / int(period) if quota != "max" and period.strip() else None
    quota = _read(os.path.join(root, "cpu", "cpu.cfs_quota_us"))
    period = _read(os.path.join(root, "cpu", "cpu.cfs_period_us"))
    if quota and period and int(quota) > 0:
        return int(quota) / int(period)
    return None


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, ValueError):
        return None


def _cpu_busy_ticks(cpus: set[int], stat: str = "/proc/stat") -> int | None:
    """Clock ticks the given CPUs have spent on anything but idling, since boot (None when
    /proc/stat is not there). Fields: user nice system idle iowait irq softirq steal ...;
    idle and iowait are free time, steal is time the hypervisor gave to another machine."""
    text = _read(stat)
    if text is None:
        return None
    busy = 0
    for line in text.splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        if int(name[3:]) in cpus:
            ticks = [int(v) for v in fields[:8]]
            busy += sum(ticks) - ticks[3] - ticks[4]
    return busy


def busy_elsewhere(cpus: set[int] | None = None, seconds: float = 0.05) -> float:
    """How many of ``cpus`` (default: this process's) other processes keep busy: their busy
    time over ``seconds``, this process's own CPU time taken out, in cores. Sleeps for
    ``seconds``; 0.0 where /proc/stat is not available."""
    cpus = affinity_cpus() if cpus is None else cpus
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    before, own_before, t0 = _cpu_busy_ticks(cpus), _own_cpu_seconds(), time.perf_counter()
    if before is None:
        return 0.0
    time.sleep(seconds)
    after, own_after, t1 = _cpu_busy_ticks(cpus), _own_cpu_seconds(), time.perf_counter()
    elapsed = t1 - t0
    others = (after - before) / hz - (own_after - own_before)
    return max(0.0, min(float(len(cpus)), others / elapsed))


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def usable_cpus(busy: float | None = None, sample_seconds: float = 0.05) -> int:
    """The cores this process may really use now: the affinity mask, capped by the cgroup
    quota (rounded down), less the cores others keep busy (``busy``, measured over
    ``sample_seconds`` when not given; rounded to the nearest core); at least 1."""
    cpus = affinity_cpus()
    count = len(cpus)
    quota = cgroup_cpu_limit()
    if quota is not None:
        count = min(count, max(1, math.floor(quota)))
    if busy is None:
        busy = busy_elsewhere(cpus, sample_seconds) if sample_seconds > 0 else 0.0
    return max(1, count - math.floor(busy + 0.5))


# ------------------------------------------------------------------------- setting it
def _blas_threads() -> int | None:
    """The thread count of the BLAS libraries loaded in this process (the largest), or
    None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(counts) if counts else None


def _env_threads() -> int | None:
    for var in _THREAD_VARS:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def pool_size() -> int:
    """Threads for chainrule's own pool (``kernels.run_split``), in this order: the count
    of :func:`set_num_threads`; the first of ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
    ``MKL_NUM_THREADS`` that is set (as the BLAS libraries read them); the count
    :func:`fit_threads` chose; the CPUs this process may run on."""
    return _explicit or _env_threads() or _fitted or len(affinity_cpus())


def _limit_blas(n: int) -> bool:
    """Limit the BLAS libraries to ``n`` threads; False when they could not be reached
    (no threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(limits=n, user_api="blas")
    return True


def set_num_threads(n: int) -> None:
    """Run BLAS and chainrule's own loops on ``n`` threads (PyTorch's
    ``torch.set_num_threads``). An explicit choice: :func:`fit_threads` leaves it alone.

    Example: ``cr.set_num_threads(1)`` before a data-parallel run with one rank per core.
    """
    global _explicit
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    if not _limit_blas(n):
        raise ImportError("set_num_threads needs threadpoolctl to reach the BLAS library: "
                          "pip install threadpoolctl (or 'chainrule[mpi]')")
    _explicit = n


def get_num_threads() -> int:
    """The threads chainrule computes on: the count set or fitted here, else BLAS's own,
    else the CPUs this process may run on."""
    return _explicit or _fitted or _blas_threads() or pool_size()


def user_chose_threads() -> bool:
    """True when the user set the thread count: an ``OMP_NUM_THREADS``-style variable or
    :func:`set_num_threads`."""
    return _explicit is not None or _env_threads() is not None


def fit_threads(ranks_sharing: int = 1, busy: float | None = None, once: bool = True) -> int:
    """Lower the thread count to the cores this process may really use, shared by
    ``ranks_sharing`` processes of one job on the same cores; returns the count in force.
    ``busy``: the cores other processes keep busy, when the caller measured it (a
    data-parallel job measures once for all its ranks); else it is sampled here (50 ms).

    Leaves the count alone when the user chose it: ``OMP_NUM_THREADS``,
    ``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS`` set, or :func:`set_num_threads` called.
    Never raises a count (a lower ``threadpoolctl`` limit stays). With ``once`` (the
    default) only the first call in a process measures; later ones return the count.

    Example: ``cr.threads.fit_threads()`` at the start of a script with its own loop.
    """
    global _fitted, _measured, measured_busy
    if isinstance(ranks_sharing, bool) or not isinstance(ranks_sharing, int) or ranks_sharing < 1:
        raise ValueError(f"fit_threads: ranks_sharing must be a positive int, "
                         f"got {ranks_sharing!r}")
    if user_chose_threads() or (once and _measured):
        return get_num_threads()
    _measured = True
    if busy is None:
        busy = busy_elsewhere()
    measured_busy = busy
    n = max(1, usable_cpus(busy) // ranks_sharing)
    current = _blas_threads()
    if current is not None:
        n = min(n, current)
    _fitted = n
    _limit_blas(n)
    return n
