"""The benchmark cases: one model, loss, optimiser and batch per case, built identically in
chainrule and (from chainrule's initial weights) in PyTorch."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import chainrule as cr


class ChainruleRunner:
    def __init__(self, model, loss_fn, x, y, lr):
        self.model, self.loss_fn = model, loss_fn
        self.x, self.y = cr.tensor(x), cr.tensor(y)
        self.opt = cr.optim.SGD(model.parameters(), lr=lr)

    def step(self) -> float:
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def named_parameters(self):
        return [(n, p.data) for n, p in self.model.named_parameters()]


class TorchRunner:
    def __init__(self, model, loss_fn, x, y, lr):
        import torch
        self.model, self.loss_fn = model, loss_fn
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.opt = torch.optim.SGD(model.parameters(), lr=lr)

    def step(self) -> float:
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def parameters(self):
        return [p.detach().numpy() for p in self.model.parameters()]


@dataclass
class Case:
    name: str
    layers: list                      # ("linear", in, out) | ("relu",) | ("sigmoid",) | ...
    loss: str                         # "mse" | "ce"
    x_shape: tuple
    n_classes: int = 0
    lr: float = 0.01
    inner: int = 10                   # steps per timed repeat
    extra: Callable | None = field(default=None)

    def data(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal(self.x_shape).astype(np.float32)
        if self.loss == "ce":
            y = rng.integers(0, self.n_classes, self.x_shape[0]).astype(np.int64)
        else:
            y = rng.random((self.x_shape[0], self.layers[-2][2] if self.layers[-1][0] != "linear"
                            else self.layers[-1][2])).astype(np.float32)
        return x, y

    def build_chainrule(self) -> ChainruleRunner:
        cr.manual_seed(0)
        mods = []
        for spec in self.layers:
            kind = spec[0]
            if kind == "linear":
                mods.append(cr.nn.Linear(spec[1], spec[2]))
            else:
                mods.append({"relu": cr.nn.ReLU, "sigmoid": cr.nn.Sigmoid, "tanh": cr.nn.Tanh}[kind]())
        model = cr.nn.Sequential(*mods)
        loss_fn = cr.nn.MSELoss() if self.loss == "mse" else cr.nn.CrossEntropyLoss()
        x, y = self.data()
        return ChainruleRunner(model, loss_fn, x, y, self.lr)

    def build_torch(self, ours: ChainruleRunner) -> TorchRunner:
        import torch
        mods = []
        for spec in self.layers:
            kind = spec[0]
            if kind == "linear":
                mods.append(torch.nn.Linear(spec[1], spec[2]))
            else:
                mods.append({"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid,
                             "tanh": torch.nn.Tanh}[kind]())
        model = torch.nn.Sequential(*mods)
        model.load_state_dict({k: torch.from_numpy(v.data.copy())
                               for k, v in ours.model.state_dict().items()})
        loss_fn = torch.nn.MSELoss() if self.loss == "mse" else torch.nn.CrossEntropyLoss()
        x, y = self.data()
        return TorchRunner(model, loss_fn, x, y, self.lr)


def _mlp_large_gflops(ms: float) -> str:
    # Forward + backward of a dense layer: 3 GEMMs of 2*B*in*out flops each (fwd, dX, dW).
    b, dims = 256, [4096, 4096, 4096, 10]
    flops = sum(3 * 2 * b * i * o for i, o in zip(dims, dims[1:]))
    return f"{flops / (ms * 1e-3) / 1e9:.0f} GFLOP/s"


CASES = {
    "xor": Case("xor", [("linear", 2, 3), ("sigmoid",), ("linear", 3, 1), ("sigmoid",)],
                "mse", (4, 2), lr=0.5, inner=200),
    "mlp": Case("mlp", [("linear", 784, 512), ("relu",), ("linear", 512, 256), ("relu",),
                        ("linear", 256, 10)], "ce", (128, 784), n_classes=10, lr=0.01, inner=20),
    "mlp_large": Case("mlp_large", [("linear", 4096, 4096), ("relu",), ("linear", 4096, 4096),
                                    ("relu",), ("linear", 4096, 10)], "ce", (256, 4096),
                      n_classes=10, lr=0.01, inner=2, extra=_mlp_large_gflops),
}
