"""The schema of a run's config (``config.json`` and the copy inside every checkpoint), and
the check that runs it before ``evaluate``, ``predict``, ``sample`` or ``--resume`` use any
field.

A checkpoint is a file like any other: its config may have been edited, damaged or made by
hand. :func:`check_run_config` checks every field's type and range (an ``epochs`` of
``"x"`` or ``inf``, a hidden size of 10**12), then that the sections agree with each other
(the model's input size with the preprocessing's input shape, its outputs with the class
names or, for a regression, the targets), and raises one UserError naming the first field
that is wrong.

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
from chainrule.cli.tables import MISSING
from chainrule.cli.targets import LOSSES, TASKS
from chainrule.data.features import FEATURES
from chainrule.io.schema import (
    Bool, Float, Int, Json, List, Optional, Record, SchemaError, Str, check)

__all__ = ["check_run_config", "MAX_SIZE"]

MAX_SIZE = 2 ** 31 - 1          # any count or width: what an int32 index can reach
_SIZE = Int(1, MAX_SIZE)
_FRACTION = Float(0.0, 1.0, high_open=True)
_SEED = Int(0, 2 ** 32 - 1)
_PATH = Str(max_len=4096)
_NAME = Str(max_len=4096)
_MAX_NAMES = 2 ** 20
# A regression's class_names are empty (its targets are named in preprocessing.targets);
# a classifier's are checked against the model's outputs.
_CLASS_NAMES = List(_NAME, max_len=_MAX_NAMES)
# A regression trained on standardised targets: each target's name, mean and std.
_TARGET_SCALING = Record({"names": List(_NAME, 1, _MAX_NAMES),
                          "mean": List(Float(), 1, _MAX_NAMES),
                          "std": List(Float(0.0, low_open=True), 1, _MAX_NAMES)})

PREPROCESSING = {
    "tabular": Record({"kind": Str(["tabular"]), "scale": Float(0.0, low_open=True),
                       "mean": List(Float(), 1, MAX_SIZE),
                       "std": List(Float(0.0, low_open=True), 1, MAX_SIZE),
                       "input_shape": List(_SIZE, 1, 1),
                       "fill": List(Float(), 1, MAX_SIZE), "targets": _TARGET_SCALING,
                       "features": List(Str(FEATURES), 1, len(FEATURES))},
                      # --missing mean|zero, regression, the playground's derived inputs
                      optional=("fill", "targets", "features")),
    "image": Record({"kind": Str(["image"]), "scale": Float(0.0, low_open=True),
                     "mean": Float(), "std": Float(0.0, low_open=True),
                     "input_shape": List(_SIZE, 3, 3),
                     "fill": Float(), "targets": _TARGET_SCALING},
                    optional=("fill", "targets")),
    "text": Record({"kind": Str(["text"]), "vocab": List(Str(max_len=1), 1, 2 ** 20),
                    "input_shape": List(_SIZE, 1, 1)}),
}


def _data_schema(name: str | None, preprocessing: Record, complete: bool) -> Record:
    """The data section for data set ``name`` (None: a config that names none, as a
    checkpoint written by hand for predict may). Splits may be left out unless
    ``complete`` (a run to resume needs them all); the task, --target and --missing are
    absent from runs saved before regression (classifiers, refusing missing values)."""
    fields: dict = {"val_split": _FRACTION, "test_split": _FRACTION, "split_seed": _SEED,
                    "class_names": _CLASS_NAMES, "preprocessing": preprocessing,
                    "task": Str(TASKS), "target": Optional(List(_NAME, 1, _MAX_NAMES)),
                    "missing": Str(MISSING)}
    optional: tuple = ("task", "target", "missing")
    if not complete:
        optional += ("val_split", "test_split", "split_seed")
    if name is not None:
        fields["name"] = Str([name])
    if name == "csv":
        # the target columns' places in the file (from 0); the playground exports its own
        # test file
        fields.update(path=_PATH, test_path=_PATH,
                      target_columns=List(Int(0, MAX_SIZE), 1, _MAX_NAMES))
        optional += ("test_path", "target_columns")
    elif name == "idx":
        fields.update(images=_PATH, labels=_PATH, test_images=_PATH, test_labels=_PATH)
        optional += ("test_images", "test_labels")
    elif name in TEXT:
        fields.update(seq_len=_SIZE, windows=_SIZE, test_windows=_SIZE)
    return Record(fields, optional)


MODEL = {
    # its outputs are "out_features" (classes or targets), "num_classes" in runs saved
    # before regression existed: one of the two (checked in _check_fields)
    "mlp": Record({"kind": Str(["mlp"]), "in_features": _SIZE, "out_features": _SIZE,
                   "num_classes": _SIZE, "hidden": List(_SIZE, 0, 1024),
                   "activation": Str(ACTIVATIONS), "dropout": _FRACTION, "batch_norm": Bool()},
                  optional=("out_features", "num_classes")),
    "cnn": Record({"kind": Str(["cnn"]), "in_channels": _SIZE, "num_classes": _SIZE,
                   "image_size": Int(12, MAX_SIZE), "activation": Str(ACTIVATIONS),
                   "dropout": _FRACTION, "batch_norm": Bool()}),
    "lstm": Record({"kind": Str(["lstm"]), "vocab_size": _SIZE, "embedding_dim": _SIZE,
                    "hidden_size": _SIZE, "num_layers": Int(1, 1024), "dropout": _FRACTION}),
    "transformer": Record({"kind": Str(["transformer"]), "vocab_size": _SIZE,
                           "block_size": _SIZE, "d_model": _SIZE, "nhead": _SIZE,
                           "num_layers": Int(1, 1024), "dim_feedforward": _SIZE,
                           "dropout": _FRACTION, "train_every_position": Bool()},
                          optional=("dim_feedforward", "train_every_position")),
}

# What chainrule train writes (a run of the playground also names its penalty, trains one
# logit of a binary classifier with bce_with_logits, has trained some epochs or none and
# writes no patience; world_size, the processes of a data-parallel run, came with mpiexec).
TRAIN = Record({
    "optimizer": Str(OPTIMIZERS), "lr": Float(0.0, low_open=True),
    "weight_decay": Float(0.0), "momentum": Float(0.0, 1.0, high_open=True),
    "lr_schedule": Str(LR_SCHEDULES), "epochs": Int(0, MAX_SIZE),
    "batch_size": _SIZE, "seed": _SEED, "patience": Int(0, MAX_SIZE),
    "loss": Str((*LOSSES, "bce_with_logits")), "world_size": _SIZE,
    "regularization": Str(["none", "l1", "l2"]), "reg_rate": Float(0.0)},
    optional=("lr_schedule", "patience", "world_size", "regularization", "reg_rate"))
# What --resume needs: a run of chainrule train's own.
TRAIN_TO_RESUME = Record({**{k: v for k, v in TRAIN.fields.items()
                             if k not in ("regularization", "reg_rate")},
                          "epochs": Int(1, MAX_SIZE), "loss": Str(LOSSES)},
                         optional=("lr_schedule", "world_size"))


# What the commands that work after training add to a run's config (chainrule prune,
# quantize, distill, federate and train --init-from): each section is checked here, and
# against the model in _check_sections.
_LAYER = Str(max_len=256)               # a dotted module name, e.g. "3" or "features.0"
_MAX_LAYERS = 2 ** 16                   # an mlp of 1024 hidden layers has 4,100 tensors
_LAYERS = List(_LAYER, 0, _MAX_LAYERS)
PRUNING = Record({"source": _PATH, "amount": _FRACTION,
                  "method": Str(["structured", "global unstructured", "layer unstructured"]),
                  "layers": List(_LAYER, 1, _MAX_LAYERS), "finetune_epochs": Int(0, MAX_SIZE),
                  "finetune_lr": Float(0.0, low_open=True), "sparsity": Float(0.0, 1.0)})
QUANTIZATION = Record({"source": _PATH, "layers": List(_LAYER, 1, _MAX_LAYERS),
                       "weights": Str(max_len=256), "inputs": Str(max_len=256),
                       "calibration_samples": _SIZE})
TRANSFER = Record({"init_from": _PATH, "loaded": _LAYERS, "frozen": _LAYERS,
                   "backbone_lr": Optional(Float(0.0))})
_CLIENTS = 2 ** 20
FEDERATED = Record({
    "clients": Int(1, _CLIENTS), "split": Str(["iid", "dirichlet"]),
    "alpha": Optional(Float(0.0, low_open=True)), "rounds": _SIZE,
    "fraction": Float(0.0, 1.0, low_open=True), "local_epochs": _SIZE,
    "algorithm": Str(["fedavg", "fedprox"]), "mu": Optional(Float(0.0)),
    "lr": Float(0.0, low_open=True), "momentum": Float(0.0, 1.0, high_open=True),
    "batch_size": _SIZE, "seed": _SEED, "world_size": _SIZE,
    "client_sizes": List(Int(0, MAX_SIZE), 1, _CLIENTS),
    "client_label_counts": List(List(Int(0, MAX_SIZE), 1, _MAX_NAMES), 1, _CLIENTS)})


def _distillation_schema(section: Any) -> Record:
    """A distilled run's section: the teacher's file, model (checked as any model config),
    temperature and weight of the soft term."""
    teacher_model = section.get("teacher_model") if isinstance(section, dict) else None
    kind = _kind(teacher_model, "kind", MODELS, "config.distillation.teacher_model")
    return Record({"teacher": _PATH, "teacher_model": MODEL[kind],
                   "temperature": Float(0.0, low_open=True), "alpha": Float(0.0, 1.0)})


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
    if kind == "mlp" and ("out_features" in model) == ("num_classes" in model):
        raise SchemaError("config.model", "expected one of the fields 'out_features' (its "
                                          "outputs) or 'num_classes' (older runs), not "
                                          f"{'both' if 'out_features' in model else 'neither'}")
    after = {"pruning": PRUNING, "quantization": QUANTIZATION, "transfer": TRANSFER,
             "federated": FEDERATED}
    if "distillation" in config:
        after["distillation"] = _distillation_schema(config["distillation"])
    rest = Record({"chainrule_version": Str(max_len=64), "created": Str(max_len=64),
                   "train": TRAIN_TO_RESUME if complete else TRAIN,
                   "playground": Json(max_depth=4), **after},
                  optional=("chainrule_version", "created", "playground", *after)
                  + (() if complete else ("train",)))
    check(rest, {k: v for k, v in config.items() if k not in ("data", "model")}, "config")


def _disagree(field: str, value, other: str, expected) -> None:
    if value != expected:
        raise SchemaError(field, f"is {value}, but {other} says {expected}")


def _check_agreement(config: dict) -> None:
    """The sections describe one run: the model fits the data's shape, and its outputs the
    classes or the regression targets."""
    data, model = config["data"], config["model"]
    _check_inputs(data, model)
    labels, source = _check_outputs(data, model)
    if data.get("name") == "csv":
        _check_target_columns(data, labels, source)
    _check_sections(config)


def _check_sections(config: dict) -> None:
    """The after-training sections agree with the run: a federated run's clients with
    their counts and the classes, a quantised run's layers named once each."""
    fed = config.get("federated")
    if fed is not None:
        for key in ("client_sizes", "client_label_counts"):
            _disagree(f"config.federated.{key}", f"{len(fed[key])} clients",
                      "config.federated.clients", f"{fed['clients']} clients")
        classes = len(config["data"]["class_names"])
        for i, row in enumerate(fed["client_label_counts"]):
            _disagree(f"config.federated.client_label_counts[{i}]", f"{len(row)} counts",
                      "config.data.class_names", f"{classes} counts")
    for section in ("quantization", "pruning"):
        layers = config.get(section, {}).get("layers", [])
        if len(set(layers)) != len(layers):
            raise SchemaError(f"config.{section}.layers", f"names a layer twice: {layers}")


