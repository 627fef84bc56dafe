"""What a learner can set in the playground, and the checks that refuse anything else.

The page sends its settings as JSON. :func:`parse_settings` builds a :class:`Settings`
from that dict or raises :class:`SettingsError` with a message the page shows next to the
control; no value the page sends is ever evaluated, imported or used as a path: every
string must be one of the fixed choices below, every number must lie in its range.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from chainrule.data.features import FEATURES

CLASSIFICATION_SETS = ("circle", "xor", "gaussian", "spiral", "moons")
REGRESSION_SETS = ("plane", "bumps")
DATASETS = CLASSIFICATION_SETS + REGRESSION_SETS + ("csv",)
PROBLEMS = ("classification", "regression")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
REGULARIZATIONS = ("none", "l1", "l2")
OPTIMIZERS = ("sgd", "momentum", "adam")
MOMENTUM = 0.9                  # the "momentum" optimiser: SGD with this momentum factor
MAX_LAYERS = 6                  # hidden layers (TensorFlow Playground's limit)
MAX_NEURONS = 8                 # neurons per hidden layer (its limit too)
MAX_BATCH = 30
NUM_POINTS = 500                # points per generated data set (train + test)


class SettingsError(ValueError):
    """A setting the page sent is not allowed; the message names it and what is allowed."""


@dataclass(frozen=True)
class Settings:
    """One playground configuration (TensorFlow Playground's defaults, with chainrule's
    optimisers added)."""

    dataset: str = "circle"
    problem: str = "classification"
    noise: float = 0.0
    train_ratio: float = 0.5
    batch_size: int = 10
    features: tuple[str, ...] = ("x1", "x2")
    hidden: tuple[int, ...] = (4, 2)
    activation: str = "tanh"
    regularization: str = "none"
    reg_rate: float = 0.0
    lr: float = 0.03
    optimizer: str = "sgd"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"], d["hidden"] = list(self.features), list(self.hidden)
        return d

    # What a change needs: new data (and so a new network), a new network, or nothing.
    DATA_FIELDS = ("dataset", "problem", "noise", "train_ratio", "seed")
    NETWORK_FIELDS = ("features", "hidden", "activation")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _number(name: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingsError(f"{name} must be a number; got {value!r}")
    if value < low or value > high or (low_open and value == low):
        lo = f"> {low:g}" if low_open else f">= {low:g}"
        raise SettingsError(f"{name} must be {lo} and <= {high:g}; got {value:g}")
    return float(value)


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}; got {value!r}")
    return value


def parse_settings(data: Any, base: Settings | None = None) -> Settings:
    """``base`` (default: the defaults) with the entries of ``data`` applied, all checked.

    Example:
        >>> parse_settings({"dataset": "spiral", "hidden": [8, 8]}).hidden
        (8, 8)
        >>> parse_settings({"lr": -1})
        Traceback (most recent call last):
        ...
        chainrule.playground.settings.SettingsError: lr must be > 0 and <= 10; got -1
    """
    base = base or Settings()
    if not isinstance(data, dict):
        raise SettingsError(f"settings must be an object of name: value; got {type(data).__name__}")
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r}; the settings are "
                            f"{', '.join(sorted(known))}")
    new: dict[str, Any] = {}
    checks = {
        "dataset": lambda v: _choice("dataset", v, DATASETS),
        "problem": lambda v: _choice("problem", v, PROBLEMS),
        "noise": lambda v: _number("noise", v, 0.0, 0.5),
        "train_ratio": lambda v: _number("train_ratio", v, 0.1, 0.9),
        "batch_size": lambda v: _integer("batch_size", v, 1, MAX_BATCH),
        "activation": lambda v: _choice("activation", v, ACTIVATIONS),
        "regularization": lambda v: _choice("regularization", v, REGULARIZATIONS),
        "reg_rate": lambda v: _number("reg_rate", v, 0.0, 10.0),
        "lr": lambda v: _number("lr", v, 0.0, 10.0, low_open=True),
        "optimizer": lambda v: _choice("optimizer", v, OPTIMIZERS),
        "seed": lambda v: _integer("seed", v, 0, 2 ** 31 - 1),
        "features": _features,
        "hidden": _hidden,
    }
    for key, value in data.items():
        new[key] = checks[key](value)
    settings = replace(base, **new)
    if settings.dataset in CLASSIFICATION_SETS and settings.problem != "classification":
        raise SettingsError(f"the {settings.dataset} data set is for classification; pick plane "
                            f"or bumps (or a CSV file) for regression")
    if settings.dataset in REGRESSION_SETS and settings.problem != "regression":
        raise SettingsError(f"the {settings.dataset} data set is for regression; pick circle, "
                            f"xor, gaussian, spiral or moons (or a CSV file) for classification")
    return settings


def _features(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise SettingsError("features must be a non-empty list; switch on at least one input")
    for v in value:
        _choice("each feature", v, tuple(FEATURES))
    if len(set(value)) != len(value):
        raise SettingsError(f"features repeat in {value}")
    return tuple(f for f in FEATURES if f in value)   # a fixed order, whatever the page sent


def _hidden(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_LAYERS:
        raise SettingsError(f"hidden must be a list of at most {MAX_LAYERS} layer sizes; "
                            f"got {value!r}")
    return tuple(_integer("neurons per layer", v, 1, MAX_NEURONS) for v in value)


__all__ = ["Settings", "SettingsError", "parse_settings", "DATASETS", "CLASSIFICATION_SETS",
           "REGRESSION_SETS", "PROBLEMS", "ACTIVATIONS", "REGULARIZATIONS", "OPTIMIZERS",
           "MAX_LAYERS", "MAX_NEURONS", "MAX_BATCH", "NUM_POINTS", "MOMENTUM"]
