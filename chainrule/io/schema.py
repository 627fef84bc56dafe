"""Explicit schemas for what is read back from files: every field's type and range, checked
before anything uses it.

A checkpoint or a config file comes from outside the program, so a value in it may be of any
type or size (an epoch that is ``inf``, a size of 10**12, a list nested 100,000 deep).
Reading code checks the whole value against a schema first; a value that does not fit
raises :class:`SchemaError`, a ``ValueError`` that names the field and what was expected, so
later code can rely on every type and bound.

    >>> schema = Record({"epochs": Int(1, 10**6), "lr": Float(0, low_open=True),
    ...                  "hidden": List(Int(1, 2**31 - 1), max_len=64)})
    >>> check(schema, {"epochs": 3, "lr": 0.01, "hidden": [64, 32]}, "config")
    >>> check(schema, {"epochs": float("inf"), "lr": 0.01, "hidden": []}, "config")
    Traceback (most recent call last):
    ...
    chainrule.io.schema.SchemaError: config.epochs: expected an integer from 1 to 1000000, got inf
"""
from __future__ import annotations

import abc
import math
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from chainrule.tensor import Tensor

__all__ = ["SchemaError", "Schema", "Int", "Float", "Str", "Bool", "Null", "Optional", "Either",
           "List", "Record", "Map", "Array", "Json", "Like", "Satisfies", "check"]


