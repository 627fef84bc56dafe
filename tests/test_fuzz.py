"""Property-based fuzzing (issue 15) of every reader of outside input: the checkpoint
reader, the IDX and image readers, the CSV reader (as a black box, through the command
line's data loading) and the commands' options.

Each example runs under a memory cap (``RLIMIT_AS``: what the process had mapped, plus
512 MiB) and with tracemalloc measuring its peak, and must end in a result or in the
reader's own one-line error type -- never another exception (a traceback on the command
line), a hang, or an allocation beyond a small multiple of what the input honestly holds.

The number of examples is fixed (``derandomize=True``) so CI is repeatable; set
``CHAINRULE_FUZZ_SCALE=20`` for a twenty times longer campaign.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import cli, train
from chainrule.cli import data as cli_data, models
from chainrule.cli.errors import UserError
from chainrule.cli.images import image_to_mnist
from chainrule.data import IDXError, read_idx
from chainrule.data.idx import IDX_DTYPES
from chainrule.io import CheckpointError

pytest.importorskip("safetensors")
resource = pytest.importorskip("resource")
SCALE = float(os.environ.get("CHAINRULE_FUZZ_SCALE", "1"))
MiB = 2 ** 20
linux_only = pytest.mark.skipif(not os.path.exists("/proc/self/status"),
                                reason="the memory cap reads /proc/self/status")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """One folder per test module for the examples' files (each example rewrites its file:
    a new folder per example would make thousands)."""
    return tmp_path_factory.mktemp("fuzz")


def fuzz(examples: int):
    """Bounded, repeatable examples; no deadline (the machine is shared, timings are noise)."""
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None,
                    derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.filter_too_much])


def _mapped_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


@contextlib.contextmanager
def capped(extra: int = 512 * MiB):
    """Run the body with the address space capped at what is mapped now plus ``extra``, and
    measure its peak traced allocation (``box["peak"]``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _mapped_bytes() + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    box: dict = {}
    tracemalloc.start()
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield box
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        box["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def check_outcome(call, allowed: tuple[type[BaseException], ...]):
    """``call()``'s result, or None when it raised one of the ``allowed`` errors; anything
    else (a MemoryError included) fails the example."""
    try:
        return call()
    except allowed:
        return None


# ------------------------------------------------------------- checkpoint reader
@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    """A small but complete training checkpoint (mlp 2-4-2 with Adam state)."""
    model = models.mlp(2, 2, hidden=(4,))
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    loss = cr.nn.CrossEntropyLoss()(model(cr.randn(3, 2)), cr.tensor([0, 1, 1]))
    loss.backward()
    opt.step()
    path = tmp_path_factory.mktemp("ckpt") / "small.ckpt"
    cr.save(train.checkpoint.make_checkpoint(model, opt, epoch=1, global_step=1,
                                             config={"a": [1, 2.5, None]}), path)
    return path.read_bytes()


def _load_both(path):
    cr.load(path)
    return train.read_checkpoint(path)


def _mutated(data: st.DataObject, raw: bytes) -> bytes:
    """``raw`` with a few random edits: flipped bytes, cuts, insertions, repeats."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "repeat", "truncate"]))
        at = data.draw(st.integers(0, max(0, len(out) - 1)))
        if op == "flip" and out:
            out[at] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del out[at:at + data.draw(st.integers(1, 64))]
        elif op == "insert":
            out[at:at] = data.draw(st.binary(min_size=1, max_size=32))
        elif op == "repeat":
            out[at:at] = out[at:at + data.draw(st.integers(1, 256))] * data.draw(st.integers(2, 50))
        else:
            del out[at:]
    return bytes(out)


@linux_only
@fuzz(150)
@given(data=st.data())
def test_fuzz_checkpoint_bytes(checkpoint_bytes, scratch, data):
    raw = _mutated(data, checkpoint_bytes)
    path = scratch / "x.ckpt"
    path.write_bytes(raw)
    with capped() as mem:
        check_outcome(lambda: _load_both(path), (CheckpointError,))
    assert mem["peak"] <= 32 * len(raw) + 4 * MiB


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                       st.floats(allow_nan=False), st.text(max_size=8))


_ARRAY_NAMES = ["w", "b", "model.w", "x#2"]


def _tree_nodes():
    """Trees in (and near) the grammar cr.save writes, referring to arrays by the names the
    examples store (or to one no example stores)."""
    array_node = st.builds(lambda kind, key, crc: {"type": kind, "key": key, "crc32": crc},
                           st.sampled_from(["ndarray", "tensor"]),
                           st.sampled_from(_ARRAY_NAMES + ["missing"]),
                           st.integers(0, 2 ** 32 - 1))
    special = st.one_of(
        st.builds(lambda v: {"type": "float", "value": v}, st.sampled_from(["nan", "inf", "x"])),
        st.builds(lambda h: {"type": "int", "hex": h}, st.sampled_from(["0x1f", "-0x2", "zz"])),
        st.builds(lambda d, h: {"type": "scalar", "dtype": d, "hex": h},
                  st.sampled_from(["float32", "int64", "bogus"]),
                  st.sampled_from(["0000c03f", "00", ""])))
    return st.recursive(
        st.one_of(_json_leaf, array_node, special),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.builds(lambda items: {"type": "tuple", "items": items},
                      st.lists(children, max_size=4)),
            st.builds(lambda pairs: {"type": "dict", "items": pairs},
                      st.lists(st.tuples(st.one_of(st.text(max_size=6), st.integers(0, 9)),
                                         children).map(list), max_size=4)),
            st.dictionaries(st.text(max_size=6), children, max_size=3)),
        max_leaves=30)


TREES = _tree_nodes()  # built once: building a recursive strategy is the slow part


@linux_only
@fuzz(150)
@given(data=st.data())
def test_fuzz_checkpoint_structure(scratch, data):
    # Stored arrays with header entries that may lie, and a tree that may reference them
    # in any way (twice, never, with a wrong CRC, under a wrong type).
    names = data.draw(st.lists(st.sampled_from(_ARRAY_NAMES), max_size=3, unique=True))
    header: dict = {}
    payload, offset = b"", 0
    for name in names:
        shape = data.draw(st.lists(st.integers(0, 5), max_size=3))
        dtype = data.draw(st.sampled_from(["F32", "F64", "I64", "U8", "BOOL", "F8", "X"]))
        body = data.draw(st.binary(max_size=64))
        lie = data.draw(st.sampled_from([None, [0, 10 ** 12], [5, 2], "x"]))
        header[name] = {"dtype": dtype, "shape": shape if data.draw(st.booleans())
                        else [2 ** 62, 2 ** 62],
                        "data_offsets": lie or [offset, offset + len(body)]}
        payload, offset = payload + body, offset + len(body)
    tree = data.draw(TREES)
    if data.draw(st.booleans()):  # a training checkpoint's outline, with fuzzed fields
        tree = {"type": "dict", "items": [[k, data.draw(TREES)]
                                          for k in ("format", "version", "model", "epoch",
                                                    "global_step", "rng_state", "history",
                                                    "config")]}
        tree["items"][0][1], tree["items"][1][1] = "chainrule.checkpoint", 1
    header["__metadata__"] = {"format": "chainrule", "version": "1",
                              "tree": json.dumps(tree)}
    raw = json.dumps(header).encode()
    path = scratch / "y.ckpt"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)
    with capped() as mem:
        check_outcome(lambda: _load_both(path), (CheckpointError,))
    assert mem["peak"] <= 32 * path.stat().st_size + 4 * MiB


# ------------------------------------------------------------------- IDX reader
@linux_only
@fuzz(150)
@given(data=st.data())
def test_fuzz_idx(scratch, data):
    code = data.draw(st.sampled_from(sorted(IDX_DTYPES) + [0x00, 0x0A, 0xFF]))
    ndim = data.draw(st.integers(0, 5))
    dims = data.draw(st.lists(st.one_of(st.integers(0, 6), st.integers(0, 2 ** 32 - 1)),
                              min_size=ndim, max_size=ndim))
    magic = bytes([0, 0, code, ndim]) if data.draw(st.integers(0, 9)) else \
        data.draw(st.binary(min_size=4, max_size=4))
    declared = int(np.prod(dims, dtype=object)) * (IDX_DTYPES[code].itemsize
                                                   if code in IDX_DTYPES else 1)
    honest = declared if declared <= 4096 else 0
    body = bytes(data.draw(st.sampled_from([0, honest, max(0, honest - 1), honest + 3])))
    raw = magic + b"".join(d.to_bytes(4, "big") for d in dims) + body
    raw = raw[:data.draw(st.integers(0, len(raw)))] if data.draw(st.integers(0, 4)) == 0 else raw
    compressed = data.draw(st.booleans())
    if compressed:
        raw = gzip.compress(raw)
        if data.draw(st.booleans()):  # damage the stream: cut it, or add a bomb after it
            raw = data.draw(st.sampled_from([raw[:-5], raw + gzip.compress(bytes(2 * MiB))]))
    path = scratch / "z.idx"
    path.write_bytes(raw)
    with capped() as mem:
        result = check_outcome(lambda: read_idx(path), (IDXError,))
    if result is not None:
        assert result.nbytes <= (len(raw) * 1032 if compressed else len(raw))
    assert mem["peak"] <= 2 * (len(raw) * (1032 if compressed else 1)) + 4 * MiB


# ------------------------------------------------------------------ image reader
def _png(width: int, height: int, depth: int, color: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def real_images() -> list[bytes]:
    """Small genuine images in several formats, to mutate."""
    from PIL import Image
    rng = np.random.default_rng(0)
    out = []
    for fmt, mode in (("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"),
                      ("BMP", "RGB"), ("TIFF", "L")):
        pixels = rng.integers(0, 255, (12, 9, 4 if mode == "RGBA" else 3), dtype=np.uint8)
        channels = pixels[..., :4] if mode == "RGBA" else pixels[..., :3]
        image = Image.fromarray(channels).convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        out.append(buffer.getvalue())
    return out


@linux_only
@fuzz(100)
@given(data=st.data())
def test_fuzz_images(real_images, scratch, data):
    if data.draw(st.booleans()):
        raw = _mutated(data, data.draw(st.sampled_from(real_images)))
    else:
        side = st.one_of(st.integers(0, 64), st.integers(0, 2 ** 31 - 1))
        width, height = data.draw(side), data.draw(side)
        rows = bytes(data.draw(st.integers(0, 4096)))
        idat = (zlib.compress(rows) if data.draw(st.booleans())
                else data.draw(st.binary(max_size=64)))
        raw = _png(width, height, data.draw(st.sampled_from([1, 8, 16, 3])),
                   data.draw(st.sampled_from([0, 2, 3, 4, 6, 5])), idat)
    path = scratch / data.draw(st.sampled_from(["i.png", "i.jpg", "i.pgm"]))
    path.write_bytes(raw)
    with capped() as mem:
        result = check_outcome(lambda: image_to_mnist(str(path)), (UserError,))
    if result is not None:
        assert result.shape == (28, 28) and np.isfinite(result).all()
    assert mem["peak"] <= 64 * MiB  # at most WORKING_SIDE^2 pixels reach float64


# ------------------------------------------------------ the CSV reader, black box
_cell = st.one_of(st.integers(-5, 5).map(str), st.floats(allow_nan=True).map(repr),
                  st.sampled_from(["", "NA", "nan", "inf", "-inf", "1e999", "1" + "0" * 30,
                                   "a", "b", '"x,y"', " 3 ", "\ufeff1", "1_000"]))


@linux_only
@fuzz(60)
@given(rows=st.lists(st.lists(_cell, min_size=1, max_size=4), min_size=0, max_size=25),
       header=st.booleans(), bom=st.booleans())
def test_fuzz_csv_black_box(scratch, rows, header, bom):
    text = ("\ufeff" if bom else "") + ("f1,f2,label\n" if header else "")
    text += "\n".join(",".join(r) for r in rows) + "\n"
    path = scratch / "d.csv"
    path.write_text(text, encoding="utf-8")
    spec = {"name": "csv", "path": str(path), "test_split": 0.2, "val_split": 0.2,
            "split_seed": 0}
    with capped() as mem:
        check_outcome(lambda: cli_data.prepare(spec), (ValueError,))  # UserError is one
    assert mem["peak"] <= 64 * MiB


# ------------------------------------------------------------- the commands' options
_number_text = st.one_of(st.integers(-3, 40).map(str), st.integers(-2 ** 80, 2 ** 80).map(str),
                         st.floats().map(repr), st.sampled_from(["", "x", "1e8", "nan", "-0"]))
_sizes_text = st.one_of(
    st.lists(st.integers(-2, 12), min_size=1, max_size=4).map(lambda v: ",".join(map(str, v))),
    st.lists(st.integers(0, 10 ** 12), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
    st.sampled_from(["", ",", "a,b", "[2, 3]", "[[2]]", "2.5,3", "0x10"]))


def _options(pairs: dict) -> st.SearchStrategy[list[str]]:
    """Any subset of the options, each with a drawn value (a flag when its value is None)."""
    def build(chosen):
        argv = []
        for name, value in chosen:
            argv += [name] if value is None else [name, value]
        return argv
    items = [st.tuples(st.just(name), values) if values is not None
             else st.tuples(st.just(name), st.none()) for name, values in pairs.items()]
    return st.lists(st.one_of(*items), max_size=5).map(build)


def command_outcome(capsys, argv: list[str], statuses=(0, 1, 2)) -> int:
    """Run the command in-process under the memory cap; its status must be a planned one and
    any error exactly one line (never the guard's 'internal error')."""
    with capped(1024 * MiB):
        status = cli.main(argv)
    err = capsys.readouterr().err
    assert status in statuses, (argv, status, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    # one error line; other lines (one-line warnings, why training stopped) may come too
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == (1 if status else 0), (argv, err)
    return status


@linux_only
@fuzz(60)
@given(argv=_options({"--layers": _sizes_text, "--activations": st.sampled_from(
    ["relu", "none", "tanh,sigmoid", "bogus", ""]), "--input-shape": _sizes_text,
    "--batch-size": _number_text, "--dtype": st.sampled_from(["float32", "int64", "complex128",
                                                              "bogus", "U3"]),
    "--format": st.sampled_from(["json", "text", "xml"])}))
def test_fuzz_summary_options(capsys, argv):
    command_outcome(capsys, ["summary", *argv], statuses=(0, 2))


@linux_only
@fuzz(40)
@given(argv=_options({"--layers": _sizes_text, "--activations": st.sampled_from(
    ["sigmoid", "none", "tanh,sigmoid", "bogus"]), "--input": _number_text,
    "--target": _number_text, "--loss": st.sampled_from(["mse", "ce", "bce", "x"]),
    "--lr": _number_text, "--steps": _number_text, "--precision": _number_text,
    "--seed": _number_text, "--weights": st.sampled_from(["[[[1]]]", "{", "[]", '{"x": 1}']),
    "--example": st.sampled_from(["2-3-1", "9"]), "--format": st.sampled_from(
        ["text", "json", "markdown"])}))
def test_fuzz_explain_options(capsys, argv):
    command_outcome(capsys, ["explain", *argv])


@linux_only
@fuzz(10)
@given(argv=_options({"--hidden": _sizes_text, "--lr": _number_text,
                      "--batch-size": _number_text, "--dropout": _number_text,
                      "--optimizer": st.sampled_from(["sgd", "adam", "adamw", "x"]),
                      "--momentum": _number_text, "--weight-decay": _number_text,
                      "--val-split": _number_text, "--patience": _number_text,
                      "--seed": _number_text, "--model": st.sampled_from(["mlp", "cnn", "lstm"]),
                      "--lr-schedule": st.sampled_from(["cosine", "onecycle", "constant"]),
                      "--activation": st.sampled_from(["relu", "gelu", "tanh"]),
                      "--batch-norm": None, "--data": st.sampled_from(["xor", "sine"]),
                      "--task": st.sampled_from(["classification", "regression", "x"]),
                      "--loss": st.sampled_from(["mse", "l1", "huber", "x"]),
                      "--missing": st.sampled_from(["drop", "mean", "x"])}),
       out=st.integers(0, 10 ** 9))
def test_fuzz_train_options(capsys, scratch, argv, out):
    folder = scratch / f"run{out}"
    command_outcome(capsys, ["train", "--data", "xor", "--epochs", "1", "--quiet",
                             "--out", str(folder), *argv])


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """Finished xor (classes) and sine (regression) mlp runs and a hand-made char-lstm
    checkpoint for sample."""
    folder = tmp_path_factory.mktemp("fuzzruns")
    for data, name in (("xor", "mlp"), ("sine", "regression")):
        assert cli.main(["train", "--data", data, "--epochs", "1", "--hidden", "4", "--quiet",
                         "--out", str(folder / name)]) == 0
    vocab = list("abc \n")
    model = models.lstm(len(vocab), embedding_dim=3, hidden_size=4)
    config = {"model": {"kind": "lstm", "vocab_size": 5, "embedding_dim": 3, "hidden_size": 4,
                        "num_layers": 1, "dropout": 0.0},
              "data": {"name": "shakespeare", "seq_len": 4, "windows": 10, "test_windows": 10,
                       "class_names": vocab,
                       "preprocessing": {"kind": "text", "vocab": vocab, "input_shape": [4]}}}
    cr.save(train.checkpoint.make_checkpoint(model, config=config), folder / "lstm.ckpt")
    return folder


@linux_only
@fuzz(25)
@given(command=st.sampled_from(["evaluate", "predict", "sample"]),
       run=st.sampled_from(["mlp", "regression"]),
       argv=_options({"--batch-size": _number_text, "--data": st.sampled_from(
           ["xor", "moons", "sonar", "sine", "diabetes", "nope", "x.csv"]), "--prompt": st.text(max_size=5),
           "--length": st.sampled_from(["1", "7", "0", "-2", "10000000", "x"]),
           "--temperature": _number_text, "--seed": _number_text}),
       rows=st.lists(st.lists(_cell, min_size=1, max_size=3), max_size=3))
def test_fuzz_run_commands(capsys, trained_runs, scratch, command, run, argv, rows):
    folder = scratch
    (folder / "x.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    target = trained_runs / ("lstm.ckpt" if command == "sample" else run)
    if command == "predict":  # predict takes no options: the rows are the fuzz
        argv = [str(folder / "x.csv")]
    old = os.getcwd()
    os.chdir(folder)
    try:
        command_outcome(capsys, [command, str(target), *argv])
    finally:
        os.chdir(old)
