"""The server's side of federated learning: which clients train in a round, what they
minimise, and how their models are combined.

* :class:`FedAvg` (McMahan et al., 2017): a ``fraction`` of the clients, drawn afresh each
  round, trains the global model locally; the new global model is the average of theirs
  weighted by their numbers of samples.
* :class:`FedProx` (Li et al., 2020): the same, but each client minimises its loss plus
  ``mu / 2 ||w - w_global||^2``, which keeps the local models from drifting apart on
  non-IID data.
"""
from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from chainrule import ops
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["ClientResult", "FedAvg", "FedProx", "weighted_average"]

State = Mapping[str, np.ndarray]


class ClientResult(NamedTuple):
    """What a client sends back after a round of local training."""
    client: int                 # its index
    state: dict[str, np.ndarray]  # its model's state dict after training
    num_samples: int            # how many samples it trained on (the averaging weight)
    loss: float                 # its mean training loss over the round


def weighted_average(results: Sequence[ClientResult]) -> dict[str, np.ndarray]:
    """The clients' states averaged entry by entry, client k weighted by n_k / sum n.

    Floating entries are averaged in float64 and cast back; integer entries (BatchNorm's
    ``num_batches_tracked``) take the rounded weighted mean.
    """
    if not results:
        raise ValueError("weighted_average: no client results to average")
    weights = np.array([r.num_samples for r in results], dtype=np.float64)
    if np.any(weights <= 0):
        raise ValueError(f"weighted_average: every client must have trained on samples, got "
                         f"{weights.astype(int).tolist()}")
    weights /= weights.sum()
    keys = list(results[0].state)
    for r in results[1:]:
        if list(r.state) != keys:
            raise ValueError(f"weighted_average: client {r.client} sent entries {list(r.state)}, "
                             f"client {results[0].client} sent {keys}")
    out = {}
    for key in keys:
        first = np.asarray(results[0].state[key])
        total = sum(w * np.asarray(r.state[key], dtype=np.float64)
                    for w, r in zip(weights, results))
        out[key] = (total if first.dtype.kind == "f" else np.rint(total)).astype(first.dtype)
    return out


class FedAvg:
    """Federated averaging.

    Args:
        fraction: the share of clients drawn each round (at least ``min_clients``).
        min_clients: the fewest clients a round may have.

    Example:
        >>> strategy = FedAvg(fraction=0.3)
        >>> strategy.sample(10, np.random.default_rng(0))
        [5, 6, 9]
    """

    name = "fedavg"

    def __init__(self, fraction: float = 1.0, min_clients: int = 1):
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not 0 < fraction <= 1:
            raise ValueError(f"{type(self).__name__}: fraction must be in (0, 1], got {fraction!r}")
        if isinstance(min_clients, bool) or not isinstance(min_clients, int) or min_clients < 1:
            raise ValueError(f"{type(self).__name__}: min_clients must be an int >= 1, got "
                             f"{min_clients!r}")
        self.fraction, self.min_clients = float(fraction), min_clients

    def sample(self, num_clients: int, rng: np.random.Generator) -> list[int]:
        """The clients of one round, drawn without replacement, in increasing order."""
        count = min(num_clients, max(self.min_clients, int(round(self.fraction * num_clients))))
        return sorted(int(i) for i in rng.choice(num_clients, size=count, replace=False))

    def local_loss(self, loss_fn: Callable, model: Module, global_state: State) -> Callable:
        """What a client minimises: for FedAvg, the task's loss unchanged."""
        return loss_fn

    def aggregate(self, results: Sequence[ClientResult]) -> dict[str, np.ndarray]:
        """The next global state from one round's results."""
        return weighted_average(results)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(fraction={self.fraction}, min_clients={self.min_clients})"


class _ProximalLoss:
    """loss_fn(out, y) + mu / 2 * sum over parameters of ||w - w_global||^2."""

    def __init__(self, loss_fn: Callable, model: Module, global_state: State, mu: float):
        self.loss_fn, self.mu = loss_fn, mu
        self.pairs = [(p, Tensor(np.asarray(global_state[name], dtype=p.dtype)))
                      for name, p in model.named_parameters() if p.requires_grad]

    def __call__(self, output, target):
        loss = self.loss_fn(output, target)
        if self.mu == 0:
            return loss
        drift = ops.sum(ops.stack([((p - g) * (p - g)).sum() for p, g in self.pairs]))
        return loss + (self.mu / 2) * drift


class FedProx(FedAvg):
    """FedAvg whose clients add the proximal term ``mu / 2 ||w - w_global||^2`` to their loss.

    Args:
        mu: the proximal weight (0: FedAvg exactly; the FedProx paper uses 0.001 to 1).
        fraction, min_clients: as :class:`FedAvg`.
    """

    name = "fedprox"

    def __init__(self, mu: float = 0.01, fraction: float = 1.0, min_clients: int = 1):
        super().__init__(fraction, min_clients)
        if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not mu >= 0 \
                or not np.isfinite(mu):
            raise ValueError(f"FedProx: mu must be a finite number >= 0, got {mu!r}")
        self.mu = float(mu)

    def local_loss(self, loss_fn: Callable, model: Module, global_state: State) -> Callable:
        return _ProximalLoss(loss_fn, model, global_state, self.mu)

    def __repr__(self) -> str:
        return (f"FedProx(mu={self.mu}, fraction={self.fraction}, "
                f"min_clients={self.min_clients})")
