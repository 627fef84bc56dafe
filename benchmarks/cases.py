"""The benchmark cases: one model, loss, optimiser and batch per case, built identically in
chainrule and (from chainrule's initial weights) in PyTorch.

Each case has one model builder, ``model(nn)``, called with ``chainrule.nn`` and then with
``torch.nn``: chainrule's layers take PyTorch's names and arguments, so the same code builds
both networks, and their ``state_dict`` keys match one to one. The PyTorch copy then loads
chainrule's initial weights, so both start from the same point.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import chainrule as cr

# Every benchmark process imports this module: keep freed array memory in the process, as the
# command line does (an explicit choice; see chainrule.kernels.tune_malloc).
cr.kernels.tune_malloc()


# ------------------------------------------------------------------------------ runners
class _Runner:
    """The training step both frameworks share: the same five lines a user writes in each."""

    def train_step(self, x, y) -> float:
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss.item()


class ChainruleRunner(_Runner):
    """One training step (or, for epoch cases, one epoch of ``cr.train.fit``) per ``step()``."""

    def __init__(self, case: "Case", model):
        self.case, self.model = case, model
        self.loss_fn = cr.nn.MSELoss() if case.loss == "mse" else cr.nn.CrossEntropyLoss()
        kind, lr = case.optimizer
        opt = cr.optim.SGD if kind == "sgd" else cr.optim.Adam
        self.opt = opt(model.parameters(), lr=lr)
        arrays = case.data()
        self.x, self.y = cr.Tensor(arrays[0]), cr.Tensor(arrays[1])   # no copy, as from_numpy
        if case.epoch:
            ds = cr.data.TensorDataset
            self.train_loader = cr.data.DataLoader(ds(arrays[0], arrays[1]),
                                                   batch_size=case.batch_size, shuffle=True)
            self.val_loader = cr.data.DataLoader(ds(arrays[2], arrays[3]), batch_size=512)

    def step(self) -> float:
        if not self.case.epoch:
            return self.train_step(self.x, self.y)
        # The epoch `chainrule train` runs: shuffled batches, accuracy, then validation.
        hist = cr.train.fit(self.model, self.loss_fn, self.opt, self.train_loader, epochs=1,
                            val_loader=self.val_loader, verbose=0)
        return hist.history["loss"][-1]

    def check_batches(self):
        return [(cr.Tensor(x), cr.Tensor(y)) for x, y in self.case.check_batches()]

    def named_parameters(self) -> dict[str, np.ndarray]:
        return {n: p.numpy() for n, p in self.model.named_parameters()}


class TorchRunner(_Runner):
    """The same as :class:`ChainruleRunner`, written the way a PyTorch user writes it."""

    def __init__(self, case: "Case", model):
        import torch
        self.torch, self.case, self.model = torch, case, model
        self.loss_fn = torch.nn.MSELoss() if case.loss == "mse" else torch.nn.CrossEntropyLoss()
        kind, lr = case.optimizer
        opt = torch.optim.SGD if kind == "sgd" else torch.optim.Adam
        self.opt = opt(model.parameters(), lr=lr)
        arrays = [torch.from_numpy(a) for a in case.data()]
        self.x, self.y = arrays[0], arrays[1]
        if case.epoch:
            ds, dl = torch.utils.data.TensorDataset, torch.utils.data.DataLoader
            torch.manual_seed(0)
            self.train_loader = dl(ds(arrays[0], arrays[1]), batch_size=case.batch_size,
                                   shuffle=True)
            self.val_loader = dl(ds(arrays[2], arrays[3]), batch_size=512)

    def step(self) -> float:
        if not self.case.epoch:
            return self.train_step(self.x, self.y)
        torch, total, seen, correct = self.torch, 0.0, 0, 0
        self.model.train()
        for x, y in self.train_loader:
            self.opt.zero_grad()
            out = self.model(x)
            loss = self.loss_fn(out, y)
            loss.backward()
            self.opt.step()
            total += loss.item() * len(y)
            seen += len(y)
            correct += int((out.detach().argmax(1) == y).sum())
        self.model.eval()
        with torch.no_grad():
            val_loss, val_correct = 0.0, 0
            for x, y in self.val_loader:
                out = self.model(x)
                val_loss += self.loss_fn(out, y).item() * len(y)
                val_correct += int((out.argmax(1) == y).sum())
        self.model.train()
        return total / seen

    def check_batches(self):
        return [(self.torch.from_numpy(x), self.torch.from_numpy(y))
                for x, y in self.case.check_batches()]

    def named_parameters(self) -> dict[str, np.ndarray]:
        return {n: p.detach().numpy() for n, p in self.model.named_parameters()}


# -------------------------------------------------------------------------------- cases
@dataclass
class Case:
    name: str
    model: Callable                   # model(nn) -> Module, for nn = chainrule.nn or torch.nn
    data: Callable                    # () -> (x, y) arrays (epoch cases: + (x_val, y_val))
    loss: str = "ce"                  # "mse" | "ce"
    optimizer: tuple = ("sgd", 0.01)
    inner: int = 10                   # steps per timed repeat
    epoch: bool = False               # step() is a whole epoch of `chainrule train`
    batch_size: int = 0               # epoch cases: the loader's batch size
    memory_steps: int = 3             # steps measured by the memory probe
    max_repeats: int | None = None    # cap on --repeats (and warm-up) for slow cases
    target: float | None = None       # issue 7's goal for the time ratio (ours / PyTorch)
    memory_target: bool = False       # issue 7 also asks for peak memory <= PyTorch's
    extra: Callable | None = field(default=None)   # extra(ms, gemm_peak) -> note

    def build_chainrule(self) -> ChainruleRunner:
        cr.manual_seed(0)
        return ChainruleRunner(self, self.model(cr.nn))

    def build_torch(self, ours: ChainruleRunner) -> TorchRunner:
        import torch
        model = self.model(torch.nn)
        model.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                               for k, v in ours.model.state_dict().items()})
        return TorchRunner(self, model)

    def check_batches(self) -> list:
        """The batches the agreement check trains on (the same ones in both frameworks)."""
        x, y = self.data()[:2]
        if not self.epoch:
            return [(x, y)] * 3
        order = np.random.default_rng(0).permutation(len(y))[:3 * self.batch_size]
        return [(x[idx], y[idx]) for idx in order.reshape(3, self.batch_size)]


def _random_data(x_shape, n_classes: int = 0, y_dim: int = 0):
    """Seeded standard-normal inputs; class indices (``n_classes``) or targets in [0, 1)."""
    def data():
        rng = np.random.default_rng(0)
        x = rng.standard_normal(x_shape).astype(np.float32)
        batch = x_shape[1] if len(x_shape) == 3 else x_shape[0]   # sequences are (T, B, F)
        if n_classes:
            return x, rng.integers(0, n_classes, batch).astype(np.int64)
        return x, rng.random((batch, y_dim)).astype(np.float32)
    return functools.lru_cache(maxsize=1)(data)


# --------------------------------------------------------------------------------- models
def xor(nn):
    return nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1), nn.Sigmoid())


def mlp(nn):
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def mlp_large(nn):
    return nn.Sequential(nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                         nn.Linear(4096, 10))


def lenet(nn):
    """LeNet-5 on 1x28x28: conv6@5x5 (padding 2) - relu - maxpool2 - conv16@5x5 - relu -
    maxpool2 - fc120 - fc84 - fc10 (chainrule's ``models.cnn``, built for both)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def cnn32(nn):
    """A small CIFAR-sized net: three conv3x3-batchnorm-relu blocks (16, 32, 64 channels),
    max pooling between them, global average pooling and a linear classifier."""
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2),
                         *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 10))


