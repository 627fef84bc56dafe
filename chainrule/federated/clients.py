"""The clients' side: local training of one client, and the runner that executes a round's
clients.

:class:`LocalTrainer` turns (client index, global state, round) into a
:class:`~chainrule.federated.algorithms.ClientResult`, deterministically: its shuffling
draws from a generator seeded by (seed, round, client), never from shared state, so a
client's update is the same whichever process runs it and in whatever order.

A *runner* executes the clients of a round and is the only part that knows where they run.
:class:`SequentialClients` runs them one after another in this process. A runner for MPI
(one client per rank) would keep this interface: ``run(trainer, global_state, clients,
round)`` on every rank, each rank training the clients assigned to it and the results
gathered so every rank aggregates the same list.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from chainrule.data import DataLoader
from chainrule.federated.algorithms import ClientResult, FedAvg
from chainrule.nn.module import Module
from chainrule.optim import SGD
from chainrule.train import fit

__all__ = ["LocalTrainer", "SequentialClients"]


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
        """Client ``client``'s update in round ``round`` (1-based), starting from ``global_state``."""
        model = self.model
        model.load_state_dict(global_state)
        data = self.datasets[client]
        loader = DataLoader(data, batch_size=self.batch_size, shuffle=True,
                            generator=np.random.default_rng([self.seed, round, client]))
        optimizer = SGD(model.parameters(), lr=self.lr, momentum=self.momentum)
        loss_fn = self.strategy.local_loss(self.loss_fn, model, global_state)
        history = fit(model, loss_fn, optimizer, loader, self.local_epochs, metrics=(),
                      verbose=0)
        if history.diverged:
            raise FloatingPointError(f"client {client} diverged in round {round} (a NaN or "
                                     f"infinite loss); lower the learning rate")
        state = {k: np.array(v.data, copy=True) for k, v in model.state_dict().items()}
        return ClientResult(client, state, len(data), float(np.mean(history["loss"])))


class SequentialClients:
    """Runs a round's clients one after another in this process (the simulation)."""

    def run(self, trainer: LocalTrainer, global_state: Mapping[str, np.ndarray],
            clients: Sequence[int], round: int) -> list[ClientResult]:
        return [trainer.train(c, global_state, round) for c in clients]
