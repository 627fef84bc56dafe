"""The federated training loop: rounds of sampling, local training and aggregation."""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np

from chainrule import threads
from chainrule.federated.algorithms import FedAvg
from chainrule.federated.clients import LocalTrainer, SequentialClients
from chainrule.nn.loss import CrossEntropyLoss
from chainrule.nn.module import Module
from chainrule.train import History, evaluate

__all__ = ["federate"]


def federate(model: Module, client_datasets: Sequence, rounds: int,
             strategy: FedAvg | None = None, *, loss_fn: Callable | None = None,
             local_epochs: int = 1, batch_size: int = 32, lr: float = 0.05,
             momentum: float = 0.0, val_loader=None, runner=None, seed: int = 0,
             verbose: int = 1, on_round_end: Callable | None = None) -> History:
    """Train ``model`` by federated learning over ``client_datasets`` (one per client) for
    ``rounds`` rounds and return the History (one row per round).

    Each round: ``strategy`` draws the clients (seeded by ``seed``), the ``runner`` has each
    of them train a copy of the global model for ``local_epochs`` epochs of SGD on its own
    data, and ``strategy`` aggregates their states into the next global model, which is
    scored on ``val_loader``. ``model`` ends holding the final global model.

    Logged per round: ``loss`` (the clients' mean training loss, weighted by their samples),
    ``clients`` (how many trained), and with ``val_loader`` its ``val_loss`` and
    ``val_accuracy``. ``on_round_end(round, history, model)`` runs after each round.

    Args:
        strategy: :class:`FedAvg` (default, every client every round) or :class:`FedProx`.
        runner: where the clients run; default :class:`SequentialClients` (this process),
            or :class:`DistributedClients` on the ranks of an MPI process group (every rank
            calls ``federate`` alike; each ends with the same model as one process would).

    Example:
        >>> parts = iid_partition(len(train_set), num_clients=10)               # doctest: +SKIP
        >>> clients = [cr.data.Subset(train_set, p) for p in parts]             # doctest: +SKIP
        >>> history = federate(model, clients, rounds=50,
        ...                    strategy=FedProx(mu=0.01, fraction=0.5),
        ...                    val_loader=test_loader)                           # doctest: +SKIP
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"federate: rounds must be an int >= 1, got {rounds!r}")
    if verbose not in (0, 1):
        raise ValueError(f"federate: verbose must be 0 or 1, got {verbose!r}")
    strategy = FedAvg() if strategy is None else strategy
    runner = SequentialClients() if runner is None else runner
    loss_fn = CrossEntropyLoss() if loss_fn is None else loss_fn
    threads.fit_threads()       # the clients' loop is our own, not fit's, which would do it
    # The clients train a workspace copy; the global model changes only by aggregation.
    trainer = LocalTrainer(copy.deepcopy(model), client_datasets, loss_fn, strategy,
                           local_epochs, batch_size, lr, momentum, seed)
    sampler = np.random.default_rng([seed, 13])
    global_state = {k: np.array(v.data, copy=True) for k, v in model.state_dict().items()}
    history = History()
    for round in range(1, rounds + 1):
        chosen = strategy.sample(trainer.num_clients, sampler)
        results = runner.run(trainer, global_state, chosen, round)
        global_state = strategy.aggregate(results)
        model.load_state_dict(global_state)
        samples = np.array([r.num_samples for r in results], dtype=np.float64)
        logs = {"loss": float(np.dot(samples, [r.loss for r in results]) / samples.sum()),
                "clients": float(len(results))}
        if val_loader is not None:
            logs.update({f"val_{k}": v
                         for k, v in evaluate(model, val_loader, loss_fn).items()})
        history.append(round, logs)
        if verbose:
            shown = " - ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "clients")
            print(f"round {round}/{rounds}: clients {chosen} - {shown}", flush=True)
        if on_round_end is not None:
            on_round_end(round, history, model)
    return history
