"""The schema of a run's config (``config.json`` and the copy inside every checkpoint), and
the check that runs it before ``evaluate``, ``predict``, ``sample`` or ``--resume`` use any
field.

A checkpoint is a file like any other: its config may have been edited, damaged or made by
hand. :func:`check_run_config` checks every field's type and range (an ``epochs`` of
``"x"`` or ``inf``, a hidden size of 10**12), then that the sections agree with each other
(the model's input size with the preprocessing's input shape, its outputs with the class
names), and raises one UserError naming the first field that is wrong.

    >>> check_run_config({"train": {}}, "last.ckpt")     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.cli.errors.UserError: last.ckpt: its config is not one 'chainrule train' wrote: ...
"""
from __future__ import annotations

import math
from typing import Any

from chainrule.cli.data import NAMES, TEXT
from chainrule.cli.errors import UserError
from chainrule.cli.limits import check_fits
from chainrule.cli.models import ACTIVATIONS, MODELS
from chainrule.cli.optimizers import LR_SCHEDULES, OPTIMIZERS
from chainrule.data.features import FEATURES
from chainrule.io.schema import (
    Bool, Float, Int, Json, List, Record, SchemaError, Str, check)

__all__ = ["check_run_config", "MAX_SIZE"]

MAX_SIZE = 2 ** 31 - 1          # any count or width: what an int32 index can reach
_SIZE = Int(1, MAX_SIZE)
_FRACTION = Float(0.0, 1.0, high_open=True)
_SEED = Int(0, 2 ** 32 - 1)
_PATH = Str(max_len=4096)
_CLASS_NAMES = List(Str(max_len=4096), min_len=1, max_len=2 ** 20)

PREPROCESSING = {
    "tabular": Record({"kind": Str(["tabular"]), "scale": Float(0.0, low_open=True),
                       "mean": List(Float(), 1, MAX_SIZE),
                       "std": List(Float(0.0, low_open=True), 1, MAX_SIZE),
                       "input_shape": List(_SIZE, 1, 1),
                       "features": List(Str(FEATURES), 1, len(FEATURES))},
                      optional=("features",)),  # the playground's derived inputs (x1^2, ...)
    "image": Record({"kind": Str(["image"]), "scale": Float(0.0, low_open=True),
                     "mean": Float(), "std": Float(0.0, low_open=True),
                     "input_shape": List(_SIZE, 3, 3)}),
    "text": Record({"kind": Str(["text"]), "vocab": List(Str(max_len=1), 1, 2 ** 20),
                    "input_shape": List(_SIZE, 1, 1)}),
}


def _data_schema(name: str | None, preprocessing: Record, complete: bool) -> Record:
    """The data section for data set ``name`` (None: a config that names none, as a
    checkpoint written by hand for predict may). Splits may be left out unless
    ``complete`` (a run to resume needs them all)."""
    fields: dict = {"val_split": _FRACTION, "test_split": _FRACTION, "split_seed": _SEED,
                    "class_names": _CLASS_NAMES, "preprocessing": preprocessing}
    optional: tuple = () if complete else ("val_split", "test_split", "split_seed")
    if name is not None:
        fields["name"] = Str([name])
    if name == "csv":
        # the playground exports its own test file, and networks for regression too
        fields.update(path=_PATH, test_path=_PATH, task=Str(TASKS))
        optional += ("test_path", "task")
    elif name == "idx":
        fields.update(images=_PATH, labels=_PATH, test_images=_PATH, test_labels=_PATH)
        optional += ("test_images", "test_labels")
    elif name in TEXT:
        fields.update(seq_len=_SIZE, windows=_SIZE, test_windows=_SIZE)
    return Record(fields, optional)


MODEL = {
    "mlp": Record({"kind": Str(["mlp"]), "in_features": _SIZE, "num_classes": _SIZE,
                   "hidden": List(_SIZE, 0, 1024), "activation": Str(ACTIVATIONS),
                   "dropout": _FRACTION, "batch_norm": Bool()}),
    "cnn": Record({"kind": Str(["cnn"]), "in_channels": _SIZE, "num_classes": _SIZE,
                   "image_size": Int(12, MAX_SIZE), "activation": Str(ACTIVATIONS),
                   "dropout": _FRACTION, "batch_norm": Bool()}),
    "lstm": Record({"kind": Str(["lstm"]), "vocab_size": _SIZE, "embedding_dim": _SIZE,
                    "hidden_size": _SIZE, "num_layers": Int(1, 1024), "dropout": _FRACTION}),
}

TASKS = ("classification", "regression")
# What chainrule train writes (a run of the playground also names its loss, penalty and
# the epochs it had trained, and writes no patience).
TRAIN = Record({
    "optimizer": Str(OPTIMIZERS), "lr": Float(0.0, low_open=True),
    "weight_decay": Float(0.0), "momentum": Float(0.0, 1.0, high_open=True),
    "lr_schedule": Str(LR_SCHEDULES), "epochs": Int(0, MAX_SIZE),
    "batch_size": _SIZE, "seed": _SEED, "patience": Int(0, MAX_SIZE),
    "loss": Str(["cross_entropy", "bce_with_logits", "mse"]),
    "regularization": Str(["none", "l1", "l2"]), "reg_rate": Float(0.0)},
    optional=("lr_schedule", "patience", "regularization", "reg_rate"))
