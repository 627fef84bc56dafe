"""The models ``chainrule train`` builds (usable in your own scripts too).

Every builder takes plain numbers and strings, so a model is rebuilt from the JSON ``config``
stored in its checkpoint: ``build_model(config)``.

* :func:`mlp`  -- Flatten, then Linear / [BatchNorm1d] / activation / [Dropout] per hidden layer
* :func:`cnn`  -- LeNet-5 style: two conv + pool blocks, then three fully connected layers
* :func:`lstm` -- char-level: Embedding, LSTM, Linear on the last step (next character)
* :func:`transformer` -- char-level, decoder-only: token and position embeddings, causal
  pre-norm Transformer blocks, LayerNorm, Linear (next character at every position)

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

__all__ = ["ACTIVATIONS", "MODELS", "TEXT_MODELS", "mlp", "cnn", "lstm", "CharLSTM",
           "transformer", "CharTransformer", "transformer_config", "training_targets",
           "generate", "build_model", "parse_hidden", "mlp_outputs", "state_size"]

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


class CharTransformer(nn.Module):
    """Decoder-only (GPT-style) next-character model:

        token embedding + position embedding
        -> num_layers x TransformerEncoderLayer (pre-norm, ReLU, causal self-attention)
        -> LayerNorm -> Linear(d_model -> vocab_size)

    Position t only sees positions 0..t (the causal mask), so one window of T characters
    trains T predictions at once. Input: int64 ids ``(N, T)`` with T <= ``block_size``;
    ``forward`` gives the logits ``(N, vocab_size)`` for the character after the window
    (as :class:`CharLSTM`), ``all_logits`` those after every position. Linear and embedding
    weights start at N(0, 0.02) (GPT-2's initialisation), biases at 0.

    With ``train_every_position=True``, ``forward`` in training mode returns the logits
    after every position instead, laid out (N, vocab_size, T) as CrossEntropyLoss takes
    them with (N, T) targets (:func:`training_targets` makes those): how ``chainrule train``
    trains it with ``fit``, whose validation (in eval mode) still scores the next character.

    Example:
        >>> model = CharTransformer(vocab_size=65, block_size=32, d_model=32, nhead=4, num_layers=2)
        >>> model(Tensor(np.zeros((2, 10), dtype=np.int64))).shape
        (2, 65)
    """

    def __init__(self, vocab_size: int, block_size: int = 64, d_model: int = 128,
                 nhead: int = 4, num_layers: int = 4, dim_feedforward: int | None = None,
                 dropout: float = 0.0, train_every_position: bool = False):
        super().__init__()
        self.block_size = int(block_size)
        self.train_every_position = bool(train_every_position)
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(block_size, d_model)
        # ReLU (PyTorch's default): one fused operation, where GELU takes nine here.
        block = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward or 4 * d_model, dropout, activation="relu",
            batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, num_layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, vocab_size)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 2 and "norm" not in name:
                nn.init.normal_(p, 0.0, 0.02)
        self._masks: dict[tuple, Tensor] = {}

    def _causal_mask(self, length: int, dtype) -> Tensor:
        key = (length, np.dtype(dtype).str)
        if key not in self._masks:
            self._masks[key] = nn.Transformer.generate_square_subsequent_mask(length, dtype=dtype)
        return self._masks[key]

    def all_logits(self, x, state=None):
        """Logits ``(N, T, vocab_size)`` after every character of ``x`` ``(N, T)``; ``state``
        is accepted and returned for :class:`CharLSTM`'s interface (a Transformer carries
        no state: :meth:`next_logits` keeps the context instead)."""
        length = x.shape[1]
        if length > self.block_size:
            raise ValueError(f"CharTransformer: windows of {length} characters exceed "
                             f"block_size={self.block_size}")
        h = self.embedding(x) + self.position.weight[:length]
        h = self.blocks(h, mask=self._causal_mask(length, h.dtype), is_causal=True)
        return self.head(h), state

    def next_logits(self, x, state=None):
        """Logits ``(N, vocab_size)`` for the character after ``x`` ``(N, T)``, read after the
        context ``state`` (the ids seen before, or None); returns the new context, its last
        ``block_size`` characters, as the state to pass back in, so generation can feed one
        new character per step as it does for :class:`CharLSTM`."""
        context = x if state is None else Tensor(np.concatenate([state._array, x._array], axis=1))
        context = context[:, -self.block_size:]
        logits, _ = self.all_logits(context)
        return logits[:, -1], context

    def forward(self, x):
        if self.training and self.train_every_position:
            return self.all_logits(x)[0].transpose(1, 2)
        return self.next_logits(x)[0]


def transformer(vocab_size: int, block_size: int = 64, d_model: int = 128, nhead: int = 4,
                num_layers: int = 4, dim_feedforward: int | None = None, dropout: float = 0.0,
                train_every_position: bool = False) -> CharTransformer:
    """A char-level decoder-only Transformer (see :class:`CharTransformer`)."""
    return CharTransformer(vocab_size, block_size, d_model, nhead, num_layers, dim_feedforward,
                           dropout, train_every_position)


# The command line's text models, and the transformer's size when --hidden is not given:
# d_model 64 in 2 layers costs about what the default lstm (hidden 128) does per character.
TEXT_MODELS = ("lstm", "transformer")
TRANSFORMER_HIDDEN = "64,64"


def transformer_config(vocab_size: int, seq_len: int, hidden: str | None,
                       dropout: float) -> dict[str, Any]:
    """The ``chainrule train`` config of a :class:`CharTransformer`: ``hidden`` gives one
    width (d_model) per layer, all equal (``"64,64"``: two layers of 64, 4 heads each)."""
    sizes = parse_hidden(TRANSFORMER_HIDDEN if hidden is None else hidden)
    if not sizes or len(set(sizes)) != 1 or sizes[0] % 4:
        raise ValueError(f"--hidden for transformer gives one width per layer, all equal and "
                         f"divisible by its 4 heads, got {hidden}")
    return {"kind": "transformer", "vocab_size": vocab_size, "block_size": seq_len,
            "d_model": sizes[0], "nhead": 4, "num_layers": len(sizes), "dropout": dropout,
            "train_every_position": True}


def training_targets(config: Mapping[str, Any], X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The targets a model config trains on: the next character after every position
    (windows shifted by one, (N, T)) for a transformer that trains every position, else
    ``y`` as it is."""
    if config.get("kind") == "transformer" and config.get("train_every_position"):
        return np.concatenate([X[:, 1:], y[:, None]], axis=1).astype(np.int64)
    return y