def _check_inputs(data: dict, model: dict) -> None:
    prep = data["preprocessing"]
    shape = prep["input_shape"]
    if prep["kind"] == "tabular":
        # standardised columns: the input's, or the two coordinates the playground's features
        # (x1^2, sin(x1), ...) are computed from
        features = prep.get("features")
        columns, source = (2, "features (computed from x1, x2)") if features else \
            (shape[0], "input_shape")
        for key in ("mean", "std") + (("fill",) if "fill" in prep else ()):
            _disagree(f"config.data.preprocessing.{key}", f"{len(prep[key])} values", source,
                      f"{columns} values")
        if features:
            _disagree("config.data.preprocessing.input_shape", shape[0],
                      "config.data.preprocessing.features", len(set(features)))
    if data.get("name") == "csv":
        _disagree("config.data.preprocessing.kind", prep["kind"], "a CSV's data", "tabular")
    if model["kind"] == "mlp":
        _disagree("config.model.in_features", model["in_features"],
                  "config.data.preprocessing.input_shape", math.prod(shape))
    if model["kind"] == "cnn":
        _disagree("config.data.preprocessing.kind", prep["kind"], "the cnn model", "image")
        _disagree("config.model.in_channels", model["in_channels"],
                  "config.data.preprocessing.input_shape", shape[0])
        _disagree("config.model.image_size", [model["image_size"]] * 2,
                  "config.data.preprocessing.input_shape", shape[1:])
    if model["kind"] in ("lstm", "transformer"):
        _disagree("config.data.preprocessing.kind", prep["kind"], f"the {model['kind']} model",
                  "text")
        _disagree("config.model.vocab_size", model["vocab_size"],
                  "config.data.preprocessing.vocab", len(prep["vocab"]))
    if model["kind"] == "transformer":
        if model["d_model"] % model["nhead"]:
            raise SchemaError("config.model.d_model", f"is {model['d_model']}, not divisible "
                                                      f"by config.model.nhead ({model['nhead']})")
        _disagree("config.model.block_size", model["block_size"],
                  "config.data.preprocessing.input_shape", shape[0])
    if data.get("name") in TEXT:
        _disagree("config.data.seq_len", data["seq_len"],
                  "config.data.preprocessing.input_shape", shape[0])


