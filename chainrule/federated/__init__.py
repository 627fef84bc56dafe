"""Federated learning: FedAvg and FedProx over simulated clients, with IID and Dirichlet
non-IID splits of a data set.

    >>> import chainrule as cr
    >>> from chainrule import federated
    >>> X = cr.randn(400, 5).data; y = (X[:, 0] > 0).astype("int64")
    >>> data = cr.data.TensorDataset(X, y)
    >>> parts = federated.dirichlet_partition(y, num_clients=4, alpha=0.5, seed=0)
    >>> clients = [cr.data.Subset(data, p) for p in parts]
    >>> model = cr.nn.Sequential(cr.nn.Linear(5, 2))
    >>> history = federated.federate(model, clients, rounds=3, lr=0.1, verbose=0,
    ...                              strategy=federated.FedProx(mu=0.01, fraction=0.5))
    >>> history.epoch, history["clients"]
    ([1, 2, 3], [2.0, 2.0, 2.0])

Layout: :mod:`~chainrule.federated.partition` (splits), :mod:`~chainrule.federated.algorithms`
(client sampling, the clients' objective, weighted averaging),
:mod:`~chainrule.federated.clients` (local training and the runners that execute a round's
clients: :class:`SequentialClients` in one process, :class:`DistributedClients` on MPI
ranks) and :mod:`~chainrule.federated.server` (:func:`federate`, the loop over rounds).

Under ``mpiexec -n N`` with ``runner=DistributedClients()`` each rank trains its clients and
the run ends with the same model as in one process: each client's shuffling is seeded by
the run's seed, the round and the client index, never by where it runs.
"""
from chainrule.federated.algorithms import ClientResult, FedAvg, FedProx, weighted_average
from chainrule.federated.clients import DistributedClients, LocalTrainer, SequentialClients
from chainrule.federated.partition import dirichlet_partition, iid_partition, label_counts
from chainrule.federated.server import federate

__all__ = ["federate", "FedAvg", "FedProx", "ClientResult", "weighted_average", "LocalTrainer",
           "SequentialClients", "DistributedClients", "iid_partition", "dirichlet_partition",
           "label_counts"]