def generate(model: CharLSTM | CharTransformer, prompt: Sequence[int], length: int,
             temperature: float = 1.0,
             generator: np.random.Generator | None = None) -> list[int]:
    """Sample ``length`` character ids to follow ``prompt`` (a non-empty sequence of ids).

    The prompt is read once; after that each step feeds only the character just drawn,
    carrying the model's state forward (an LSTM's ``(h, c)``, a Transformer's last
    ``block_size`` characters), so a step costs the same however long the text already is. Each character is drawn from ``softmax(logits / temperature)``: below 1
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
        raise TypeError(f"generate: model must be a CharLSTM or CharTransformer (with "
                        f"next_logits), got {type(model).__name__}")
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
                raw = logits._array[0].astype(np.float64)
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
    if kind == "transformer":
        vocab, d = config["vocab_size"], config["d_model"]
        ff = config.get("dim_feedforward") or 4 * d
        # per layer: attention's in-projection (3d x d + 3d) and out-projection (d x d + d),
        # the feed-forward pair (ff x d + ff, d x ff + d) and two LayerNorms (2d each)
        layer = 3 * d * d + 3 * d + d * d + d + ff * d + ff + d * ff + d + 4 * d
        return (vocab * d + config["block_size"] * d + config["num_layers"] * layer
                + 2 * d + d * vocab + vocab)
    raise ValueError(f"unknown model {kind!r}; choose from {', '.join(MODELS)}")


# Model kind (``--model``) -> its builder.
_BUILDERS = {"mlp": mlp, "cnn": cnn, "lstm": lstm, "transformer": transformer}
MODELS = tuple(_BUILDERS)
