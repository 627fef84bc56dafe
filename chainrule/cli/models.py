"""The models ``chainrule train`` builds (usable in your own scripts too).

Every builder takes plain numbers and strings, so a model is rebuilt from the JSON ``config``
stored in its checkpoint: ``build_model(config)``.

* :func:`mlp`  -- Flatten, then Linear / [BatchNorm1d] / activation / [Dropout] per hidden layer
* :func:`cnn`  -- LeNet-5 style: two conv + pool blocks, then three fully connected layers
* :func:`lstm` -- char-level: Embedding, LSTM, Linear on the last step (next character)

    >>> import chainrule as cr
    >>> from chainrule.cli import models
    >>> model = models.mlp(784, 10, hidden=(256, 128), activation="relu")
    >>> model(cr.zeros(2, 784)).shape
    (2, 10)
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from chainrule import nn
from chainrule.autograd import no_grad
from chainrule.random import default_generator
from chainrule.tensor import Tensor

__all__ = ["ACTIVATIONS", "MODELS", "mlp", "cnn", "lstm", "CharLSTM", "generate", "build_model",
           "parse_hidden", "mlp_outputs", "state_size"]

# Command-line name -> the nn layer.
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
               "leaky_relu": nn.LeakyReLU, "linear": nn.Identity}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def parse_hidden(text: str | Sequence[int]) -> tuple[int, ...]:
    """Hidden layer sizes from ``"256,128"`` (or a sequence of ints); ``""`` means none.

    Example:
        >>> parse_hidden("256, 128")
        (256, 128)
    """
    if not isinstance(text, str):
        sizes = tuple(text)
    else:
        parts = [p.strip() for p in text.split(",")] if text.strip() else []
        sizes = []
        for p in parts:
            if not p.isdigit():
                raise ValueError(f"bad hidden layer sizes {text!r}: {p!r} is not a positive "
                                 f"integer (expected a comma-separated list such as 256,128)")
            sizes.append(int(p))
        sizes = tuple(sizes)
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or s <= 0:
            raise ValueError(f"bad hidden layer sizes {text!r}: every size must be a positive "
                             f"integer (expected a comma-separated list such as 256,128)")
    return sizes


def mlp(in_features: int, out_features: int, hidden: Sequence[int] = (256, 128),
        activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False) -> nn.Sequential:
    """A multi-layer perceptron; inputs of any shape ``(N, ...)`` are flattened first.

    Each hidden layer is ``Linear -> [BatchNorm1d] -> activation -> [Dropout]``; the last
    Linear gives ``out_features`` outputs: one logit per class (feed them to
    ``CrossEntropyLoss``) or one value per regression target.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = int(in_features)
    for size in parse_hidden(hidden):
        layers.append(nn.Linear(width, size))
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(_activation(activation))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, int(out_features)))
    return nn.Sequential(*layers)


def cnn(in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
        activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False) -> nn.Sequential:
    """LeNet-5 style: ``conv5x5(6, padding 2) -> act -> maxpool2 -> conv5x5(16) -> act ->
    maxpool2 -> Linear(120) -> act -> Linear(84) -> act -> Linear(num_classes)``.

    For 28x28 inputs the feature maps are 28 -> 14 -> 10 -> 5, so the first Linear sees
    16 * 5 * 5 = 400 values.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    side = (image_size // 2 - 4) // 2
    if side < 1:
        raise ValueError(f"cnn: images of side {image_size} are too small for LeNet-5 (need >= 12)")
    layers: list[nn.Module] = [nn.Conv2d(in_channels, 6, 5, padding=2)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(6))
    layers += [_activation(activation), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(16))
    layers += [_activation(activation), nn.MaxPool2d(2), nn.Flatten(),
               nn.Linear(16 * side * side, 120), _activation(activation)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(120, 84), _activation(activation)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(84, int(num_classes)))
    return nn.Sequential(*layers)


class CharLSTM(nn.Module):
    """Next-character model: ``Embedding -> LSTM -> Linear`` on the last time step.

    Input: int64 character indices ``(N, T)``; output: logits ``(N, vocab_size)`` for the
    character that follows.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 32, hidden_size: int = 128,
                 num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x):
        logits, _ = self.next_logits(x)
        return logits

    def next_logits(self, x, state=None):
        """Logits ``(N, vocab_size)`` for the character after the last one of ``x`` ``(N, T)``,
        and the LSTM state ``(h, c)`` (each ``(num_layers, N, hidden_size)``) after reading
        ``x``. Passing that state back in continues the text: reading it in pieces gives the
        same logits as reading it at once, so generation feeds one new character per step."""
        out, state = self.lstm(self.embedding(x), state)
        return self.head(out[:, -1]), state

    def all_logits(self, x, state=None):
        """Logits ``(N, T, vocab_size)`` after every character of ``x`` (char-rnn training
        predicts them all) and the LSTM state after the last one."""
        out, state = self.lstm(self.embedding(x), state)
        return self.head(out), state


def lstm(vocab_size: int, embedding_dim: int = 32, hidden_size: int = 128, num_layers: int = 1,
         dropout: float = 0.0) -> CharLSTM:
    """A char-level LSTM (see :class:`CharLSTM`)."""
    return CharLSTM(vocab_size, embedding_dim, hidden_size, num_layers, dropout)


