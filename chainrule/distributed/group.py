"""The process group: how many processes train together, which one this is, and the MPI
communicator they share.

Started by an MPI launcher (``mpiexec -n 4 python train.py``), every process calls
``init_process_group("mpi")`` and MPI (through mpi4py) gives it its rank 0..3. Started as a
plain ``python train.py``, the same call makes a group of one, whose collectives return their
input: one script runs either way. MPI is used when a launcher started the process (it sets
``PMI_RANK``/``PMI_SIZE``, ``OMPI_COMM_WORLD_*`` or ``MV2_COMM_WORLD_*``) or when the program
imported ``mpi4py.MPI`` itself.

When the group has more than one process, ``init_process_group`` also

* fits each process's BLAS threads to its share of the cores (``chainrule.threads``): two
  ranks on two cores run one thread each instead of two each;
* makes an exception that nobody catches stop the whole job: the failing rank prints its
  traceback and one line naming itself and the cause, then ``MPI_Abort`` ends every rank
  (the others would otherwise wait for it forever inside a collective). A rank that leaves
  with ``sys.exit(n)`` is not an exception Python reports: end the job with :func:`abort`.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from chainrule import threads

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available",
           "is_mpi_available", "get_rank", "get_world_size", "get_backend", "abort",
           "launched_by_mpi"]

# (size variable, rank variable) of the launchers we recognise: MPICH/Intel MPI (Hydra's
# PMI), Open MPI, MVAPICH.
_LAUNCHER_VARS = (("PMI_SIZE", "PMI_RANK"), ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
                  ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"))


def launched_by_mpi() -> tuple[int, int] | None:
    """``(world size, rank)`` from the environment an MPI launcher sets, or None when no
    launcher started this process (works before, and without, mpi4py)."""
    for size_var, rank_var in _LAUNCHER_VARS:
        size, rank = os.environ.get(size_var), os.environ.get(rank_var)
        if size and rank and size.isdigit() and rank.isdigit():
            return int(size), int(rank)
    return None


def is_mpi_available() -> bool:
    """True when mpi4py can be imported (``pip install 'chainrule[mpi]'``)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_available() -> bool:
    """Always True: without MPI a process group of one is available (PyTorch's name)."""
    return True


# ----------------------------------------------------------------- the world of one
class _Done:
    """The request of an operation that finished when it started."""

    def Wait(self) -> None:  # noqa: N802  (mpi4py's spelling)
        pass

    def Test(self) -> bool:  # noqa: N802
        return True


class SelfComm:
    """The communicator of a group of one: every collective leaves its data as it is
    (the reduction over one process is the process's own value). Same method names and
    buffer conventions as mpi4py's ``Comm``, for the calls chainrule makes."""

    rank, size = 0, 1

    def Get_rank(self) -> int:  # noqa: N802
        return 0

    def Get_size(self) -> int:  # noqa: N802
        return 1

    def Allreduce(self, send, recv, op=None) -> None:  # noqa: N802
        if not isinstance(send, str):           # "in place" is passed as a marker
            np.copyto(recv, send)

    def Iallreduce(self, send, recv, op=None) -> _Done:  # noqa: N802
        self.Allreduce(send, recv, op)
        return _Done()

    def Bcast(self, buf, root: int = 0) -> None:  # noqa: N802
        pass

    def Ibcast(self, buf, root: int = 0) -> _Done:  # noqa: N802
        return _Done()

    def Allgather(self, send, recv) -> None:  # noqa: N802
        np.copyto(recv.reshape(send.shape), send)

    def Iallgather(self, send, recv) -> _Done:  # noqa: N802
        self.Allgather(send, recv)
        return _Done()

    def Reduce_scatter(self, send, recv, recvcounts=None, op=None) -> None:  # noqa: N802
        np.copyto(recv, send.reshape(recv.shape))

    def Ireduce_scatter(self, send, recv, recvcounts=None, op=None) -> _Done:  # noqa: N802
        self.Reduce_scatter(send, recv, recvcounts, op)
        return _Done()

    def Barrier(self) -> None:  # noqa: N802
        pass

    def Ibarrier(self) -> _Done:  # noqa: N802
        return _Done()

    def allgather(self, obj) -> list:
        return [obj]

    def bcast(self, obj, root: int = 0):
        return obj

    def Abort(self, errorcode: int = 1) -> None:  # noqa: N802
        os._exit(errorcode)


# --------------------------------------------------------------------------- the group
class _Group:
    def __init__(self, comm, backend: str):
        self.comm = comm
        self.backend = backend
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.mpi = None if isinstance(comm, SelfComm) else _mpi()


_group: _Group | None = None
_previous_excepthook = None


def _mpi():
    """mpi4py's MPI module, initialising MPI on first use: one thread makes every MPI call
    here (``funneled``), which spares MPICH the locking of ``MPI_THREAD_MULTIPLE``."""
    import mpi4py
    if "mpi4py.MPI" not in sys.modules:
        mpi4py.rc.thread_level = "funneled"
    from mpi4py import MPI
    return MPI


