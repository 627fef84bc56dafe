"""One learner's playground: data, network, optimiser and training, in chainrule's engine.

A :class:`Session` is what one browser tab drives. Everything runs in float64 through the
real ``chainrule.nn`` modules, losses and optimisers, so the derivation the page shows for a
weight (see :mod:`chainrule.playground.derivation`) is the update the next step applies.

The objective is the data loss plus the regulariser on the weights (not the biases)::

    classification  J = BCEWithLogits(z, y) (mean over the batch),  p(class 1) = sigmoid(z)
    regression      J = MSE(z, y)            (mean over the batch)
    L1              + rate * sum |w|          (gradient rate * sign(w))
    L2              + rate / 2 * sum w^2      (gradient rate * w)

    >>> s = Session()
    >>> s.update_settings({"dataset": "xor", "hidden": [3], "activation": "sigmoid"})
    {'changed': 'data'}
    >>> s.step()["type"]
    'step'
"""
from __future__ import annotations

import base64
import math
import re
import time
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.explain import GradientFlowCallback
from chainrule.nn import init
from chainrule.playground.problem import Upload, grid_points, make_problem, read_upload
from chainrule.playground.settings import MOMENTUM, Settings, SettingsError, parse_settings

OUTPUT_GRID = 64        # pixels per side of the output heatmap
NEURON_GRID = 32        # ... of each neuron's own heatmap (every other output pixel)
HISTORY_LIMIT = 5000    # loss-curve points kept per session (older ones are thinned)


ACTIVATION_LAYERS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
                     "linear": nn.Identity}


