"""A small convolutional network learns MNIST digits from 2,000 training images (seeded)."""
import numpy as np

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn


def test_tiny_cnn_learns_mnist():
    images, labels = cr.data.datasets.load_mnist("train")
    x = (images[:2500].astype(np.float32) / 255.0)[:, None]      # (N, 1, 28, 28)
    y = labels[:2500]
    x_train, y_train, x_test, y_test = x[:2000], y[:2000], x[2000:], y[2000:]
    cr.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),           # 28 -> 14
        nn.Conv2d(8, 16, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),     # 14 -> 7
        nn.Dropout2d(0.1), nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    opt = cr.optim.Adam(model.parameters(), lr=3e-3)
    order = np.random.default_rng(0)

    def accuracy() -> float:
        model.eval()
        with cr.no_grad():
            pred = model(cr.tensor(x_test)).numpy().argmax(axis=1)
        model.train()
        return float((pred == y_test).mean())

    before = accuracy()
    for _ in range(3):
        perm = order.permutation(len(x_train))
        for i in range(0, len(x_train), 50):
            idx = perm[i:i + 50]
            loss = F.cross_entropy(model(cr.tensor(x_train[idx])), cr.tensor(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    after = accuracy()
    assert before < 0.3
    assert after >= 0.85, f"held-out accuracy {after:.3f} after 3 epochs on 2,000 images"