# What --resume needs: a run of chainrule train's own.
TRAIN_TO_RESUME = Record({**{k: v for k, v in TRAIN.fields.items()
                             if k not in ("regularization", "reg_rate")},
                          "epochs": Int(1, MAX_SIZE), "loss": Str(["cross_entropy"])},
                         optional=("lr_schedule",))


def _kind(section: Any, key: str, choices, where: str) -> str:
    """The value of a section's tag field (data.name, model.kind, ...), checked first so
    the rest of the section is checked against the right schema."""
    value = section.get(key) if isinstance(section, dict) else None
    check(Str(choices), value, f"{where}.{key}")
    return value


def _check_fields(config: Any, complete: bool) -> None:
    if not isinstance(config, dict):
        raise SchemaError("config", f"expected a mapping, got a {type(config).__name__}")
    for section in ("data", "model") + (("train",) if complete else ()):
        if not isinstance(config.get(section), dict):
            raise SchemaError(f"config.{section}", "missing, or not a mapping")
    data, model = config["data"], config["model"]
    name = None
    if complete or "name" in data:
        name = _kind(data, "name", NAMES + ("csv", "idx"), "config.data")
    prep = data.get("preprocessing")
    prep_kind = _kind(prep, "kind", tuple(PREPROCESSING), "config.data.preprocessing")
    check(_data_schema(name, PREPROCESSING[prep_kind], complete), data, "config.data")
    kind = _kind(model, "kind", MODELS, "config.model")
    check(MODEL[kind], model, "config.model")
    rest = Record({"chainrule_version": Str(max_len=64), "created": Str(max_len=64),
                   "train": TRAIN_TO_RESUME if complete else TRAIN,
                   "playground": Json(max_depth=4)},
                  optional=("chainrule_version", "created", "playground")
                  + (() if complete else ("train",)))
    check(rest, {k: v for k, v in config.items() if k not in ("data", "model")}, "config")


def _check_agreement(config: dict) -> None:
    """The sections describe one run: the model fits the data's shape and classes."""
    data, model = config["data"], config["model"]
    prep, names = data["preprocessing"], data["class_names"]
    shape = prep["input_shape"]

    def disagree(field: str, value, other: str, expected) -> None:
        if value != expected:
            raise SchemaError(field, f"is {value}, but {other} says {expected}")

    if prep["kind"] == "tabular":
        # standardised columns: the input's, or the two coordinates the playground's features
        # (x1^2, sin(x1), ...) are computed from
        features = prep.get("features")
        columns, source = (2, "features (computed from x1, x2)") if features else \
            (shape[0], "input_shape")
        disagree("config.data.preprocessing.mean", f"{len(prep['mean'])} values", source,
                 f"{columns} values")
        disagree("config.data.preprocessing.std", f"{len(prep['std'])} values", source,
                 f"{columns} values")
        if features:
            disagree("config.data.preprocessing.input_shape", shape[0],
                     "config.data.preprocessing.features", len(set(features)))
    if model["kind"] == "mlp":
        disagree("config.model.in_features", model["in_features"],
                 "config.data.preprocessing.input_shape", math.prod(shape))
    if model["kind"] == "cnn":
        disagree("config.data.preprocessing.kind", prep["kind"], "the cnn model", "image")
        disagree("config.model.in_channels", model["in_channels"],
                 "config.data.preprocessing.input_shape", shape[0])
        disagree("config.model.image_size", [model["image_size"]] * 2,
                 "config.data.preprocessing.input_shape", shape[1:])
    if model["kind"] == "lstm":
        disagree("config.data.preprocessing.kind", prep["kind"], "the lstm model", "text")
        disagree("config.model.vocab_size", model["vocab_size"],
                 "config.data.preprocessing.vocab", len(prep["vocab"]))
    elif not (model["num_classes"] == 1 and len(names) == 2):  # one logit: binary log-odds
        disagree("config.model.num_classes", model["num_classes"],
                 "config.data.class_names", len(names))
    if prep["kind"] == "text":
        disagree("config.data.class_names", f"{len(names)} names",
                 "config.data.preprocessing.vocab", f"{len(prep['vocab'])} names")
    if data.get("name") in TEXT:
        disagree("config.data.seq_len", data["seq_len"],
                 "config.data.preprocessing.input_shape", shape[0])


def check_run_config(config: Any, source: str, complete: bool = False) -> dict:
    """``config`` (from ``source``, a checkpoint or config.json) if it is one that
    ``chainrule train`` writes; else UserError naming the first wrong field. Only the model
    and the data's preprocessing and class names must be there unless ``complete`` (to
    resume a run, every section and field must be)."""
    try:
        _check_fields(config, complete)
        _check_agreement(config)
    except SchemaError as e:
        raise UserError(f"{source}: its config is not one 'chainrule train' wrote: {e}") from None
    data = config["data"]
    if data.get("name") in TEXT:  # the windows are cut from the text as int64 ids
        check_fits(f"{source}: the config's text windows (data.windows + data.test_windows "
                   f"x data.seq_len)",
                   (data["windows"] + data["test_windows"]) * data["seq_len"] * 8)
    return config