def group() -> _Group:
    """The default group (for the collectives); a clear error before init_process_group."""
    if _group is None:
        raise ValueError("Default process group has not been initialized, please make sure "
                         "to call chainrule.distributed.init_process_group('mpi') first")
    return _group


def init_process_group(backend: str = "mpi", *, world_size: int = -1, rank: int = -1) -> None:
    """Join the processes of this job into the default process group.

    Args:
        backend: ``"mpi"`` (the one backend: collectives through mpi4py).
        world_size / rank: optional checks; MPI decides both, and a value given here that
            differs from MPI's is an error.

    Under ``mpiexec -n N`` the group has N processes; started without a launcher it has one
    (no MPI needed). Launched with N > 1 but without mpi4py installed is an error (each
    process would otherwise train alone and they would overwrite each other's files).

    Example:
        >>> import chainrule.distributed as dist
        >>> dist.init_process_group("mpi")
        >>> dist.get_rank(), dist.get_world_size()      # (0, 1) without mpiexec
        (0, 1)
    """
    global _group
    if backend != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not available; chainrule "
                         f"runs its collectives on MPI: backend='mpi'")
    if _group is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialized (call destroy_process_group() first)")
    launch = launched_by_mpi()
    if launch is not None or "mpi4py.MPI" in sys.modules:
        if not is_mpi_available():
            if launch is not None and launch[0] > 1:
                raise RuntimeError(
                    f"init_process_group: this process was started by an MPI launcher as rank "
                    f"{launch[1]} of {launch[0]}, but mpi4py is not installed; install it with "
                    f"pip install 'chainrule[mpi]'")
            comm = SelfComm()
        else:
            comm = _mpi().COMM_WORLD
    else:
        comm = SelfComm()
    new = _Group(comm, backend)
    for name, given, actual in (("world_size", world_size, new.size), ("rank", rank, new.rank)):
        if given != -1 and given != actual:
            raise ValueError(f"init_process_group: {name}={given} was given but MPI says "
                             f"{actual}; MPI decides (leave {name} out)")
    _group = new
    if new.size > 1:
        _stop_all_on_uncaught_exception()
        _fit_threads_to_node(new)


def destroy_process_group() -> None:
    """Leave the default group (MPI itself stays up until the process ends)."""
    global _group, _previous_excepthook
    _group = None
    if _previous_excepthook is not None:
        sys.excepthook, _previous_excepthook = _previous_excepthook, None


def is_initialized() -> bool:
    """True once :func:`init_process_group` has run in this process."""
    return _group is not None


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1 (0 in a group of one)."""
    return group().rank


def get_world_size() -> int:
    """How many processes are in the group (1 without a launcher)."""
    return group().size


def get_backend() -> str:
    """The backend of the default group: ``"mpi"``."""
    return group().backend


# --------------------------------------------------------------------- stopping a job
def abort(message: str, status: int = 1) -> None:
    """Print ``message`` (one line, on stderr) and end every process of the job with exit
    status ``status``. With MPI this is ``MPI_Abort``: the launcher kills the other ranks,
    wherever they are waiting. Without a group of several processes it just exits."""
    print(message, file=sys.stderr, flush=True)
    if _group is None or _group.size == 1:
        raise SystemExit(status)
    # MPICH adds its own "Abort(n) on node ..." line; our line already says what happened.
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    _group.comm.Abort(status)


def _stop_all_on_uncaught_exception() -> None:
    global _previous_excepthook
    _previous_excepthook = sys.excepthook

    def hook(kind, value, tb):
        _previous_excepthook(kind, value, tb)
        cause = f"{kind.__name__}: {value}".strip().splitlines()[0] if str(value) else kind.__name__
        abort(f"chainrule.distributed: rank {get_rank()} of {get_world_size()} stopped "
              f"with {cause}; ending every rank", 1)

    sys.excepthook = hook


# ---------------------------------------------------------------------------- threads
def _fit_threads_to_node(g: _Group) -> None:
    """Give each rank its share of the cores it runs on. The ranks of one node measure the
    load from other programs at the same moment, while all of them sleep (so none counts
    another's start-up as load), and take the lowest reading."""
    if threads.user_chose_threads():
        return
    mpi = g.mpi
    node = g.comm.Split_type(mpi.COMM_TYPE_SHARED)
    try:
        mine = threads.affinity_cpus()
        node.Barrier()
        busy = threads.busy_elsewhere(mine)
        readings = node.allgather((sorted(mine), busy))
    finally:
        node.Free()
    sharing = sum(1 for cpus, _ in readings if mine & set(cpus))
    threads.fit_threads(ranks_sharing=max(1, sharing), busy=min(b for _, b in readings))
