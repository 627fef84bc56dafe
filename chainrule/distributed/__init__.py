"""Data-parallel training across processes and machines, on MPI (PyTorch's
``torch.distributed`` names).

Launch one process per core (or per machine) with MPI, and the same script trains on all of
them; without a launcher it runs as a group of one::

    # train.py
    import chainrule as cr
    import chainrule.distributed as dist

    dist.init_process_group("mpi")
    model = cr.nn.parallel.DistributedDataParallel(build_model())
    sampler = cr.data.DistributedSampler(train_set)          # each rank its share
    loader = cr.data.DataLoader(train_set, batch_size=64, sampler=sampler)
    cr.train.fit(model, loss_fn, opt, loader, epochs=10)      # rank 0 prints and saves

    $ mpiexec -n 4 python train.py         # or: python train.py (one process)

``pip install 'chainrule[mpi]'`` brings mpi4py and MPICH (``mpiexec`` included); no system
MPI is needed. Across machines, see docs/distributed.md.

* :mod:`~chainrule.distributed.group`: ``init_process_group``, ``get_rank``,
  ``get_world_size``, ``is_initialized``, ``abort``
* :mod:`~chainrule.distributed.collectives`: ``all_reduce``, ``broadcast``, ``all_gather``,
  ``reduce_scatter``, ``barrier`` (``async_op=True`` for a :class:`Work` handle), ``ReduceOp``
"""
from chainrule.distributed.collectives import (
    ReduceOp, Work, all_gather, all_gather_into_tensor, all_gather_object, all_reduce, barrier,
    broadcast, broadcast_object_list, reduce_scatter, reduce_scatter_tensor)
from chainrule.distributed.group import (
    abort, destroy_process_group, get_backend, get_rank, get_world_size, init_process_group,
    is_available, is_initialized, is_mpi_available, launched_by_mpi)

__all__ = [
    "init_process_group", "destroy_process_group", "is_initialized", "is_available",
    "is_mpi_available", "get_rank", "get_world_size", "get_backend", "abort", "launched_by_mpi",
    "ReduceOp", "Work", "all_reduce", "broadcast", "all_gather", "all_gather_into_tensor",
    "reduce_scatter", "reduce_scatter_tensor", "barrier", "all_gather_object",
    "broadcast_object_list",
]
