"""Ready-made worked examples for :func:`chainrule.explain.trace`.

``example_231()`` is the classic hand-worked backpropagation exercise: a 2-3-1 network
with sigmoid units, squared-error loss and learning rate 0.1. Run it with
``chainrule explain --example 2-3-1`` or::

    >>> ex = cr.explain.presets.example_231()
    >>> print(ex.trace())                       # doctest: +SKIP

``example_linear()`` (``--example 1-1``, or ``linear``) is the first regression: one input,
one weight, one bias, fitted to points of a line by gradient descent, three steps;
``example_121()`` (``--example 1-2-1``) fits the same points with one hidden layer of two
tanh units in front of the same linear output.

Weights follow the textbook's naming w_ij = the weight from input i to hidden unit j, so
the Linear weight W1 (3x2, PyTorch layout (out, in)) has W1[j, i] = w_ij.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.autograd import no_grad
from chainrule.explain.trace import trace

__all__ = ["Example", "example_231", "example_linear", "example_121", "EXAMPLES", "get_example",
           "build_network"]


@dataclass
class Example:
    """A network with its data and training settings, ready to trace."""

    name: str
    description: str
    model: Any                 # a cr.nn.Sequential
    x: np.ndarray
    y: np.ndarray
    loss: str = "mse"
    lr: float = 0.1
    steps: int = 1

    def trace(self, format: str = "text", steps: int | None = None, precision: int = 6,
              **kwargs):
        """``cr.explain.trace`` on this example (the example's model is left unchanged)."""
        return trace(self.model, self.x, self.y, loss=self.loss, lr=self.lr,
                     steps=self.steps if steps is None else steps, format=format,
                     precision=precision, **kwargs)


_ACTIVATION_MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
                       "identity": nn.Identity, "none": None, "linear": None}


def build_network(sizes: list[int], activations: list[str], weights=None, biases=None,
                  dtype=np.float64, bias: bool = True, placeholders: bool = False):
    """A ``Sequential`` of Linear layers of the given sizes, each followed by the named
    activation ("sigmoid", "tanh", "relu", "identity"/"none"). ``weights[l]`` (shape
    (sizes[l+1], sizes[l])) and ``biases[l]`` set the values; otherwise the layers keep
    their default initialisation (seed it with ``cr.manual_seed``).

    With ``placeholders=True`` (and no weights) every parameter is a read-only placeholder
    of the right shape and dtype that takes no memory (one zero seen through zero strides):
    a network to count with ``summary_from_shapes``, not to run.

    Example:
        >>> net = build_network([2, 3, 1], ["sigmoid", "sigmoid"])
    """
    if placeholders and (weights is not None or biases is not None):
        raise ValueError("build_network: placeholders hold no values; give no weights or biases")
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"layers: need at least two positive sizes (inputs and outputs), got "
                         f"{sizes}")
    n = len(sizes) - 1
    if len(activations) != n:
        raise ValueError(f"activations: a {'-'.join(map(str, sizes))} network has {n} layers, so "
                         f"it needs {n} activations, got {len(activations)} ({activations})")
    if weights is not None and len(weights) != n:
        raise ValueError(f"weights: expected {n} matrices (one per layer), got {len(weights)}")
    if biases is not None and len(biases) != n:
        raise ValueError(f"biases: expected {n} vectors (one per layer), got {len(biases)}")
    mods = []
    for l in range(n):
        act = str(activations[l]).lower()
        if act not in _ACTIVATION_MODULES:
            raise ValueError(f"activations: unknown activation {activations[l]!r}; choose from "
                             f"sigmoid, tanh, relu, identity, none")
        lin = (_placeholder_linear(sizes[l], sizes[l + 1], bias, dtype) if placeholders
               else nn.Linear(sizes[l], sizes[l + 1], bias=bias, dtype=dtype))
        with no_grad():
            if weights is not None:
                w = np.asarray(weights[l], dtype=np.float64)
                if w.shape != (sizes[l + 1], sizes[l]):
                    raise ValueError(f"weights: layer {l + 1} needs shape ({sizes[l + 1]}, "
                                     f"{sizes[l]}) (out, in), got {w.shape}")
                lin.weight.copy_(w)
            if biases is not None and bias:
                b = np.asarray(biases[l], dtype=np.float64).reshape(-1)
                if b.shape != (sizes[l + 1],):
                    raise ValueError(f"biases: layer {l + 1} needs {sizes[l + 1]} values, got "
                                     f"{b.size}")
                lin.bias.copy_(b)
        mods.append(lin)
        cls = _ACTIVATION_MODULES[act]
        if cls is not None:
            mods.append(cls())
    return nn.Sequential(*mods)