class SchemaError(ValueError):
    """A value that does not fit its schema; ``where`` names the field (``config.train.lr``)."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


def _shown(value: Any) -> str:
    """A short picture of a value for a message (a huge string or list is cut)."""
    if isinstance(value, (Mapping, list, tuple)):
        return f"a {type(value).__name__} of {len(value)} entries"
    if isinstance(value, (np.ndarray, Tensor)):
        return f"an array of shape {tuple(value.shape)}"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


class Schema(abc.ABC):
    """One rule; ``check(value, where)`` raises :class:`SchemaError` or returns None."""

    expected = "a value"

    @abc.abstractmethod
    def check(self, value: Any, where: str) -> None:
        """Raise :class:`SchemaError` (via :meth:`fail`) unless ``value`` fits."""

    def fail(self, value: Any, where: str, problem: str | None = None):
        raise SchemaError(where, problem or f"expected {self.expected}, got {_shown(value)}")


class Int(Schema):
    """A whole number (not a bool) from ``low`` to ``high``, both included."""

    def __init__(self, low: int | None = None, high: int | None = None):
        self.low, self.high = low, high
        if low is not None and high is not None:
            self.expected = f"an integer from {low} to {high}"
        elif low is not None:
            self.expected = f"an integer >= {low}"
        else:
            self.expected = "an integer"

    def check(self, value, where):
        if not _is_int(value) or (self.low is not None and value < self.low) \
                or (self.high is not None and value > self.high):
            self.fail(value, where)


class Float(Schema):
    """A real number (ints too, not bools); finite unless ``finite=False``; within the bounds
    (closed unless ``low_open``/``high_open``)."""

    def __init__(self, low: float | None = None, high: float | None = None, finite: bool = True,
                 low_open: bool = False, high_open: bool = False):
        self.low, self.high, self.finite = low, high, finite
        self.low_open, self.high_open = low_open, high_open
        parts = [f"{'>' if low_open else '>='} {low:g}"] if low is not None else []
        parts += [f"{'<' if high_open else '<='} {high:g}"] if high is not None else []
        kind = "a finite number" if finite else "a number"
        self.expected = kind + (f" {' and '.join(parts)}" if parts else "")

    def check(self, value, where):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                         np.floating)):
            self.fail(value, where)
        try:
            x = float(value)
        except OverflowError:
            self.fail(value, where)
        if math.isnan(x):
            if self.finite or self.low is not None or self.high is not None:
                self.fail(value, where)
            return
        if self.finite and math.isinf(x):
            self.fail(value, where)
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            self.fail(value, where)
        if self.high is not None and (x >= self.high if self.high_open else x > self.high):
            self.fail(value, where)


class Str(Schema):
    """A string, one of ``choices`` when given, at most ``max_len`` characters."""

    def __init__(self, choices: Iterable[str] | None = None, max_len: int = 4096):
        self.choices = None if choices is None else tuple(choices)
        self.max_len = max_len
        self.expected = (f"one of {', '.join(map(repr, self.choices))}" if self.choices
                         else f"a string of at most {max_len} characters")

    def check(self, value, where):
        if not isinstance(value, str) or len(value) > self.max_len \
                or (self.choices is not None and value not in self.choices):
            self.fail(value, where)


class Bool(Schema):
    expected = "true or false"

    def check(self, value, where):
        if not isinstance(value, (bool, np.bool_)):
            self.fail(value, where)


class Null(Schema):
    expected = "null (None)"

    def check(self, value, where):
        if value is not None:
            self.fail(value, where)


class Either(Schema):
    """The first of several schemas that fits."""

    def __init__(self, *options: Schema):
        self.options = options
        self.expected = " or ".join(o.expected for o in options)

    def check(self, value, where):
        for option in self.options:
            try:
                option.check(value, where)
                return
            except SchemaError:
                continue
        self.fail(value, where)


def Optional(schema: Schema) -> Schema:  # noqa: N802 (reads like a type, as typing's does)
    """``schema`` or None."""
    return Either(Null(), schema)


class List(Schema):
    """A list (or tuple) of ``min_len`` to ``max_len`` items, each fitting ``item``."""

    def __init__(self, item: Schema, min_len: int = 0, max_len: int | None = None):
        self.item, self.min_len, self.max_len = item, min_len, max_len
        size = f" of {min_len} to {max_len} items" if max_len is not None else (
            f" of at least {min_len} items" if min_len else "")
        self.expected = f"a list{size} of {item.expected}"

    def check(self, value, where):
        if not isinstance(value, (list, tuple)) or len(value) < self.min_len \
                or (self.max_len is not None and len(value) > self.max_len):
            self.fail(value, where)
        for i, item in enumerate(value):
            self.item.check(item, f"{where}[{i}]")


class Record(Schema):
    """A mapping with exactly the named fields (those in ``optional`` may be left out)."""

    def __init__(self, fields: Mapping[str, Schema], optional: Iterable[str] = ()):
        self.fields, self.optional = dict(fields), frozenset(optional)
        self.expected = f"a mapping with the fields {', '.join(self.fields)}"

    def check(self, value, where):
        if not isinstance(value, Mapping):
            self.fail(value, where)
        unknown = [k for k in value if k not in self.fields]
        if unknown:
            self.fail(value, where, f"unknown field {_shown(unknown[0])}; expected the fields "
                                    f"{', '.join(self.fields)}")
        missing = [k for k in self.fields if k not in value and k not in self.optional]
        if missing:
            self.fail(value, where, f"the field {missing[0]!r} is missing")
        for name, schema in self.fields.items():
            if name in value:
                schema.check(value[name], f"{where}.{name}")


class Map(Schema):
    """A mapping of at most ``max_len`` entries whose keys fit ``key`` and values ``value``."""

    def __init__(self, key: Schema, value: Schema, max_len: int | None = None):
        self.key, self.value, self.max_len = key, value, max_len
        self.expected = f"a mapping from {key.expected} to {value.expected}"

    def check(self, value, where):
        if not isinstance(value, Mapping) or (self.max_len is not None
                                              and len(value) > self.max_len):
            self.fail(value, where)
        for k, v in value.items():
            self.key.check(k, f"{where} (a key)")
            self.value.check(v, f"{where}[{k!r}]")


class Array(Schema):
    """A NumPy array or Tensor whose dtype kind is in ``kinds`` (``"f"``: float, ...)."""

    def __init__(self, kinds: str = "biufc", ndim: int | None = None):
        self.kinds, self.ndim = kinds, ndim
        self.expected = "an array" + (f" with {ndim} dimensions" if ndim is not None else "")

    def check(self, value, where):
        data = value._array if isinstance(value, Tensor) else value
        if not isinstance(data, np.ndarray) or data.dtype.kind not in self.kinds \
                or (self.ndim is not None and data.ndim != self.ndim):
            self.fail(value, where)


class Json(Schema):
    """Plain data nested at most ``max_depth`` levels: mappings with str keys, lists,
    strings, numbers (``finite`` ones unless told otherwise), bools and None; arrays too with
    ``arrays``."""

    def __init__(self, max_depth: int = 16, finite: bool = False, arrays: bool = False):
        self.max_depth, self.finite, self.arrays = max_depth, finite, arrays
        self.expected = f"plain data nested at most {max_depth} levels deep"
        self._number = Float(finite=finite)

    def check(self, value, where, depth: int = 0):
        if depth > self.max_depth:
            self.fail(value, where, f"nested more than {self.max_depth} levels deep")
        if value is None or isinstance(value, (str, bool, np.bool_)) or _is_int(value):
            return
        if isinstance(value, (float, np.floating)):
            self._number.check(value, where)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                self.check(item, f"{where}[{i}]", depth + 1)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    self.fail(k, f"{where} (a key)", f"expected string keys, got {_shown(k)}")
                self.check(v, f"{where}[{k!r}]", depth + 1)
        elif not (self.arrays and isinstance(value, (np.ndarray, Tensor))):
            self.fail(value, where, f"expected {self.expected}, got a {type(value).__name__}")


class Like(Schema):
    """The layout of ``example``, the state an object of the same kind produces now: the
    same mapping keys, the same list lengths, the same strings and bools, numbers (finite
    where the example's are) where it has numbers, anything plain where it has None. For
    state saved by an optimizer or scheduler and restored into one built the same way.

    Example:
        >>> check(Like({"lr": 0.1, "betas": (0.9, 0.999)}), {"lr": 0.05, "betas": [0.9, 0.99]},
        ...       "optimizer")
    """

    def __init__(self, example: Any):
        self.example = example
        self.expected = f"the layout of {_shown(example)}"

    def check(self, value, where, example=None, depth: int = 0):
        example = self.example if depth == 0 else example
        if depth > 32:
            self.fail(value, where, "nested more than 32 levels deep")
        if example is None:
            Json(max_depth=4).check(value, where)
        elif isinstance(example, (str, bool, np.bool_)):
            if type(value) is not type(example) or value != example:
                self.fail(value, where, f"expected {example!r}, got {_shown(value)}")
        elif _is_int(example) or isinstance(example, (float, np.floating)):
            finite = math.isfinite(example) if not _is_int(example) else True
            number = Int() if _is_int(example) else Float(finite=finite)
            number.check(value, where)
        elif isinstance(example, (list, tuple)):
            if not isinstance(value, (list, tuple)) or len(value) != len(example):
                self.fail(value, where, f"expected a list of {len(example)} items, got "
                                        f"{_shown(value)}")
            for i, (v, e) in enumerate(zip(value, example)):
                self.check(v, f"{where}[{i}]", e, depth + 1)
        elif isinstance(example, Mapping):
            if not isinstance(value, Mapping) or set(value) != set(example):
                self.fail(value, where, f"expected a mapping with the keys "
                                        f"{', '.join(map(str, example))}, got {_shown(value)}")
            for k, e in example.items():
                self.check(value[k], f"{where}[{k!r}]", e, depth + 1)
        elif isinstance(example, (np.ndarray, Tensor)):
            Array().check(value, where)
        else:
            self.fail(value, where, f"cannot compare with a {type(example).__name__}")


class Satisfies(Schema):
    """A rule given as a function that raises ValueError or TypeError for a bad value."""

    def __init__(self, test: Callable[[Any], Any], expected: str):
        self.test, self.expected = test, expected

    def check(self, value, where):
        try:
            self.test(value)
        except (ValueError, TypeError, KeyError, OverflowError):
            self.fail(value, where)


def check(schema: Schema, value: Any, where: str) -> None:
    """Raise :class:`SchemaError` naming the first field of ``value`` that does not fit
    ``schema`` (``where`` names ``value`` itself, e.g. ``"config"``)."""
    try:
        schema.check(value, where)
    except RecursionError:
        raise SchemaError(where, "nested too deeply to check") from None
