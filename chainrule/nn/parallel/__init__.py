"""Data parallelism over processes (PyTorch's ``torch.nn.parallel``): see
:class:`DistributedDataParallel` and :mod:`chainrule.distributed`."""
from chainrule.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