def generate(model: CharLSTM, prompt: Sequence[int], length: int, temperature: float = 1.0,
             generator: np.random.Generator | None = None) -> list[int]:
    """Sample ``length`` character ids to follow ``prompt`` (a non-empty sequence of ids).

    The prompt is read once; after that each step feeds only the character just drawn,
    carrying the LSTM state ``(h, c)`` forward, so a step costs the same however long the
    text already is. Each character is drawn from ``softmax(logits / temperature)``: below 1
    the model's favourite characters get likelier (safer, more repetitive text), above 1 its
    distribution flattens (more surprising, more misspelt text). Draws use ``generator``
    (default: chainrule's seeded global generator, so ``cr.manual_seed`` fixes the text).

    Example:
        >>> import chainrule as cr
        >>> _ = cr.manual_seed(0)
        >>> ids = generate(lstm(vocab_size=5, hidden_size=8), [0, 1], length=4)
        >>> len(ids), all(0 <= i < 5 for i in ids)
        (4, True)
    """
    if not callable(getattr(model, "next_logits", None)):
        raise TypeError(f"generate: model must be a CharLSTM (with next_logits), got "
                        f"{type(model).__name__}")
    prompt = [int(i) for i in prompt]
    if not prompt:
        raise ValueError("generate: the prompt must hold at least one character")
    vocab = model.head.out_features
    if min(prompt) < 0 or max(prompt) >= vocab:
        raise ValueError(f"generate: prompt ids must be in [0, {vocab}), got {prompt}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"generate: length must be an int >= 0, got {length!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or \
            not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"generate: temperature must be a finite number > 0, got {temperature!r}")
    rng = default_generator() if generator is None else generator
    was_training = model.training
    model.eval()  # no dropout between stacked layers while sampling
    out: list[int] = []
    try:
        with no_grad():
            logits, state = model.next_logits(Tensor(np.array([prompt], dtype=np.int64)))
            for i in range(int(length)):
                raw = logits.data[0].astype(np.float64)
                with np.errstate(over="ignore"):
                    z = raw / temperature
                # A temperature so small that z overflows: its limit, greedy decoding.
                p = (raw == raw.max()).astype(np.float64) if np.isinf(z).any() \
                    else np.exp(z - z.max())
                out.append(int(rng.choice(vocab, p=p / p.sum())))
                if i + 1 < length:  # the last draw needs no next distribution
                    logits, state = model.next_logits(
                        Tensor(np.array([[out[-1]]], dtype=np.int64)), state)
    finally:
        model.train(was_training)
    return out


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild a model from the ``"model"`` section of a run's config, e.g.
    ``{"kind": "mlp", "in_features": 784, "out_features": 10, "hidden": [256, 128],
    "activation": "relu", "dropout": 0.0, "batch_norm": false}``."""
    if not isinstance(config, Mapping) or "kind" not in config:
        raise ValueError(f"model config must be a dict with a 'kind' entry, got {config!r}")
    kind = config["kind"]
    args = {k: v for k, v in config.items() if k != "kind"}
    if kind == "mlp" and "num_classes" in args and "out_features" not in args:
        # Runs saved before regression existed named the mlp's outputs "num_classes".
        args["out_features"] = args.pop("num_classes")
    if kind not in _BUILDERS:
        raise ValueError(f"unknown model {kind!r}; choose from {', '.join(MODELS)}")
    try:
        return _BUILDERS[kind](**args)
    except TypeError as e:
        raise ValueError(f"model config for {kind!r} does not fit its builder: {e}") from None


def mlp_outputs(config: Mapping[str, Any]) -> int:
    """The number of outputs an mlp's config names: ``out_features``, or ``num_classes`` in
    runs saved before regression existed."""
    return config["out_features"] if "out_features" in config else config["num_classes"]


def state_size(config: Mapping[str, Any]) -> int:
    """How many numbers the ``state_dict`` of ``build_model(config)`` holds, computed from
    the config alone (Python ints: no allocation, no overflow). A model is built from a
    checkpoint only when this equals what the checkpoint stores, so a small file whose
    config asks for hidden sizes [20000, 20000] is refused instead of allocating 1.6 GB.

    Example:
        >>> state_size({"kind": "mlp", "in_features": 2, "out_features": 2, "hidden": [16],
        ...             "activation": "relu", "dropout": 0.0, "batch_norm": False})
        82
    """
    kind = config["kind"]
    norm = 4  # a BatchNorm layer's weight, bias, running mean and running variance per unit
    if kind == "mlp":
        widths = [config["in_features"], *config["hidden"], mlp_outputs(config)]
        linear = sum(a * b + b for a, b in zip(widths, widths[1:]))
        return linear + (sum(norm * h + 1 for h in config["hidden"])  # +1: batches tracked
                         if config["batch_norm"] else 0)
    if kind == "cnn":
        side = (config["image_size"] // 2 - 4) // 2
        widths = [16 * side * side, 120, 84, config["num_classes"]]
        convs = 6 * config["in_channels"] * 25 + 6 + 16 * 6 * 25 + 16
        return convs + sum(a * b + b for a, b in zip(widths, widths[1:])) + (
            (norm * 6 + 1) + (norm * 16 + 1) if config["batch_norm"] else 0)
    if kind == "lstm":
        vocab, emb, h = config["vocab_size"], config["embedding_dim"], config["hidden_size"]
        gates = 4 * h  # input, forget, cell and output gates; two bias vectors each layer
        layers = sum(gates * ((emb if i == 0 else h) + h + 2) for i in range(config["num_layers"]))
        return vocab * emb + layers + h * vocab + vocab
    raise ValueError(f"unknown model {kind!r}; choose from {', '.join(MODELS)}")


# Model kind (``--model``) -> its builder.
_BUILDERS = {"mlp": mlp, "cnn": cnn, "lstm": lstm}
MODELS = tuple(_BUILDERS)
