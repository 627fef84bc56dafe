"""LeNet-5 on MNIST: a small convolutional network that reaches >= 99% test accuracy.

Run: python examples/lenet_mnist.py            (the full run: 60,000 images, 8 epochs)
     python examples/lenet_mnist.py --train-size 5000 --epochs 2    (a quick look)

The network is LeNet-5 with ReLU, max-pooling and BatchNorm after each convolution
(``chainrule.cli.models.cnn``, which ``chainrule train --model cnn --batch-norm`` builds too):

    conv5x5(1->6, pad 2) - BN - ReLU - maxpool2      28x28 -> 14x14
    conv5x5(6->16)       - BN - ReLU - maxpool2      14x14 -> 5x5
    Linear(400->120) - ReLU - Linear(120->84) - ReLU - Linear(84->10)

Adam with the 1cycle learning-rate policy (warm up to ``max_lr`` over the first 30% of the
steps, then cosine-anneal to almost zero) gets there in a handful of epochs, with no data
augmentation. The test set is only looked at after training: nothing is tuned on it.

Measured (2026-11-29, shared 2-core CPU): 99.36% test accuracy, 5 minutes of training.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.cli import models
from chainrule.data import DataLoader, MNIST, Subset


def mnist_loaders(train_size: int | None, test_size: int | None, batch_size: int,
                  seed: int) -> tuple[DataLoader, DataLoader]:
    """Standardised MNIST (mean 0.1307, std 0.3081); a seeded random subset when a size is
    given (the first images of MNIST are not a random sample of writers)."""
    train, test = MNIST("train", normalize="standard"), MNIST("test", normalize="standard")
    pick = np.random.default_rng(seed)
    if train_size is not None:
        train = Subset(train, np.sort(pick.permutation(len(train))[:train_size]))
    if test_size is not None:
        test = Subset(test, np.sort(pick.permutation(len(test))[:test_size]))
    return (DataLoader(train, batch_size=batch_size, shuffle=True),
            DataLoader(test, batch_size=1000))


def main(train_size: int | None = None, test_size: int | None = None, epochs: int = 8,
         batch_size: int = 64, max_lr: float = 3e-3, weight_decay: float = 0.0,
         seed: int = 0, verbose: int = 2) -> dict:
    """Train LeNet-5 and return ``{"test_accuracy", "test_loss", "seconds", "history"}``.

    ``train_size`` / ``test_size`` (None: all 60,000 / 10,000) make quick runs possible.
    """
    cr.manual_seed(seed)
    train_loader, test_loader = mnist_loaders(train_size, test_size, batch_size, seed)
    model = models.cnn(in_channels=1, num_classes=10, image_size=28, batch_norm=True)
    optimizer = cr.optim.Adam(model.parameters(), lr=max_lr, weight_decay=weight_decay)
    scheduler = cr.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs,
                                                  steps_per_epoch=len(train_loader))
    if verbose:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{model}\n{n_params:,} parameters; {len(train_loader.dataset)} training images, "
              f"batch {batch_size}, {epochs} epochs, Adam + OneCycleLR(max_lr={max_lr})")
    start = time.perf_counter()
    history = cr.train.fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, epochs,
                           scheduler=scheduler, scheduler_interval="batch",
                           verbose=verbose)
    seconds = time.perf_counter() - start
    test = cr.train.evaluate(model, test_loader, nn.CrossEntropyLoss())
    if verbose:
        print(f"test accuracy {test['accuracy']:.4f} (loss {test['loss']:.4f}) on "
              f"{len(test_loader.dataset)} images; training took {seconds:.0f} s")
    return {"test_accuracy": test["accuracy"], "test_loss": test["loss"], "seconds": seconds,
            "history": history}


def _parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-size", type=int, default=None, help="default: all 60,000")
    p.add_argument("--test-size", type=int, default=None, help="default: all 10,000")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


if __name__ == "__main__":
    a = _parse_args()
    main(a.train_size, a.test_size, a.epochs, a.batch_size, a.max_lr, seed=a.seed)
