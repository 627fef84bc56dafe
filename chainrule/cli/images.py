"""Reading one image file the way MNIST digits were made, for ``chainrule predict``.

    >>> pixels = image_to_mnist("digit.png")        # doctest: +SKIP
    >>> pixels.shape, pixels.max()                   # doctest: +SKIP
    ((28, 28), 255.0)
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from chainrule._safe_open import NotARegularFileError, open_regular
from chainrule.cli.errors import UserError

__all__ = ["IMAGE_SUFFIXES", "image_to_mnist"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".bmp", ".gif", ".tif", ".tiff")
# An image's declared size is checked before it is decoded: a 69-byte PNG may declare
# 50000 x 50000 pixels, and a 150 kB one decodes to 12000 x 12000. 50 megapixels admits any
# phone photo (48 MP) and keeps decoding under ~250 MB (RGBA, one byte per channel).
MAX_IMAGE_PIXELS = 50_000_000
# Decoded images are shrunk (area averaging) to at most this side before the float64
# processing, which needs 32 bytes per pixel; a digit needs far fewer pixels than this.
WORKING_SIDE = 1024


def _check_declared_size(width: int, height: int, path: str) -> None:
    if width < 1 or height < 1:
        raise UserError(f"cannot read image {path!r}: it declares {width} x {height} pixels")
    if width * height > MAX_IMAGE_PIXELS:
        raise UserError(f"image {path!r} declares {width} x {height} pixels "
                        f"({width * height / 1e6:.0f} megapixels), more than the "
                        f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels chainrule decodes; scale it "
                        f"down first")


def _read_pgm(path: str) -> np.ndarray:
    """Binary (P5) or text (P2) PGM, for when Pillow is not installed."""
    with open_regular(path, "image") as f:
        raw = f.read()
    tokens, pos = [], 0
    while len(tokens) < 4 and pos < len(raw):  # magic, width, height, maxval (# comments)
        while pos < len(raw) and raw[pos:pos + 1].isspace():
            pos += 1
        if raw[pos:pos + 1] == b"#":
            end = raw.find(b"\n", pos)
            pos = len(raw) if end < 0 else end + 1
            continue
        start = pos
        while pos < len(raw) and not raw[pos:pos + 1].isspace():
            pos += 1
        tokens.append(raw[start:pos])
    if len(tokens) < 4 or not all(t.isdigit() for t in tokens[1:]):
        raise UserError(f"cannot read image {path!r}: not a complete PGM header")
    magic, w, h, maxval = tokens[0], int(tokens[1]), int(tokens[2]), int(tokens[3])
    _check_declared_size(w, h, path)
    if not 0 < maxval < 65536:
        raise UserError(f"cannot read image {path!r}: PGM maxval must be 1..65535, got {maxval}")
    if magic == b"P5":
        dtype = np.uint8 if maxval < 256 else np.dtype(">u2")
        body = raw[pos + 1:pos + 1 + w * h * np.dtype(dtype).itemsize]
        img = np.frombuffer(body, dtype=dtype, count=len(body) // np.dtype(dtype).itemsize)
    elif magic == b"P2":
        img = np.array(raw[pos:].split()[:w * h], dtype=np.int64)
    else:
        raise UserError(f"{path}: not a PGM image (magic {magic!r})")
    if img.size != w * h:
        raise UserError(f"{path}: the PGM file is truncated")
    return img.reshape(h, w).astype(np.float64) / maxval


def _decode_with_pillow(Image, path: str) -> np.ndarray:
    """RGBA in [0, 1], at most WORKING_SIDE on a side, after checking the declared size."""
    with open_regular(path, "image") as f, warnings.catch_warnings():
        # Pillow warns (on stderr) about sizes we refuse anyway and about damage it skips
        # (a TIFF tag past the end): the decoded image or the error says all there is to say.
        warnings.simplefilter("ignore")
        try:
            im = Image.open(f)
        except Image.DecompressionBombError as e:
            raise UserError(f"image {path!r} declares more pixels than chainrule decodes "
                            f"(at most {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels): {e}") from None
        with im:
            _check_declared_size(*im.size, path)
            im = im.convert("RGBA")
            im.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.BOX)
            return np.asarray(im, dtype=np.float64) / 255.0


def _read_image(path: str) -> np.ndarray:
    """Grayscale in [0, 1] (H, W); transparent pixels count as white paper."""
    try:
        from PIL import Image
    except ImportError:  # matplotlib reads images through Pillow too: only PGM is left
        Image = None
    try:
        if Image is not None:
            rgba = _decode_with_pillow(Image, path)
        elif path.lower().endswith(".pgm"):
            return _read_pgm(path)
        else:
            raise UserError(f"reading {path!r} needs Pillow (pip install pillow); without it "
                            f"only PGM images can be read")
    except (OSError, ValueError, SyntaxError) as e:
        if isinstance(e, (UserError, NotARegularFileError)):
            raise
        raise UserError(f"cannot read image {path!r}: {e}") from None
    except MemoryError:
        raise UserError(f"cannot read image {path!r}: not enough memory to decode it") from None
    rgb, alpha = rgba[..., :3], rgba[..., 3:4]
    gray = (rgb @ np.array([0.299, 0.587, 0.114]))[..., None]
    return (gray * alpha + (1.0 - alpha))[..., 0]


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-averaging resize (each output pixel is the mean of the input area it covers),
    which neither aliases when shrinking nor blurs more than needed."""
    def weights(n_in: int, n_out: int) -> np.ndarray:
        edges = np.linspace(0, n_in, n_out + 1)
        w = np.zeros((n_out, n_in))
        for i in range(n_out):
            lo, hi = edges[i], edges[i + 1]
            for j in range(int(np.floor(lo)), int(np.ceil(hi))):
                w[i, j] = min(hi, j + 1) - max(lo, j)
        return w / w.sum(axis=1, keepdims=True)
    return weights(img.shape[0], height) @ img @ weights(img.shape[1], width).T


def image_to_mnist(path: str, side: int = 28) -> np.ndarray:
    """One image file -> an MNIST-like ``(side, side)`` array of 0..255 values (white digit on
    black): grayscale, inverted when the background is light, cropped to the ink, scaled so
    the longer side is 20/28 of the frame, and centred by its centre of mass, as MNIST was
    made (LeCun et al.)."""
    if not os.path.exists(path):
        raise UserError(f"image file {path!r} does not exist")
    img = _read_image(path)

    def border(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])

    if np.median(border(img)) > 0.5:  # dark ink on light paper: make it light on dark
        img = 1.0 - img
    img = np.clip(img - np.median(border(img)), 0.0, 1.0)  # the paper's tint becomes black
    ink = img > 0.1 * img.max() if img.max() > 0 else np.zeros_like(img, dtype=bool)
    if not ink.any():
        raise UserError(f"{path}: the image is blank (no strokes found)")
    rows, cols = np.where(ink.any(axis=1))[0], np.where(ink.any(axis=0))[0]
    crop = img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    box = round(side * 20 / 28)
    scale = box / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    digit = _resize(crop, h, w)
    frame = np.zeros((side, side))
    # Centre of mass to the frame's centre (clamped so the digit stays inside).
    cy, cx = (np.indices(digit.shape) * digit).reshape(2, -1).sum(1) / max(digit.sum(), 1e-12)
    top = int(np.clip(round(side / 2 - cy), 0, side - h))
    left = int(np.clip(round(side / 2 - cx), 0, side - w))
    frame[top:top + h, left:left + w] = digit
    return np.clip(frame / max(frame.max(), 1e-12), 0, 1) * 255.0