def build_network(n_inputs: int, hidden, activation: str) -> nn.Sequential:
    """``Flatten``, then ``Linear`` and the activation for each hidden layer, then a
    ``Linear`` to the one output: the layout of the command line's ``mlp`` model, so an
    exported network's config (``{"kind": "mlp", ...}``) rebuilds it in ``chainrule
    evaluate`` and its state dict fits.

    Example:
        >>> build_network(2, [3], "tanh")
        Sequential(
          (0): Flatten(start_dim=1, end_dim=-1)
          (1): Linear(in_features=2, out_features=3, bias=True)
          (2): Tanh()
          (3): Linear(in_features=3, out_features=1, bias=True)
        )
    """
    layers: list[nn.Module] = [nn.Flatten()]
    width = n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), ACTIVATION_LAYERS[activation]()]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def encode_heatmap(values: np.ndarray) -> str:
    """Values in [-1, 1] (clipped) as base64 bytes 0..255, the page's colour index."""
    q = np.round((np.clip(values, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


def display_name(param_name: str) -> str:
    """``3.weight`` (a Sequential's name) -> ``W2`` (the 2nd Linear layer), as the page
    labels them: Linear layers sit at odd positions after the leading Flatten."""
    def one(m: re.Match) -> str:
        return f"{'W' if m.group(2) == 'weight' else 'b'}{(int(m.group(1)) + 1) // 2}"
    return re.sub(r"\b(\d+)\.(weight|bias)\b", one, param_name)


class Session:
    """Data, network and training state of one playground tab."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.upload: Upload | None = None
        self.resets = 0
        self._new_data()

    # ----------------------------------------------------------------- settings
    def update_settings(self, data: dict) -> dict:
        """Apply settings from the page; returns what changed ("data", "network" or
        "training"). Raises SettingsError (and changes nothing) for a bad value."""
        new = parse_settings(data, self.settings)
        old, self.settings = self.settings, new
        changed = {k for k in Settings.__dataclass_fields__ if getattr(old, k) != getattr(new, k)}
        try:
            if changed & set(Settings.DATA_FIELDS):
                self._new_data()
                return {"changed": "data"}
        except SettingsError:
            self.settings = old
            raise
        if changed & set(Settings.NETWORK_FIELDS):
            self.reset()
            return {"changed": "network"}
        if "optimizer" in changed:
            self.optimizer = self._make_optimizer()
        if "lr" in changed:
            for group in self.optimizer.param_groups:
                group["lr"] = new.lr
        if "batch_size" in changed:
            self._new_epoch_order()
        return {"changed": "training" if changed else "nothing"}

    def upload_csv(self, content: bytes, filename: str) -> None:
        """Use a CSV file (x1, x2, label) as the data set."""
        upload = read_upload(content, filename, self.settings.problem)
        old = self.upload, self.settings
        self.upload = upload
        self.settings = parse_settings({"dataset": "csv"}, self.settings)
        try:
            self._new_data()
        except SettingsError:
            self.upload, self.settings = old
            raise

    # --------------------------------------------------------------- data, model
    def _new_data(self) -> None:
        self.problem = make_problem(self.settings, self.upload)
        self.reset()

    def reset(self) -> None:
        """A fresh network (new random weights), optimiser and training clock."""
        s = self.settings
        self.resets += 1
        rng = np.random.default_rng([s.seed, 2, self.resets])
        model = build_network(len(s.features), s.hidden, s.activation)
        model.double()   # float64: the derivation and the engine agree to rounding
        for layer in self.linears_of(model):
            # PyTorch's default initialisation, drawn from this session's own generator
            init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=rng)
            bound = 1.0 / math.sqrt(layer.in_features)
            init.uniform_(layer.bias, -bound, bound, generator=rng)
        self.model = model
        self.optimizer = self._make_optimizer()
        self.loss_fn = nn.BCEWithLogitsLoss() if s.problem == "classification" else nn.MSELoss()
        self.flow = GradientFlowCallback()
        self.epoch = 0
        self.total_steps = 0
        self.history: list[tuple[float, float, float]] = []   # (epoch, train, test)
        self.history_sent = 0
        self.batch_rng = np.random.default_rng([s.seed, 3, self.resets])
        p = self.problem
        self.inputs = p.inputs(s.features)
        self.targets = p.y.reshape(-1, 1)
        self.grid_inputs = p.inputs(s.features, grid_points(p.extent, OUTPUT_GRID))
        self._new_epoch_order()
        self._record_losses()

    @staticmethod
    def linears_of(model) -> list:
        return [m for m in model if isinstance(m, nn.Linear)]

    @property
    def linears(self) -> list:
        return self.linears_of(self.model)

    def _make_optimizer(self) -> optim.Optimizer:
        s = self.settings
        params = self.model.parameters()
        if s.optimizer == "adam":
            return optim.Adam(params, lr=s.lr)
        return optim.SGD(params, lr=s.lr, momentum=MOMENTUM if s.optimizer == "momentum" else 0.0)

    def _new_epoch_order(self) -> None:
        self.order = self.batch_rng.permutation(self.problem.train)
        self.position = 0

    # ---------------------------------------------------------------- objective
    def penalty(self, model) -> Any:
        """The regulariser on ``model``'s weights (0 when there is none)."""
        s = self.settings
        if s.regularization == "none" or s.reg_rate == 0:
            return 0.0
        total = 0.0
        for layer in self.linears_of(model):
            w = layer.weight
            total = total + (w.abs().sum() if s.regularization == "l1" else (w * w).sum() * 0.5)
        return total * s.reg_rate

    def objective(self, model, rows: np.ndarray):
        """J on the points ``rows``: data loss plus regulariser, a Tensor to backward."""
        out = model(cr.Tensor(self.inputs[rows]))
        return self.loss_fn(out, cr.Tensor(self.targets[rows])) + self.penalty(model)

    def data_loss(self, rows: np.ndarray) -> float:
        """The data loss alone (what the curves show) on the points ``rows``."""
        if len(rows) == 0:
            return float("nan")
        with cr.no_grad():
            out = self.model(cr.Tensor(self.inputs[rows]))
            return float(self.loss_fn(out, cr.Tensor(self.targets[rows])).item())

    # ----------------------------------------------------------------- training
    def next_batch(self) -> np.ndarray:
        """Indices of the points the next step trains on."""
        return self.order[self.position:self.position + self.settings.batch_size]

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.problem.train) // self.settings.batch_size)

    def train_step(self) -> None:
        """One optimiser step on the next batch (the epoch ends after the last batch)."""
        rows = self.next_batch()
        self.flow.on_batch_begin(self.model)
        self.optimizer.zero_grad()
        loss = self.objective(self.model, rows)
        loss.backward()
        self.optimizer.step()
        self.flow.on_batch_end(self.model)
        self.total_steps += 1
        self.position += len(rows)
        if self.position >= len(self.order):
            self.epoch += 1
            self._judge_flow()
            self._record_losses()
            self._new_epoch_order()

    def _judge_flow(self) -> None:
        self.flow.on_epoch_end(self.epoch)
        del self.flow.epochs[:-1]   # only the latest verdict is shown

    def _record_losses(self) -> None:
        p = self.problem
        self.history.append((self.epoch + self.position / max(1, len(self.order)),
                             self.data_loss(p.train), self.data_loss(p.test)))
        if len(self.history) > HISTORY_LIMIT:   # keep the curve's shape, halve its points
            self.history = self.history[::2]
            self.history_sent = 0

    def train_for(self, seconds: float, max_steps: int = 100_000) -> int:
        """Train for about ``seconds`` of compute; returns the number of steps taken."""
        start, taken = time.perf_counter(), 0
        while taken < max_steps and time.perf_counter() - start < seconds:
            self.train_step()
            taken += 1
        return taken

    def step(self) -> dict:
        """One step, with the forward values and deltas of its batch for the animation."""
        from chainrule.playground.derivation import step_values
        rows = self.next_batch()
        values = step_values(self, rows)
        self.train_step()
        if self.flow.batches:   # a step in the middle of an epoch is judged on its own
            self._judge_flow()
        return {"type": "step", "animation": values, "frame": self.frame()}

    # ------------------------------------------------------------------- display
    def network_message(self) -> dict:
        """Everything the page draws that changes only with a new network or data."""
        s, p = self.settings, self.problem
        Z = p.Z
        grid = grid_points(p.extent, NEURON_GRID)
        feats = p.inputs(s.features, grid)
        scale = np.maximum(np.abs(feats).max(axis=0), 1e-12)
        return {
            "type": "network", "settings": s.to_dict(),
            "sizes": [len(s.features)] + list(s.hidden) + [1],
            "points": {"train": self._points(Z, p.train), "test": self._points(Z, p.test)},
            "extent": p.extent, "class_names": p.class_names,
            "upload": None if self.upload is None else self.upload.filename,
            "features": [{"name": f, "heatmap": encode_heatmap(feats[:, k] / scale[k])}
                         for k, f in enumerate(s.features)],
            "grid": {"output": OUTPUT_GRID, "neuron": NEURON_GRID},
            "frame": self.frame(full=True),
        }

    def _points(self, Z: np.ndarray, rows: np.ndarray) -> list:
        y = self.problem.y
        return [[round(float(Z[i, 0]), 4), round(float(Z[i, 1]), 4), round(float(y[i]), 4),
                 int(i)] for i in rows]

    def frame(self, full: bool = False) -> dict:
        """The training state now: losses, weights, heatmaps, gradient flow."""
        p = self.problem
        if full:
            self.history_sent = 0
        new_history = self.history[self.history_sent:]
        self.history_sent = len(self.history)
        return {
            "type": "frame", "full": full, "epoch": self.epoch, "steps": self.total_steps,
            "batch": int(self.position // self.settings.batch_size),
            "steps_per_epoch": self.steps_per_epoch,
            "train_loss": self.data_loss(p.train), "test_loss": self.data_loss(p.test),
            "history": [[round(e, 3), tr, te] for e, tr, te in new_history],
            "weights": [{"W": layer.weight._array.tolist(), "b": layer.bias._array.tolist()}
                        for layer in self.linears],
            "next_batch": [int(i) for i in self.next_batch()],
            "heatmaps": self._heatmaps(), "flow": self._flow_summary(),
        }

    def _heatmaps(self) -> dict:
        """The output over the plane, and every hidden neuron's own output."""
        a = cr.Tensor(self.grid_inputs)
        hidden: list[list[str]] = []
        sub = (slice(None, None, OUTPUT_GRID // NEURON_GRID),) * 2
        with cr.no_grad():
            modules = list(self.model)[1:]   # after the Flatten
            for module in modules:
                a = module(a)
                if isinstance(module, nn.Linear):   # hidden outputs follow the activations
                    continue
                maps = a._array.reshape(OUTPUT_GRID, OUTPUT_GRID, -1)[sub]
                hidden.append([encode_heatmap(maps[..., j]) for j in range(maps.shape[-1])])
        z = a._array.reshape(-1)
        out = 2.0 / (1.0 + np.exp(-z)) - 1.0 if self.settings.problem == "classification" else z
        return {"output": encode_heatmap(out), "hidden": hidden}

    def _flow_summary(self) -> dict | None:
        if not self.flow.epochs:
            return None
        latest = self.flow.epochs[-1]
        report = latest["report"]
        return {
            "epoch": latest["epoch"], "status": report.status,
            "verdict": display_name(report.verdict),
            "advice": report.advice,
            "layers": [{"name": display_name(pf.name), "grad_norm": pf.grad_norm,
                        "update_ratio": pf.update_ratio}
                       for pf in report.flow.params if pf.is_weight],
        }
