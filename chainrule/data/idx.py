"""Reader for the IDX format (MNIST and friends), plain or gzip-compressed.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (TT the element type, DD the number of
dimensions), then DD big-endian uint32 dimension sizes, then the elements, big-endian, in C
order. Element types (LeCun's spec): 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64. Compression is recognised from the content (the gzip magic
``1f 8b``), not from the file name.
"""
from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from chainrule._safe_open import open_regular

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
# Deflate packs at most 1032 bytes into one (258-byte matches of 2 bits each), so a gzip file
# of C bytes cannot honestly hold more than this many times C: a header that promises more
# is refused before anything is allocated.
MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20


class IDXError(ValueError):
    """A file that is not a well-formed IDX file."""


class _Stream:
    """The bytes of an IDX file, read in order (inflated on the fly for gzip), that stops at
    the size the header promises instead of inflating a whole file first."""

    def __init__(self, raw: BinaryIO, name: str, size: int):
        self.name, self.size = name, size
        self.compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        self.file = gzip.GzipFile(fileobj=raw, mode="rb") if self.compressed else raw
        self.position = 0

    def _failed(self, err: BaseException) -> IDXError:
        return IDXError(f"read_idx: {self.name} is gzip-compressed but the stream is truncated "
                        f"or corrupt ({err})")

    def read(self, n: int) -> bytes:
        try:
            data = self.file.read(n)
        except (EOFError, OSError, zlib.error) as err:
            raise self._failed(err) from None
        self.position += len(data)
        return data

    def read_into(self, buffer: np.ndarray) -> int:
        """Fill ``buffer`` (uint8) as far as the data goes; the number of bytes read."""
        view, filled = memoryview(buffer), 0
        while filled < len(view):
            try:
                n = self.file.readinto(view[filled:filled + _CHUNK])
            except (EOFError, OSError, zlib.error) as err:
                raise self._failed(err) from None
            if not n:
                break
            filled += n
        self.position += filled
        return filled

    def most_data_possible(self, header: int) -> int:
        """The most data bytes that can follow a ``header``-byte header: the rest of a plain
        file, at most MAX_DEFLATE_RATIO times the size of a compressed one."""
        return (self.size * MAX_DEFLATE_RATIO if self.compressed else self.size) - header


def _parse(stream: _Stream) -> np.ndarray:
    """Check the header, then read exactly the data it promises (never more)."""
    name = stream.name
    raw = stream.read(4)
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
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise IDXError(f"read_idx: {name} is truncated: expected a {header}-byte header for "
                       f"{ndim} dimensions, found {4 + len(dims)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow on absurd headers
    if math.prod(d for d in shape if d) * dtype.itemsize >= 2 ** 63:  # even with a 0 among them
        raise IDXError(f"read_idx: {name} has a header with dimensions {shape} too large for "
                       f"any array")
    what = f"the header says shape {shape} of {dtype.newbyteorder('=').name}, i.e. {expected} " \
           f"data bytes"
    if not stream.compressed:  # a plain file's size tells everything before any reading
        found = stream.size - header
        if found < expected:
            raise IDXError(f"read_idx: {name} is truncated: {what}, but found {found}")
        if found > expected:
            raise IDXError(f"read_idx: {name} has a size mismatch: {what}, but found {found} "
                           f"({found - expected} extra)")
    elif expected > stream.most_data_possible(header):
        raise IDXError(f"read_idx: {name} cannot hold what its header promises: {what}, but a "
                       f"gzip file of {stream.size} bytes inflates to at most "
                       f"{stream.size * MAX_DEFLATE_RATIO} (deflate packs at most "
                       f"{MAX_DEFLATE_RATIO}:1)")
    data = np.empty(expected, dtype=np.uint8)
    found = stream.read_into(data)
    if found < expected:
        raise IDXError(f"read_idx: {name} is truncated: {what}, but found {found}")
    extra = len(stream.read(_CHUNK))  # stop at the promised size: look one chunk further only
    if extra:
        more = "at least " if extra == _CHUNK else ""
        raise IDXError(f"read_idx: {name} has a size mismatch: {what}, but found "
                       f"{more}{expected + extra} ({more}{extra} extra)")
    values = data.view(dtype)
    if not values.dtype.isnative:  # in place: no second copy of a large file
        values = values.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return values.reshape(shape)


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX content already in memory (plain or gzip); ``name`` is used in errors."""
    return _parse(_Stream(io.BytesIO(raw), name, len(raw)))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian ndarray of its shape.

    Raises FileNotFoundError for a missing file, NotARegularFileError (a ValueError) for a
    FIFO or a device, and IDXError (a ValueError) naming the file, the expected and the
    found values for a wrong magic number, a truncated file, or extra bytes after the data.
    The header is checked before the data is read, and a compressed file is inflated only
    up to the size its header promises, so a small file cannot make the reader allocate more
    than its header honestly describes (a "decompression bomb" is refused).

    Example:
        >>> from chainrule.data import datasets
        >>> read_idx(datasets.data_path("mnist/t10k-labels-idx1-ubyte.gz")).shape
        (10000,)
    """
    with open_regular(path, "read_idx") as f:
        return _parse(_Stream(f, os.fspath(path), os.fstat(f.fileno()).st_size))


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
