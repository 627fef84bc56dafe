"""Seeded training runs that must learn: the building blocks working together on real problems.

XOR (the 2-2-1 problem backprop was first shown on), the classic two spirals of Lang & Witbrock
(hard for a network of one hidden layer), and an MLP on the shipped MNIST within two epochs.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _full_batch_train(model, x, y, loss_fn, optimizer, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def test_xor_reaches_full_accuracy():
    cr.manual_seed(0)
    x = cr.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = cr.tensor([[0.0], [1.0], [1.0], [0.0]])
    model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1), nn.Sigmoid())
    loss = _full_batch_train(model, x, y, nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=2.0),
                             steps=3000)
    pred = model(x).numpy() > 0.5
    assert (pred == (y.numpy() > 0.5)).all(), model(x).numpy().ravel()
    assert loss < 0.01


def test_two_spirals_reach_99_percent_train_accuracy():
    cr.manual_seed(0)
    X, labels = cr.data.make_spirals(seed=0)          # the classic 2 x 97 points, 3 turns
    x, y = cr.tensor(X), cr.tensor(labels)
    model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                          nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
    _full_batch_train(model, x, y, nn.CrossEntropyLoss(),
                      cr.optim.Adam(model.parameters(), lr=0.01), steps=600)
    accuracy = (model(x).argmax(1).numpy() == labels).mean()
    assert accuracy >= 0.99, accuracy


@pytest.mark.slow
def test_mlp_on_shipped_mnist_reaches_97_percent_in_two_epochs():
    cr.manual_seed(0)
    train = cr.data.MNIST("train", flatten=True, normalize="standard")
    test = cr.data.MNIST("test", flatten=True, normalize="standard")
    loader = cr.data.DataLoader(train, batch_size=128, shuffle=True)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    optimizer = cr.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(2):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
    model.eval()
    correct = 0
    with cr.no_grad():
        for xb, yb in cr.data.DataLoader(test, batch_size=1000):
            correct += int((model(xb).argmax(1).numpy() == yb.numpy()).sum())
    accuracy = correct / len(test)
    assert accuracy >= 0.97, accuracy
