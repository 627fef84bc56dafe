"""Reader for the IDX format (MNIST and friends), plain or gzip-compressed.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (TT the element type, DD the number of
dimensions), then DD big-endian uint32 dimension sizes, then the elements, big-endian, in C
order. Element types (LeCun's spec): 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64. Compression is recognised from the content (the gzip magic
``1f 8b``), not from the file name.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file that is not a well-formed IDX file."""


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: no such file: {path}")
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise IDXError(f"read_idx: {path} is gzip-compressed but the stream is truncated or "
                       f"corrupt ({err})") from err


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX content already in memory (uncompressed); ``name`` is used in errors."""
    if len(raw) < 4:
        raise IDXError(f"read_idx: {name} is truncated: expected at least 4 header bytes "
                       f"(the magic number), found {len(raw)}")
    if raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"read_idx: {name} has a wrong magic number: expected the first two "
                       f"bytes to be 0x00 0x00, found 0x{raw[0]:02X} 0x{raw[1]:02X} "
                       f"(magic 0x{raw[:4].hex().upper()})")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXError(f"read_idx: {name} has a wrong magic number 0x{raw[:4].hex().upper()}: "
                       f"expected a type code in {{{valid}}}, found 0x{code:02X}")
    if ndim == 0:
        raise IDXError(f"read_idx: {name} has a wrong magic number 0x{raw[:4].hex().upper()}: "
                       "expected at least 1 dimension, found 0")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"read_idx: {name} is truncated: expected a {header}-byte header for "
                       f"{ndim} dimensions, found {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow on absurd headers
    found = len(raw) - header
    if found < expected:
        raise IDXError(f"read_idx: {name} is truncated: the header says shape {shape} of "
                       f"{dtype.newbyteorder('=').name}, i.e. {expected} data bytes, but found "
                       f"{found}")
    if found > expected:
        raise IDXError(f"read_idx: {name} has a size mismatch: the header says shape {shape} "
                       f"of {dtype.newbyteorder('=').name}, i.e. {expected} data bytes, but "
                       f"found {found} ({found - expected} extra)")
    data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    # Native byte order and a writeable copy (frombuffer views read-only bytes).
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian ndarray of its shape.

    Raises FileNotFoundError for a missing file and IDXError (a ValueError) naming the file,
    the expected and the found values for a wrong magic number, a truncated file, or extra
    bytes after the data.

    Example:
        >>> from chainrule.data import datasets
        >>> read_idx(datasets.data_path("mnist/t10k-labels-idx1-ubyte.gz")).shape
        (10000,)
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip when ``compress``, or when None and the name ends
    in ``.gz``). The array's dtype must be one the format knows."""
    path = Path(path)
    array = np.asarray(array)
    native = {d.newbyteorder("="): c for c, d in IDX_DTYPES.items()}
    code = native.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code; use one of "
                        f"{sorted(d.name for d in native)}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"write_idx: the array needs 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body = header + array.astype(IDX_DTYPES[code], copy=False).tobytes(order="C")
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(body) if compress else body)


def load_idx_pair(images_path: str | os.PathLike, labels_path: str | os.PathLike
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and a labels file and check they describe the same samples.

    Returns ``(images, labels)`` with labels as int64 (when integral) of shape ``(N,)``.

    Example:
        >>> from chainrule.data import datasets
        >>> x, y = load_idx_pair(datasets.data_path("mnist/t10k-images-idx3-ubyte.gz"),
        ...                      datasets.data_path("mnist/t10k-labels-idx1-ubyte.gz"))
        >>> x.shape, y.shape
        ((10000, 28, 28), (10000,))
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if labels.ndim != 1:
        raise IDXError(f"load_idx_pair: {labels_path} should hold one label per sample "
                       f"(1 dimension), found shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise IDXError(f"load_idx_pair: {images_path} has {images.shape[0]} samples but "
                       f"{labels_path} has {labels.shape[0]} labels; expected equal counts")
    if labels.dtype.kind in "iu":
        labels = labels.astype(np.int64)
    return images, labels