def _check_outputs(data: dict, model: dict) -> tuple[int, str]:
    """The model's outputs against the classes or targets; returns how many label columns
    the data has (1 for classes, one per target) and the field that says so."""
    prep, names = data["preprocessing"], data["class_names"]
    scaling = prep.get("targets")
    if scaling is not None:  # standardised regression targets
        for key in ("mean", "std"):
            _disagree(f"config.data.preprocessing.targets.{key}",
                      f"{len(scaling[key])} values", "config.data.preprocessing.targets.names",
                      f"{len(scaling['names'])} values")
        _disagree("config.data.task", data.get("task"), "config.data.preprocessing.targets",
                  "regression")
    if data.get("task") == "regression":
        _disagree("config.model.kind", model["kind"], "config.data.task (regression)", "mlp")
        # the targets are named by their scaling, or (the playground's runs, trained on
        # targets as they are) in class_names
        targets, source = (scaling["names"], "config.data.preprocessing.targets.names") \
            if scaling is not None else (names, "config.data.class_names")
        field = f"config.model.{_outputs_field(model)}"
        _disagree(field, model[_outputs_field(model)], source, len(targets))
        return len(targets), field
    if prep["kind"] == "text":
        _disagree("config.data.class_names", f"{len(names)} names",
                  "config.data.preprocessing.vocab", f"{len(prep['vocab'])} names")
    if model["kind"] not in ("lstm", "transformer"):
        field = _outputs_field(model)
        outputs = model[field]
        if not (outputs == 1 and len(names) == 2):  # one logit: binary log-odds
            _disagree(f"config.model.{field}", outputs, "config.data.class_names", len(names))
    return 1, "config.data.task (classification)"


def _outputs_field(model: dict) -> str:
    return "out_features" if "out_features" in model else "num_classes"


def _check_target_columns(data: dict, labels: int, source: str) -> None:
    """A CSV run's target columns (and --target names): ``labels`` of them (as ``source``
    says), each once, within the file's columns (the features and the labels)."""
    if data.get("target") is not None:
        _disagree("config.data.target", f"{len(data['target'])} columns", source,
                  f"{labels} columns")
    columns = data.get("target_columns")
    if columns is None:
        return
    _disagree("config.data.target_columns", f"{len(columns)} columns", source,
              f"{labels} columns")
    if len(set(columns)) != len(columns):
        raise SchemaError("config.data.target_columns", f"names a column twice: {columns}")
    prep = data["preprocessing"]
    width = (2 if prep.get("features") else prep["input_shape"][0]) + labels
    if max(columns) >= width:
        raise SchemaError("config.data.target_columns",
                          f"holds column {max(columns)} (from 0), but the file has {width} "
                          f"columns (the model's features and {labels} label columns)")


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
