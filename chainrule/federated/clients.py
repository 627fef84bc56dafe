"""The clients' side: local training of one client, and the runners that execute a round's
clients.

:class:`LocalTrainer` turns (client index, global state, round) into a
:class:`~chainrule.federated.algorithms.ClientResult`, deterministically: its shuffling
draws from a generator seeded by (seed, round, client), never from shared state, so a
client's update is the same whichever process runs it and in whatever order.

A *runner* executes the clients of a round and is the only part that knows where they run:
:class:`SequentialClients` one after another in this process, :class:`DistributedClients`
on the ranks of an MPI process group (``chainrule.distributed``), client ``c`` on rank
``c mod world size``. Both return the same results, so everything above them (sampling,
weighted averaging, evaluation) is unchanged, and a run on N ranks ends with the same
model as the run in one process.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import numpy as np

from chainrule import distributed as dist
from chainrule.data import DataLoader
from chainrule.federated.algorithms import ClientResult, FedAvg
from chainrule.nn.module import Module
from chainrule.optim import SGD

__all__ = ["LocalTrainer", "SequentialClients", "DistributedClients"]


class LocalTrainer:
    """One client's local training: load the global state, train ``local_epochs`` with
    fresh SGD on the client's data, return the new state.

    Args:
        model: a model of the global architecture, used as the clients' workspace.
        datasets: one dataset per client (``Subset`` of a shared one, usually).
        loss_fn: the task's loss, e.g. ``nn.CrossEntropyLoss()``.
        strategy: supplies the client's objective (FedProx adds its proximal term).
        local_epochs, batch_size, lr, momentum: the local SGD.
        seed: with the round and the client, seeds each client's shuffling.
    """

    def __init__(self, model: Module, datasets: Sequence, loss_fn: Callable,
                 strategy: FedAvg, local_epochs: int = 1, batch_size: int = 32,
                 lr: float = 0.05, momentum: float = 0.0, seed: int = 0):
        for name, value in (("local_epochs", local_epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LocalTrainer: {name} must be an int >= 1, got {value!r}")
        if not lr > 0:
            raise ValueError(f"LocalTrainer: lr must be > 0, got {lr!r}")
        if not datasets:
            raise ValueError("LocalTrainer: no client datasets given")
        empty = [i for i, d in enumerate(datasets) if len(d) == 0]
        if empty:
            raise ValueError(f"LocalTrainer: clients {empty} have no samples")
        self.model, self.datasets, self.loss_fn, self.strategy = model, list(datasets), loss_fn, strategy
        self.local_epochs, self.batch_size = local_epochs, batch_size
        self.lr, self.momentum, self.seed = float(lr), float(momentum), int(seed)

    @property
    def num_clients(self) -> int:
        return len(self.datasets)

    def train(self, client: int, global_state: Mapping[str, np.ndarray], round: int) -> ClientResult:
        """Client ``client``'s update in round ``round`` (1-based), starting from ``global_state``.

        The update is FedAvg's ClientUpdate, plain minibatch SGD written out here rather than
        through ``train.fit``: a client always trains alone, while ``fit`` under a process
        group of several ranks would train data-parallel with the other ranks (and its
        result is the same: tests/test_federated.py checks the two against each other).
        """
        model = self.model
        model.load_state_dict(global_state)
        model.train()
        data = self.datasets[client]
        loader = DataLoader(data, batch_size=self.batch_size, shuffle=True,
                            generator=np.random.default_rng([self.seed, round, client]))
        optimizer = SGD(model.parameters(), lr=self.lr, momentum=self.momentum)
        loss_fn = self.strategy.local_loss(self.loss_fn, model, global_state)
        epoch_losses = []
        for _ in range(self.local_epochs):
            total, seen = 0.0, 0
            for x, y in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(x), y)
                value = float(loss.item())
                if not math.isfinite(value):
                    raise FloatingPointError(f"client {client} diverged in round {round} (a "
                                             f"loss of {value}); lower the learning rate")
                loss.backward()
                optimizer.step()
                total += value * int(y.shape[0])
                seen += int(y.shape[0])
            epoch_losses.append(total / seen)
        state = {k: np.array(v.data, copy=True) for k, v in model.state_dict().items()}
        return ClientResult(client, state, len(data), float(np.mean(epoch_losses)))


class SequentialClients:
    """Runs a round's clients one after another in this process (the simulation)."""

    def run(self, trainer: LocalTrainer, global_state: Mapping[str, np.ndarray],
            clients: Sequence[int], round: int) -> list[ClientResult]:
        return [trainer.train(c, global_state, round) for c in clients]


