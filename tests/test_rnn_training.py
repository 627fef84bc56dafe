"""An LSTM learns the adding problem (Hochreiter & Schmidhuber): each step carries a random
value and a marker; exactly two steps are marked, one in each half, and the target is the
sum of their values. Predicting the mean scores MSE 1/6 ~ 0.167; solving it needs memory."""
import numpy as np

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn


def adding_batch(rng: np.random.Generator, n: int, steps: int):
    values = rng.random((n, steps))
    first = rng.integers(0, steps // 2, n)
    second = rng.integers(steps // 2, steps, n)
    markers = np.zeros((n, steps))
    rows = np.arange(n)
    markers[rows, first] = markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)     # (N, T, 2)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)[:, None]
    return cr.tensor(x), cr.tensor(y)


class AddingModel(nn.Module):
    def __init__(self, hidden: int = 32):
        super().__init__()
        self.lstm = nn.LSTM(2, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1])


def test_lstm_learns_the_adding_problem():
    steps = 10
    cr.manual_seed(0)
    model = AddingModel()
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    x_test, y_test = adding_batch(np.random.default_rng(1), 500, steps)
    history = []
    for step in range(1, 801):
        x, y = adding_batch(rng, 64, steps)
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            with cr.no_grad():
                history.append(F.mse_loss(model(x_test), y_test).item())
            if history[-1] < 0.01:
                break
    assert history[-1] < 0.01, f"held-out MSE every 50 steps: {np.round(history, 4).tolist()}"