def recurrent(kind: str):
    """One recurrent layer (input 64, hidden 128) over a time-major (T, B, 64) batch and a
    linear head on the last step's output."""
    def build(nn):
        class LastStep(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = getattr(nn, kind)(64, 128)
                self.head = nn.Linear(128, 10)

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.head(out[-1])
        return LastStep()
    return build


def mnist_mlp(nn):
    """The default `chainrule train` model (``models.mlp(784, 10, hidden=(256, 128))``)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                         nn.ReLU(), nn.Linear(128, 10))


@functools.lru_cache(maxsize=1)
def mnist_data():
    """MNIST prepared exactly as `chainrule train` prepares it (10% held out, standardised)."""
    from chainrule.cli.data import make_spec, prepare
    from chainrule.cli.train import DEFAULTS
    spec = make_spec("mnist", 0, DEFAULTS["mnist"]["val_split"])
    d = prepare(spec)
    return d.X_train, d.y_train, d.X_val, d.y_val


def _mlp_large_gflops(ms: float, peak: float) -> str:
    # The GEMMs a step must do, 2*B*in*out flops each: per layer the forward product and
    # dW; dX for every layer but the first (the input needs no gradient, so neither
    # framework computes it).
    b, dims = 256, [4096, 4096, 4096, 10]
    layers = list(zip(dims, dims[1:]))
    flops = sum(2 * 2 * b * i * o for i, o in layers) + sum(2 * b * i * o for i, o in layers[1:])
    rate = flops / (ms * 1e-3) / 1e9
    share = rate / peak
    verdict = "met" if share >= 0.85 else f"MISSED by {85 - 100 * share:.0f} points"
    return (f"{rate:.0f} GFLOP/s = {share:.0%} of the GEMM peak ({peak:.0f} GFLOP/s, median of "
            f"the peaks measured between the repeats; target >= 85%: {verdict})")


CASES = {
    "xor": Case("xor", xor, _random_data((4, 2), y_dim=1), loss="mse",
                optimizer=("sgd", 0.5), inner=200, target=0.3),
    "mlp": Case("mlp", mlp, _random_data((128, 784), 10), inner=20, target=0.9,
                memory_target=True),
    "mlp_large": Case("mlp_large", mlp_large, _random_data((256, 4096), 10), inner=2,
                      extra=_mlp_large_gflops, target=1.0),
    "lenet": Case("lenet", lenet, _random_data((64, 1, 28, 28), 10), inner=5, target=1.2,
                  memory_target=True),
    "lstm": Case("lstm", recurrent("LSTM"), _random_data((32, 32, 64), 10), inner=5,
                 target=1.2),
    "gru": Case("gru", recurrent("GRU"), _random_data((32, 32, 64), 10), inner=5, target=1.2),
    "cnn32": Case("cnn32", cnn32, _random_data((32, 3, 32, 32), 10), inner=5, target=1.3),
    "mnist_epoch": Case("mnist_epoch", mnist_mlp, mnist_data, optimizer=("adam", 1e-3),
                        inner=1, epoch=True, batch_size=128, memory_steps=1, max_repeats=5),
}
