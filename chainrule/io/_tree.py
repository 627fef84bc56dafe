"""Turn a nested Python state into a JSON tree plus a flat dict of arrays, and back.

The tree is plain JSON, so reading it can never run code (unlike pickle). Its grammar:

* ``null``, ``true``/``false``, strings, JSON numbers (ints up to 2**53 in size, finite
  floats) stand for themselves; a JSON array is a Python list;
* every JSON object is a tagged node ``{"type": ..., ...}``:
  ``dict``    ``{"items": [[key, node], ...]}`` (keys: str or int, order kept)
  ``tuple``   ``{"items": [node, ...]}``
  ``int``     ``{"hex": "-0x1f..."}`` for ints too big for every JSON reader (numpy's PCG64
              state holds 128-bit ints)
  ``float``   ``{"value": "nan" | "inf" | "-inf"}`` (JSON has no literal for them)
  ``ndarray`` / ``tensor``  ``{"key": name, "crc32": n}``: the array stored under ``name``
              in the safetensors file, with the CRC-32 of its bytes; each stored array is
              referenced by one node at most (the encoder names every array it meets
              anew), so the arrays rebuilt never add up to more than the file holds
  ``scalar``  ``{"dtype": "float32", "hex": "0000c03f"}``: a NumPy scalar, its
              little-endian bytes
"""
from __future__ import annotations

import re
import zlib
from typing import Any, Callable

import numpy as np

from chainrule.tensor import Tensor