class DistributedClients:
    """Runs a round's clients on the ranks of the MPI process group: client ``c`` lives on
    rank ``c mod world size`` (with as many ranks as clients, one client per rank), and
    each rank trains those of its clients the round drew.

    Every rank runs the same program (``mpiexec -n N python script.py``) and calls
    :func:`~chainrule.federated.federate` with this runner; each rank starts the round
    from rank 0's global state, trains its clients, and one all-reduce hands every rank
    every client's result, so every rank averages the same list, exactly as one process
    would (:class:`SequentialClients`): the run ends with the same model on every rank and
    the same one as in one process. Only rank 0 should print and write files.

    The all-reduce adds rows that only their owner fills (the others send zeros), which
    copies each client's state, sample count and loss exactly whatever the order of the
    additions (x + 0 = x; only a -0.0 arrives as 0.0, which compares and computes alike). It moves (clients in the round) x (model size) float64 values per rank;
    summing the weighted states on each rank first would move one model's worth, but
    would make the average depend on how the clients fall on the ranks (floating-point
    addition is not associative), so runs on different numbers of ranks would drift apart.

    Example:
        >>> import chainrule.distributed as dist
        >>> dist.init_process_group("mpi")        # under mpiexec -n 4: 4 ranks  # doctest: +SKIP
        >>> history = federate(model, clients, rounds=50, runner=DistributedClients(),
        ...                    verbose=int(dist.get_rank() == 0))          # doctest: +SKIP
    """

    def __init__(self):
        if not dist.is_initialized():
            raise ValueError("DistributedClients: no process group; call "
                             "chainrule.distributed.init_process_group('mpi') first (and start "
                             "the program with mpiexec -n N)")
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()

    def owner(self, client: int) -> int:
        """The rank that trains ``client``."""
        return client % self.world_size

    def run(self, trainer: LocalTrainer, global_state: Mapping[str, np.ndarray],
            clients: Sequence[int], round: int) -> list[ClientResult]:
        layout = [(key, np.asarray(value).shape, np.asarray(value).dtype)
                  for key, value in global_state.items()]
        start = _flat([global_state], layout)
        dist.broadcast(start, src=0)          # every rank trains from rank 0's model
        start_state = _unflat(start[0], layout)
        size = start.shape[1]
        # One row per client of the round: its state, then its sample count and loss.
        rows = np.zeros((len(clients), size + 2))
        for i, client in enumerate(clients):
            if self.owner(client) == self.rank:
                result = trainer.train(client, start_state, round)
                rows[i, :size] = _flat([result.state], layout)[0]
                rows[i, size:] = result.num_samples, result.loss
        dist.all_reduce(rows)                 # x + 0 == x: each row arrives as its owner sent it
        return [ClientResult(client, _unflat(row[:size], layout), int(row[size]),
                             float(row[size + 1])) for client, row in zip(clients, rows)]


def _flat(states: Sequence[Mapping[str, np.ndarray]], layout) -> np.ndarray:
    """States as rows of float64 (exact for float32/float64 entries and for integer
    counters below 2**53)."""
    return np.stack([np.concatenate([np.asarray(state[key], dtype=np.float64).ravel()
                                     for key, _, _ in layout]) for state in states])


def _unflat(row: np.ndarray, layout) -> dict[str, np.ndarray]:
    out, offset = {}, 0
    for key, shape, dtype in layout:
        n = int(np.prod(shape, dtype=np.int64))
        out[key] = row[offset:offset + n].reshape(shape).astype(dtype)
        offset += n
    return out
