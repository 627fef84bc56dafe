"""Splitting one data set among simulated clients: IID (a random equal share each) or
non-IID by label with a Dirichlet prior (each client's label mix drawn from Dir(alpha)).

    >>> labels = np.repeat(np.arange(4), 50)
    >>> parts = dirichlet_partition(labels, num_clients=5, alpha=0.3, seed=0)
    >>> sum(len(p) for p in parts), label_counts(labels, parts).shape
    (200, (5, 4))
"""
from __future__ import annotations

import numpy as np

__all__ = ["iid_partition", "dirichlet_partition", "label_counts"]


def _check_clients(num_clients: int, n: int, who: str) -> None:
    if isinstance(num_clients, bool) or not isinstance(num_clients, (int, np.integer)) \
            or num_clients < 1:
        raise ValueError(f"{who}: num_clients must be an int >= 1, got {num_clients!r}")
    if num_clients > n:
        raise ValueError(f"{who}: cannot give each of {num_clients} clients a sample from "
                         f"{n} samples")


def iid_partition(num_samples: int, num_clients: int, seed: int = 0) -> list[np.ndarray]:
    """Shuffle ``range(num_samples)`` and cut it into ``num_clients`` near-equal parts (the
    sizes differ by at most one). Each part is sorted."""
    _check_clients(num_clients, num_samples, "iid_partition")
    order = np.random.default_rng([seed, 11]).permutation(num_samples)
    return [np.sort(part) for part in np.array_split(order, num_clients)]


def dirichlet_partition(labels: np.ndarray, num_clients: int, alpha: float, seed: int = 0,
                        min_size: int = 10, max_tries: int = 1000) -> list[np.ndarray]:
    """Label-skewed split (Hsu, Qi and Brown, 2019): for every class, its samples are dealt to
    the clients in proportions drawn from a symmetric Dirichlet(``alpha``). Small ``alpha``
    (0.1) gives most clients a few classes; large ``alpha`` (100) approaches IID.

    Draws repeat until every client holds at least ``min_size`` samples (a client with
    nothing cannot train); a ValueError says so if ``max_tries`` draws all fail.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"dirichlet_partition: labels must be one class index per sample, got "
                         f"shape {labels.shape}")
    _check_clients(num_clients, labels.size, "dirichlet_partition")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0 \
            or not np.isfinite(alpha):
        raise ValueError(f"dirichlet_partition: alpha must be a finite number > 0, got {alpha!r}")
    if min_size * num_clients > labels.size:
        raise ValueError(f"dirichlet_partition: {num_clients} clients of at least {min_size} "
                         f"samples need {min_size * num_clients}, there are {labels.size}")
    rng = np.random.default_rng([seed, 12])
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for members in by_class:
            members = rng.permutation(members)
            shares = rng.dirichlet(np.full(num_clients, float(alpha)))
            cuts = (np.cumsum(shares)[:-1] * members.size).astype(int)
            for client, piece in enumerate(np.split(members, cuts)):
                parts[client].append(piece)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in out) >= min_size:
            return out
    raise ValueError(f"dirichlet_partition: no draw in {max_tries} gave every one of "
                     f"{num_clients} clients {min_size} samples with alpha={alpha}; use fewer "
                     f"clients, a larger alpha or a smaller min_size")


def label_counts(labels: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    """(clients, classes) counts of each client's labels: how skewed a split is."""
    labels = np.asarray(labels)
    classes = int(labels.max()) + 1
    return np.stack([np.bincount(labels[p], minlength=classes) for p in parts])