# What safetensors can store, by NumPy dtype name (complex128 and strings it cannot).
STORABLE_DTYPES = frozenset({
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64"})
_JSON_SAFE_INT = 2 ** 53
_HEX_INT = re.compile(r"-?0x[0-9a-f]+\Z")
_SPECIAL_FLOATS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
_RESERVED_KEYS = frozenset({"__metadata__"})


class TreeError(ValueError):
    """A stored tree that does not follow the grammar; ``where`` locates the bad node."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{problem} (at {where})")
        self.where = where
        self.problem = problem


def _where(path: tuple) -> str:
    return "obj" + "".join(f"[{p!r}]" for p in path)


def little_endian(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous little-endian copy when needed (the bytes safetensors expects).
    Not ``np.ascontiguousarray``: it turns 0-d arrays into 1-d ones."""
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and not np.little_endian):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr if arr.flags.c_contiguous else np.array(arr, order="C")


def _checked_dtype(arr: np.ndarray, path: tuple) -> None:
    if arr.dtype.name not in STORABLE_DTYPES:
        raise TypeError(f"cr.save: cannot store an array of dtype {arr.dtype} at {_where(path)}; "
                        f"storable dtypes: {', '.join(sorted(STORABLE_DTYPES))}")


class Encoder:
    """One pass over the state: ``encode(obj)`` returns the JSON tree and fills ``arrays``."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._on_path: set[int] = set()

    def _name_for(self, path: tuple) -> str:
        """A readable, unique entry name: the path joined by dots (``model.fc.weight``), so
        the arrays can also be read by plain safetensors tools."""
        base = ".".join(str(p) for p in path) or "root"
        name, n = base, 1
        while name in self.arrays or name in _RESERVED_KEYS:
            n += 1
            name = f"{base}#{n}"
        return name

    def _array_node(self, kind: str, arr: np.ndarray, path: tuple) -> dict:
        _checked_dtype(arr, path)
        arr = little_endian(arr)
        name = self._name_for(path)
        self.arrays[name] = arr
        return {"type": kind, "key": name, "crc32": zlib.crc32(arr)}

    def encode(self, obj: Any, path: tuple = ()) -> Any:
        if isinstance(obj, Tensor):
            return self._array_node("tensor", obj._array, path)
        if isinstance(obj, np.ndarray):
            return self._array_node("ndarray", obj, path)
        if isinstance(obj, str):  # before np.generic: np.str_ is both
            return str(obj)
        if isinstance(obj, np.generic):
            arr = np.asarray(obj)
            _checked_dtype(arr, path)
            return {"type": "scalar", "dtype": arr.dtype.name,
                    "hex": little_endian(arr).tobytes().hex()}
        if obj is None or isinstance(obj, bool):
            return obj
        if isinstance(obj, int):
            if -_JSON_SAFE_INT <= obj <= _JSON_SAFE_INT:
                return int(obj)
            return {"type": "int", "hex": hex(int(obj))}
        if isinstance(obj, float):
            if np.isfinite(obj):
                return float(obj)
            special = "nan" if obj != obj else ("inf" if obj > 0 else "-inf")
            return {"type": "float", "value": special}
        if isinstance(obj, (list, tuple, dict)):
            return self._container(obj, path)
        hint = (" (for a model or optimizer, save its state_dict())"
                if hasattr(obj, "state_dict") else "")
        raise TypeError(
            f"cr.save: cannot store an object of type {type(obj).__name__} at {_where(path)}"
            f"{hint}; storable: dict, list, tuple, str, int, float, bool, None, NumPy arrays and "
            f"scalars, chainrule Tensors")

    def _container(self, obj, path: tuple) -> Any:
        if id(obj) in self._on_path:
            raise ValueError(f"cr.save: {_where(path)} contains itself (a reference cycle)")
        self._on_path.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = []
                for key, value in obj.items():
                    if isinstance(key, bool) or not isinstance(key, (str, int)):
                        raise TypeError(f"cr.save: dict keys must be str or int, got "
                                        f"{type(key).__name__} key {key!r} at {_where(path)}")
                    items.append([self.encode(key, path), self.encode(value, path + (key,))])
                return {"type": "dict", "items": items}
            encoded = [self.encode(v, path + (i,)) for i, v in enumerate(obj)]
            return encoded if isinstance(obj, list) else {"type": "tuple", "items": encoded}
        finally:
            self._on_path.discard(id(obj))


def encode(obj: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """(JSON tree, arrays by entry name) for ``obj``."""
    encoder = Encoder()
    tree = encoder.encode(obj)
    return tree, encoder.arrays


def decode(tree: Any, fetch: Callable[[str], np.ndarray]) -> Any:
    """Rebuild the state from its tree; ``fetch(name)`` returns a stored array. Anything
    outside the grammar raises :class:`TreeError`, a second reference to one array too (a
    file of one 8 MiB array referenced 1,000 times would otherwise rebuild 8 GiB)."""
    first_use: dict[str, str] = {}

    def fetch_once(name: str, where: str) -> np.ndarray:
        if name in first_use:
            raise TreeError(where, f"refers to array '{name}' a second time (first at "
                                   f"{first_use[name]}); cr.save stores every array once")
        first_use[name] = where
        return fetch(name)

    return _decode(tree, fetch_once, ())


_FIELDS = {"dict": {"items"}, "tuple": {"items"}, "int": {"hex"}, "float": {"value"},
           "ndarray": {"key", "crc32"}, "tensor": {"key", "crc32"}, "scalar": {"dtype", "hex"}}


def _decode(node: Any, fetch: Callable, path: tuple) -> Any:
    where = _where(path)
    if node is None or isinstance(node, (bool, str, float)):
        return node
    if isinstance(node, int):
        return node
    if isinstance(node, list):
        return [_decode(v, fetch, path + (i,)) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        raise TreeError(where, f"unexpected JSON value {node!r}")
    kind = node.get("type")
    if kind not in _FIELDS or set(node) != _FIELDS[kind] | {"type"}:
        raise TreeError(where, f"unknown node {sorted(node)} of type {kind!r}")
    if kind == "dict":
        return _decode_dict(node["items"], fetch, path)
    if kind == "tuple":
        if not isinstance(node["items"], list):
            raise TreeError(where, "tuple items are not a list")
        return tuple(_decode(v, fetch, path + (i,)) for i, v in enumerate(node["items"]))
    if kind == "int":
        if not isinstance(node["hex"], str) or not _HEX_INT.match(node["hex"]):
            raise TreeError(where, f"bad int {node['hex']!r}")
        return int(node["hex"], 16)
    if kind == "float":
        if node["value"] not in _SPECIAL_FLOATS:
            raise TreeError(where, f"bad float {node['value']!r}")
        return _SPECIAL_FLOATS[node["value"]]
    if kind == "scalar":
        return _decode_scalar(node, where)
    return _decode_array(node, kind, fetch, where)


def _decode_dict(items: Any, fetch: Callable, path: tuple) -> dict:
    where = _where(path)
    if not isinstance(items, list):
        raise TreeError(where, "dict items are not a list")
    out: dict = {}
    for item in items:
        if not (isinstance(item, list) and len(item) == 2):
            raise TreeError(where, f"dict item {item!r} is not a [key, value] pair")
        key = _decode(item[0], fetch, path)
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise TreeError(where, f"dict key {key!r} is not a str or int")
        if key in out:
            raise TreeError(where, f"dict key {key!r} appears twice")
        out[key] = _decode(item[1], fetch, path + (key,))
    return out


def _decode_scalar(node: dict, where: str) -> np.generic:
    dtype, hex_bytes = node["dtype"], node["hex"]
    if dtype not in STORABLE_DTYPES or not isinstance(hex_bytes, str):
        raise TreeError(where, f"bad scalar dtype {dtype!r}")
    try:
        raw = bytes.fromhex(hex_bytes)
    except ValueError:
        raise TreeError(where, f"bad scalar bytes {hex_bytes!r}") from None
    little = np.dtype(dtype).newbyteorder("<")
    if len(raw) != little.itemsize:
        raise TreeError(where, f"a {dtype} scalar needs {little.itemsize} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=little).astype(np.dtype(dtype))[0]


def _decode_array(node: dict, kind: str, fetch: Callable, where: str):
    name = node["key"]
    if not isinstance(name, str):
        raise TreeError(where, f"bad array key {name!r}")
    try:
        arr = fetch(name, where)
    except KeyError:
        raise TreeError(where, f"refers to array '{name}', which the file lacks") from None
    if zlib.crc32(little_endian(arr)) != node["crc32"]:
        raise TreeError(where, f"the bytes of array '{name}' fail their CRC-32 check")
    return Tensor(arr) if kind == "tensor" else arr
