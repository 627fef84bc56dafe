"""Matrix factorisation recommender with Embedding layers, on ratings with a known answer.

Run: python examples/recommender_mf.py
     python examples/recommender_mf.py --users 300 --items 200 --epochs 10   (a quick look)

The ratings are generated, so we know how well any model *can* do. Each user u and item i
has a hidden ``rank``-dimensional taste vector and a bias; a rating is

    r(u, i) = mu + b_u + b_i + <p_u, q_i> + eps,      eps ~ N(0, sigma^2)

and only a random ``density`` fraction of the (user, item) pairs is observed. The model has
the same form: user and item ``nn.Embedding`` tables of factors and of biases, a global
offset, and a dot product, trained with MSE. Even a model that knew p, q and b exactly would
be off by eps on unseen ratings, so the held-out RMSE cannot go below ``sigma`` (the noise
floor); a well-fitted model approaches it from above, and one that memorised the noise would
turn back up. The run prints the held-out RMSE per epoch beside that floor and beside the
RMSE of always predicting the mean rating.

Measured (2026-11-29, shared 2-core CPU): held-out RMSE 1.133 after the first epoch, 0.329
after the fifteenth against a floor of sigma = 0.300 (1.095 sigma; the mean rating scores
1.260), in 10 seconds.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.data import DataLoader, TensorDataset


def make_ratings(n_users: int, n_items: int, rank: int, density: float, sigma: float,
                 seed: int) -> dict[str, np.ndarray | float]:
    """Observed ``(user, item)`` pairs ``(n, 2)`` int64 and their float32 ratings.

    The taste vectors have entries N(0, 1/sqrt(rank)), so <p_u, q_i> has variance 1 whatever
    the rank; biases are N(0, 0.5) and mu = 3 (ratings around a 1-5 scale, not clipped).
    Every user and item gets at least one observed rating.
    """
    rng = np.random.default_rng(seed)
    scale = rank ** -0.25  # std of each factor entry: Var(<p, q>) = rank * scale^4 = 1
    P = rng.normal(0.0, scale, (n_users, rank))
    Q = rng.normal(0.0, scale, (n_items, rank))
    b_user, b_item, mu = rng.normal(0.0, 0.5, n_users), rng.normal(0.0, 0.5, n_items), 3.0
    observed = rng.random((n_users, n_items)) < density
    observed[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    observed[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    users, items = np.nonzero(observed)
    clean = mu + b_user[users] + b_item[items] + np.einsum("nk,nk->n", P[users], Q[items])
    ratings = clean + rng.normal(0.0, sigma, clean.shape)
    order = rng.permutation(len(users))
    return {"pairs": np.stack([users, items], 1)[order].astype(np.int64),
            "ratings": ratings[order].astype(np.float32), "sigma": float(sigma)}


class MatrixFactorization(nn.Module):
    """``rating(u, i) = offset + user_bias[u] + item_bias[i] + <user[u], item[i]>``.

    Input: int64 ``(N, 2)`` rows of (user, item); output: ``(N,)`` predicted ratings.

    Example:
        >>> model = MatrixFactorization(n_users=3, n_items=4, dim=2)
        >>> model(cr.tensor([[0, 1], [2, 3]])).shape
        (2,)
    """

    def __init__(self, n_users: int, n_items: int, dim: int, offset: float = 0.0):
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        self.offset = nn.Parameter(cr.tensor([float(offset)]))
        # Small factors at the start: N(0, 1) rows (Embedding's default) would make the first
        # dot products as large as the ratings themselves and slow the fit down.
        for table in (self.user, self.item):
            nn.init.normal_(table.weight, std=0.1)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)

    def forward(self, pairs):
        users, items = pairs[:, 0], pairs[:, 1]
        dot = (self.user(users) * self.item(items)).sum(dim=1)
        biases = self.user_bias(users)[:, 0] + self.item_bias(items)[:, 0]
        return dot + biases + self.offset


def main(n_users: int = 2000, n_items: int = 1000, rank: int = 8, density: float = 0.1,
         sigma: float = 0.3, dim: int | None = None, epochs: int = 15, batch_size: int = 512,
         lr: float = 0.003, weight_decay: float = 0.0, test_fraction: float = 0.1,
         seed: int = 0, verbose: int = 1) -> dict:
    """Generate ratings, hold out ``test_fraction`` of them, train, and return
    ``{"rmse": [per epoch], "sigma", "mean_baseline_rmse", "seconds", "history"}``."""
    cr.manual_seed(seed)
    data = make_ratings(n_users, n_items, rank, density, sigma, seed)
    pairs, ratings = data["pairs"], data["ratings"]
    n_test = max(1, int(round(len(ratings) * test_fraction)))
    train_set = TensorDataset(pairs[n_test:], ratings[n_test:])  # already in random order
    test_set = TensorDataset(pairs[:n_test], ratings[:n_test])
    mean = float(ratings[n_test:].mean())
    baseline = math.sqrt(float(np.mean((ratings[:n_test] - mean) ** 2)))

    model = MatrixFactorization(n_users, n_items, dim or rank, offset=mean)
    optimizer = cr.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    rmse: list[float] = []

    def report(state) -> None:
        rmse.append(math.sqrt(state.logs["val_loss"]))
        if verbose:
            print(f"epoch {state.epoch:3d}  train RMSE {math.sqrt(state.logs['loss']):.4f}  "
                  f"held-out RMSE {rmse[-1]:.4f}  (noise floor sigma = {sigma:.4f}, "
                  f"{rmse[-1] / sigma:.3f}x)", flush=True)

    if verbose:
        print(f"{n_users} users x {n_items} items, rank {rank}, sigma {sigma}: "
              f"{len(ratings) - n_test:,} training / {n_test:,} held-out ratings; "
              f"predicting the mean rating gives held-out RMSE {baseline:.4f}")
    start = time.perf_counter()
    history = cr.train.fit(
        model, nn.MSELoss(), optimizer, DataLoader(train_set, batch_size=batch_size, shuffle=True),
        epochs, val_loader=DataLoader(test_set, batch_size=4096), metrics=(),
        callbacks=[cr.train.LambdaCallback(on_epoch_end=report)], verbose=0)
    seconds = time.perf_counter() - start
    if verbose:
        print(f"final held-out RMSE {rmse[-1]:.4f} vs noise floor sigma {sigma:.4f} "
              f"(ratio {rmse[-1] / sigma:.3f}); mean-rating baseline {baseline:.4f}; "
              f"{seconds:.1f} s")
    return {"rmse": rmse, "sigma": sigma, "mean_baseline_rmse": baseline, "seconds": seconds,
            "history": history}


def _parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--items", type=int, default=1000)
    p.add_argument("--rank", type=int, default=8, help="true rank of the taste vectors")
    p.add_argument("--density", type=float, default=0.1, help="fraction of pairs observed")
    p.add_argument("--sigma", type=float, default=0.3, help="std of the rating noise")
    p.add_argument("--dim", type=int, default=None, help="embedding size (default: --rank)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="Adam's L2 term; it shrinks every row at every step, also rows not in "
                        "the batch, so even 1e-4 costs more than it saves here")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


if __name__ == "__main__":
    a = _parse_args()
    main(a.users, a.items, a.rank, a.density, a.sigma, a.dim, a.epochs, lr=a.lr,
         weight_decay=a.weight_decay, seed=a.seed)