def _placeholder_linear(in_features: int, out_features: int, bias: bool, dtype) -> nn.Linear:
    """A Linear of the given size whose parameters take no memory: built empty, then given
    its size and zero-strided read-only parameters (``np.broadcast_to`` of one zero)."""
    lin = nn.Linear(0, 0, bias=bias, dtype=dtype)
    zero = np.zeros((), dtype=lin.weight.dtype)
    lin.in_features, lin.out_features = in_features, out_features
    lin.weight = nn.Parameter(np.broadcast_to(zero, (out_features, in_features)))
    if bias:
        lin.bias = nn.Parameter(np.broadcast_to(zero, (out_features,)))
    return lin


def example_231() -> Example:
    """The classic 2-3-1 example: x = (0.1, 0.2), sigmoid hidden and output units,
    w_ij (input i -> hidden j) = 0.1 ... 0.6, hidden biases 0.1, 0.2, 0.3, output weights
    0.1, 0.2, 0.3, output bias 0.2, target y = 1, J = (y - yhat)^2, learning rate 0.1.

    Example:
        >>> ex = example_231()
        >>> ex.model[0].weight.tolist()
        [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]
    """
    w = {(1, 1): 0.1, (1, 2): 0.2, (1, 3): 0.3, (2, 1): 0.4, (2, 2): 0.5, (2, 3): 0.6}
    w1 = [[w[(i, j)] for i in (1, 2)] for j in (1, 2, 3)]        # W1[j, i] = w_ij
    model = build_network([2, 3, 1], ["sigmoid", "sigmoid"],
                          weights=[w1, [[0.1, 0.2, 0.3]]], biases=[[0.1, 0.2, 0.3], [0.2]])
    return Example(
        name="2-3-1",
        description="2 inputs, 3 sigmoid hidden units, 1 sigmoid output; J = (y - yhat)^2",
        model=model, x=np.array([0.1, 0.2]), y=np.array([1.0]), loss="mse", lr=0.1)


# The regression presets' data: four points of the line y = 2x + 1, one row per sample.
_LINE_X = np.array([[-1.0], [0.0], [1.0], [2.0]])
_LINE_Y = 2.0 * _LINE_X + 1.0


def example_linear() -> Example:
    """Linear regression by gradient descent: yhat = w x + b with one weight and one bias,
    both starting at 0, on the points (-1, -1), (0, 1), (1, 3), (2, 5) of y = 2x + 1;
    J = mean over the four points of (y - yhat)^2, learning rate 0.1, three steps.

    Example:
        >>> ex = example_linear()
        >>> ex.model[0].weight.tolist(), ex.model[0].bias.tolist(), ex.steps
        ([[0.0]], [0.0], 3)
    """
    model = build_network([1, 1], ["none"], weights=[[[0.0]]], biases=[[0.0]])
    return Example(
        name="1-1",
        description="linear regression: yhat = w x + b, one weight and one bias; "
                    "J = mean (y - yhat)^2 over 4 points of y = 2x + 1",
        model=model, x=_LINE_X.copy(), y=_LINE_Y.copy(), loss="mse", lr=0.1, steps=3)


def example_121() -> Example:
    """The same regression with one hidden layer: two tanh units (weights 0.5 and -0.3,
    biases 0 and 0.2) feed a linear output (weights 0.4 and -0.6, bias 0.1); same points,
    loss, learning rate and three steps as :func:`example_linear`.

    Example:
        >>> ex = example_121()
        >>> [type(m).__name__ for m in ex.model]
        ['Linear', 'Tanh', 'Linear']
    """
    model = build_network([1, 2, 1], ["tanh", "none"], weights=[[[0.5], [-0.3]], [[0.4, -0.6]]],
                          biases=[[0.0, 0.2], [0.1]])
    return Example(
        name="1-2-1",
        description="regression with one hidden layer: 1 input -> 2 tanh units -> 1 linear "
                    "output; J = mean (y - yhat)^2 over 4 points of y = 2x + 1",
        model=model, x=_LINE_X.copy(), y=_LINE_Y.copy(), loss="mse", lr=0.1, steps=3)


EXAMPLES = {"2-3-1": example_231, "1-1": example_linear, "1-2-1": example_121}
_ALIASES = {"231": "2-3-1", "linear": "1-1", "linear-regression": "1-1", "11": "1-1",
            "121": "1-2-1"}


def get_example(name: str) -> Example:
    """A preset by name: ``"2-3-1"``, ``"1-1"`` (or ``"linear"``), ``"1-2-1"``."""
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; available: {', '.join(EXAMPLES)} "
                         f"(1-1 is also called linear)")
    return EXAMPLES[key]()
