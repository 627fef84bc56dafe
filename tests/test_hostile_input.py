"""Hostile and messy input (issue 15, parts 1 and 2), the campaign in miniature: crafted
checkpoints, decompression bombs and absurd sizes end in one line naming the input and the
limit, never in a traceback or an allocation beyond what the input honestly holds.

Memory is measured with tracemalloc (NumPy reports its buffers to it), so "did not
allocate" is a number, not a hope; the few cases that need a hard cap run in a subprocess
under ``RLIMIT_AS``.
"""
from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, train
from chainrule.cli import models
from chainrule.cli.images import image_to_mnist
from chainrule.cli.errors import UserError
from chainrule.data import IDXError, read_idx
from chainrule.io import MAX_HEADER_BYTES, CheckpointError

pytest.importorskip("safetensors")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 2 ** 20


# ------------------------------------------------------------------ helpers
@contextlib.contextmanager
def peak_memory():
    """Yields a dict whose "peak" is the most bytes Python and NumPy held at once inside."""
    tracemalloc.start()
    box: dict = {}
    try:
        yield box
    finally:
        box["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()






def safetensors_file(path, header, data: bytes = b"") -> None:
    """A file with the safetensors layout around any header (a dict, or raw JSON bytes)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def crafted_checkpoint(path, tree, arrays: dict[str, np.ndarray] | None = None,
                       tree_text: str | None = None) -> None:
    """A chainrule file with any tree (what cr.save would never write)."""
    header: dict = {"__metadata__": {"format": "chainrule", "version": "1", "writer": "test",
                                     "tree": tree_text if tree_text is not None
                                     else json.dumps(tree)}}
    data, offset = b"", 0
    for name, a in (arrays or {}).items():
        b = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        data, offset = data + b, offset + len(b)
    safetensors_file(path, header, data)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(width: int, height: int, idat: bytes = b"") -> bytes:
    """A grayscale PNG declaring width x height, with ``idat`` (deflated rows) as its data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def png_of_zeros(side: int) -> bytes:
    """A small PNG that honestly decodes to side x side black pixels."""
    deflate = zlib.compressobj(9)
    row = b"\x00" + bytes(side)  # filter byte 0, then the pixels
    return png_bytes(side, side, b"".join(deflate.compress(row) for _ in range(side))
                     + deflate.flush())


def gzip_bytes(*parts: bytes) -> bytes:
    """The parts as one gzip stream, compressed as they come (never joined in memory)."""
    deflate = zlib.compressobj(9, wbits=31)
    return b"".join([deflate.compress(p) for p in parts] + [deflate.flush()])


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A finished 2-epoch moons run (mlp 2-8-2) made in-process; tests copy from it."""
    run = tmp_path_factory.mktemp("hostile") / "run"
    assert cli.main(["train", "--data", "moons", "--epochs", "2", "--hidden", "8",
                     "--out", str(run), "--quiet"]) == 0
    return run


def edited_checkpoint(small_run, path, edit) -> None:
    """small_run's last.ckpt with ``edit(ckpt)`` applied, saved by cr.save at ``path``."""
    ckpt = cr.load(small_run / "last.ckpt")
    edit(ckpt)
    cr.save(ckpt, path)


# ---------------------------------------------- 1. memory bounded by the input
def test_one_array_referenced_many_times_is_refused_without_rebuilding_it(tmp_path):
    # The campaign's file: one 8 MiB array referenced 1,000 times (8 GiB once rebuilt).
    # Here 1 MiB x 1,000: the reader must refuse before the second copy.
    array = np.zeros(MiB // 4, np.float32)
    crc = zlib.crc32(array.tobytes())
    node = {"type": "ndarray", "key": "w", "crc32": crc}
    path = tmp_path / "many.ckpt"
    crafted_checkpoint(path, [node] * 1000, {"w": array})
    with peak_memory() as mem, pytest.raises(CheckpointError, match="refers to array 'w' a "
                                                                     "second time"):
        cr.load(path)
    assert mem["peak"] < 4 * path.stat().st_size


def test_a_config_asking_for_a_larger_model_than_stored_is_refused_before_building(small_run,
                                                                                   tmp_path,
                                                                                   monkeypatch,
                                                                                   command_line):
    def bigger(ckpt):
        ckpt["config"]["model"]["hidden"] = [20000, 20000]
    edited_checkpoint(small_run, tmp_path / "big.ckpt", bigger)
    assert (tmp_path / "big.ckpt").stat().st_size < 20_000
    with peak_memory() as mem:
        status, err = command_line.run("evaluate", tmp_path / "big.ckpt")
    assert status == 1
    command_line.one_line(err, "big.ckpt", "does not hold the model its config describes",
             "400,120,002 values", "file stores 42")
    assert mem["peak"] < 32 * MiB  # the [20000, 20000] model would take 1.6 GB


@pytest.mark.parametrize("hidden, fragment", [
    ([10 ** 12], "config.model.hidden[0]: expected an integer from 1 to 2147483647"),
    ([2 ** 64, 3], "config.model.hidden[0]: expected an integer from 1 to 2147483647"),
    ("8", "config.model.hidden: expected a list"),
    ([8.0], "config.model.hidden[0]"),
])
def test_config_sizes_out_of_range_are_refused(small_run, tmp_path, hidden, fragment, command_line):
    def edit(ckpt):
        ckpt["config"]["model"]["hidden"] = hidden
    edited_checkpoint(small_run, tmp_path / "odd.ckpt", edit)
    status, err = command_line.run("evaluate", tmp_path / "odd.ckpt")
    assert status == 1
    command_line.one_line(err, "odd.ckpt", fragment)


def test_state_size_counts_what_the_builders_allocate():
    """models.state_size is what load_run compares with the file: it must equal the real
    state_dict size of every model kind and option."""
    configs = [{"kind": "mlp", "in_features": 5, outputs: 3, "hidden": h, "activation": "relu",
                "dropout": d, "batch_norm": b}
               for outputs in ("out_features", "num_classes")  # num_classes: older runs
               for h in ([], [4], [4, 6]) for d in (0.0, 0.5) for b in (False, True)]
    configs += [dict(kind="cnn", in_channels=c, num_classes=4, image_size=s, activation="tanh",
                     dropout=0.0, batch_norm=b) for c in (1, 3) for s in (12, 28, 29)
                for b in (False, True)]
    configs += [dict(kind="lstm", vocab_size=7, embedding_dim=e, hidden_size=4, num_layers=n,
                     dropout=0.0) for e in (3, 5) for n in (1, 3)]
    for config in configs:
        state = models.build_model(config).state_dict()
        assert models.state_size(config) == sum(v.numel() for v in state.values()), config


def test_png_declaring_50000_squared_pixels_is_refused_from_its_header(tmp_path, image_model,
                                                                       command_line):
    (tmp_path / "bomb.png").write_bytes(png_bytes(50000, 50000))
    assert (tmp_path / "bomb.png").stat().st_size < 100
    with peak_memory() as mem:
        status, err = command_line.run("predict", image_model, tmp_path / "bomb.png")
    assert status == 1
    command_line.one_line(err, "bomb.png", "declares more pixels than chainrule decodes",
                          "50 megapixels")
    assert mem["peak"] < 16 * MiB


@pytest.mark.parametrize("side", [9400, 12000])
def test_small_png_that_decodes_to_a_huge_image_is_refused(tmp_path, side):
    path = tmp_path / f"zeros{side}.png"
    path.write_bytes(png_of_zeros(side))
    assert path.stat().st_size < 200_000
    with pytest.raises(UserError, match=rf"declares {side} x {side} pixels .* more than the 50 "
                                        rf"megapixels"):
        image_to_mnist(str(path))


def test_large_but_honest_image_is_shrunk_before_float_processing(tmp_path):
    from PIL import Image
    page = np.full((3000, 4000), 255, np.uint8)
    page[1000:2000, 1800:2300] = 0  # a dark bar on white paper
    Image.fromarray(page).save(tmp_path / "photo.png")
    with peak_memory() as mem:
        digit = image_to_mnist(str(tmp_path / "photo.png"))
    assert digit.shape == (28, 28) and digit.max() == pytest.approx(255)
    # 12 MP as float64 RGBA would be 384 MB; at most WORKING_SIDE^2 pixels are.
    assert mem["peak"] < 64 * MiB


def test_gzip_idx_inflating_far_beyond_its_header_stops_at_the_promised_size(tmp_path):
    # header: uint8, shape (1,); then 200 MiB of zeros (the campaign's had 6 GiB)
    zeros = bytes(MiB)
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip_bytes(bytes([0, 0, 8, 1]) + (1).to_bytes(4, "big"), *[zeros] * 200))
    assert path.stat().st_size < 300_000
    with peak_memory() as mem, pytest.raises(IDXError, match=r"size mismatch: the header says "
                                                             r"shape \(1,\).*at least"):
        read_idx(path)
    assert mem["peak"] < 8 * MiB


def test_gzip_idx_whose_header_promises_more_than_deflate_can_hold(tmp_path):
    header = bytes([0, 0, 8, 2]) + (10 ** 6).to_bytes(4, "big") * 2
    path = tmp_path / "liar-idx2-ubyte.gz"
    path.write_bytes(gzip_bytes(header, bytes(100)))
    with peak_memory() as mem, pytest.raises(IDXError, match="inflates to at most"):
        read_idx(path)
    assert mem["peak"] < MiB


def test_summary_of_a_huge_mlp_counts_from_shapes_alone(capsys):
    with peak_memory() as mem:
        status = cli.main(["summary", "--layers", "30000,30000", "--batch-size", "100000000",
                           "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and mem["peak"] < 8 * MiB  # the weights alone would be 7.2 GB
    assert out["total_params"] == 30000 * 30000 + 30000
    assert out["macs_forward"] == 100000000 * 30000 * 30000
    assert out["param_bytes"] == 8 * out["total_params"]


def test_summary_from_shapes_agrees_with_the_forward_pass():
    from chainrule.explain import summary, summary_from_shapes
    from chainrule.explain.presets import build_network
    for sizes, acts, batch in (([4, 3, 2], ["relu", "none"], 10),
                               ([7, 5, 5, 3], ["tanh", "sigmoid", "identity"], 3)):
        real = summary(build_network(sizes, acts), (sizes[0],), batch_size=batch)
        counted = summary_from_shapes(build_network(sizes, acts, placeholders=True),
                                      (sizes[0],), batch_size=batch)
        assert counted.to_dict() == real.to_dict() and str(counted) == str(real)


def test_a_huge_header_is_refused_before_it_is_read(tmp_path):
    # 99 MB of header in a sparse file: the length field alone decides.
    path = tmp_path / "huge-header.ckpt"
    size = 99_000_000
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", size) + b"{")
        f.truncate(8 + size)
    with peak_memory() as mem, pytest.raises(CheckpointError, match=f"header of {size:,} bytes, "
                                                                     f"more than the "
                                                                     f"{MAX_HEADER_BYTES:,}"):
        cr.load(path)
    assert mem["peak"] < MiB


def test_cr_save_refuses_a_header_cr_load_would_refuse(tmp_path):
    with pytest.raises(ValueError, match="store long lists of numbers as NumPy arrays"):
        cr.save({"losses": [0.123456789] * (MAX_HEADER_BYTES // 10)}, tmp_path / "x.ckpt")
    assert not os.listdir(tmp_path)


# ------------------------------------------------- 2. one line, never a traceback
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


CRAFTED = {
    # name: (header or tree, expected fragment)
    "header nested 100,000 deep": (b'{"a": ' + _nested(100000).encode() + b"}",
                                   "nested too deeply"),
    "tree nested 100,000 deep": (("tree_text", _nested(100000)), "nested too deeply"),
    "tree is an object": ({"__metadata__": {"format": "chainrule", "version": "1",
                                            "tree": {"type": "dict"}}},
                          "should be a string of JSON"),
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_headers_and_trees_are_refused_in_one_line(tmp_path, name, command_line):
    content, fragment = CRAFTED[name]
    path = tmp_path / "crafted.ckpt"
    if isinstance(content, tuple):
        crafted_checkpoint(path, None, tree_text=content[1])
    else:
        safetensors_file(path, content)
    with pytest.raises(CheckpointError, match=fragment):
        cr.load(path)
    status, err = command_line.run("evaluate", path)
    assert status == 1
    command_line.one_line(err, "crafted.ckpt", fragment)


WRONG_FIELDS = [
    ("epoch", float("inf"), "checkpoint.epoch: expected an integer from 0 to 2147483647, got inf"),
    ("epoch", None, "checkpoint.epoch: expected an integer"),
    ("epoch", [1], "checkpoint.epoch: expected an integer"),
    ("epoch", -3, "checkpoint.epoch"),
    ("global_step", 10 ** 30, "checkpoint.global_step"),
    ("model", None, "checkpoint.model: expected a mapping"),
    ("model", {"1.weight": "x"}, "checkpoint.model['1.weight']: expected an array"),
    ("rng_state", {"bit_generator": "PCG64", "state": "x"}, "checkpoint.rng_state"),
    ("history", {"epoch": [1], "history": {"loss": ["x"]}}, "checkpoint.history.history"),
    ("config", {"a": _nested(2)}, None),  # plain data: fine for the library, not the CLI
]


@pytest.mark.parametrize("field, value, fragment", WRONG_FIELDS,
                         ids=[f"{f}={v!r}"[:40] for f, v, _ in WRONG_FIELDS])
def test_checkpoint_fields_of_the_wrong_type_are_refused_in_one_line(small_run, tmp_path, field,
                                                                     value, fragment, command_line):
    def edit(ckpt):
        ckpt[field] = value
    path = tmp_path / "edited.ckpt"
    edited_checkpoint(small_run, path, edit)
    if fragment is None:
        train.read_checkpoint(path)
        fragment = "its config is not one 'chainrule train' wrote"
    else:
        with pytest.raises(CheckpointError, match="is damaged"):
            train.read_checkpoint(path)
    status, err = command_line.run("evaluate", path)
    assert status == 1
    command_line.one_line(err, "edited.ckpt", fragment)


def test_resume_with_a_bad_stored_config_is_refused(small_run, tmp_path, monkeypatch, command_line):
    import shutil
    shutil.copytree(small_run, tmp_path / "run")

    def epochs_x(ckpt):
        ckpt["config"]["train"]["epochs"] = "x"
    edited_checkpoint(small_run, tmp_path / "run" / "last.ckpt", epochs_x)
    monkeypatch.chdir(tmp_path)
    status, err = command_line.run("train", "--resume", "run", "--quiet")
    assert status == 1
    command_line.one_line(err, "last.ckpt", "config.train.epochs: expected an integer from 1 "
                                            "to 2147483647, "
                               "got 'x'")
    assert not os.path.exists(tmp_path / "run" / ".chainrule.lock")


def test_resume_refuses_optimizer_state_of_another_layout(small_run, tmp_path, monkeypatch,
                                                          command_line):
    import shutil
    shutil.copytree(small_run, tmp_path / "run")

    def lr_text(ckpt):
        ckpt["optimizer"]["param_groups"][0]["lr"] = "fast"
        ckpt["config"]["train"]["epochs"] = 3
    edited_checkpoint(small_run, tmp_path / "run" / "last.ckpt", lr_text)
    monkeypatch.chdir(tmp_path)
    status, err = command_line.run("train", "--resume", "run", "--epochs", "3", "--quiet")
    assert status == 1
    command_line.one_line(err, "cannot be resumed", "checkpoint.optimizer.param_groups[0]['lr']")


def test_csv_label_too_large_for_int64(tmp_path, monkeypatch, command_line):
    rows = [f"{i % 3}.5,{i % 2}.25,{10 ** 30 if i == 3 else i % 2}" for i in range(20)]
    (tmp_path / "big.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    status, err = command_line.run("train", "--data", "big.csv", "--epochs", "1", "--quiet")
    assert status == 1
    command_line.one_line(err, "big.csv", "too large")


def test_deeply_nested_spec_files_and_options(tmp_path, monkeypatch, command_line):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.json").write_text('{"layers": ' + _nested(100000) + "}")
    (tmp_path / "deep.yaml").write_text("layers: " + _nested(100000) + "\n")
    for argv, fragment in ((["summary", "--file", "deep.json"], "nested too deeply"),
                           (["summary", "--file", "deep.yaml"], "nested too deeply"),
                           (["explain", "--file", "deep.json"], "nested too deeply"),
                           (["explain", "--layers", "2,1", "--input", _nested(5000),
                             "--target", "1"], "--input is nested too deeply")):
        status, err = command_line.run(*argv)
        assert status == 2, argv
        assert len(err.strip().splitlines()) == 1 and fragment in err and "Traceback" not in err


def test_summary_input_checks(command_line):
    status, err = command_line.run("summary", "--layers", "784,10", "--input-shape",
                          "100000,100000")
    assert status == 2 and "takes 784 input features" in err and len(err.splitlines()) == 1
    status, err = command_line.run("summary", "--layers", "784,10", "--batch-size", "1e8")
    assert status == 2 and "invalid int value: '1e8'" in err


# Inputs that need a hard memory cap: one subprocess runs them all under RLIMIT_AS = 1 GiB.
CAPPED = [
    (["summary", "--model", "capped_models:small", "--input-shape", "100000,100000"], 2,
     ["--batch-size 1 x --input-shape 100000,100000", "needs 74.51 GiB",
      "address-space limit"]),
    (["summary", "--model", "capped_models:small", "--input-shape", "784",
      "--batch-size", "100000000"], 2, ["--batch-size 100000000", "needs 584.1"]),
    (["train", "--data", "moons", "--hidden", "100000,100000", "--epochs", "1"], 1,
     ["--hidden 100000,100000: the mlp model (10,000,600,002 parameters)", "needs 149.02 GiB",
      "address-space limit"]),
    (["summary", "--layers", "30000,30000,30000", "--batch-size", "100000000"], 0, []),
]

_CAPPED_RUNNER = """
import io, json, resource, sys, contextlib
from chainrule import cli
with open("/proc/self/status") as f:  # the cap: 1 GiB beyond what the imports took
    used = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (used + 2 ** 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(argv)
    results.append([status, err.getvalue()])
print(json.dumps(results))
"""


def test_resource_exhaustion_is_one_line_naming_the_input_and_the_limit(tmp_path):
    (tmp_path / "capped_models.py").write_text(
        "import chainrule as cr\n"
        "def small():\n    return cr.nn.Sequential(cr.nn.Flatten(), cr.nn.Linear(784, 10))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)]))
    result = subprocess.run([sys.executable, "-c", _CAPPED_RUNNER,
                             json.dumps([argv for argv, _, _ in CAPPED])],
                            cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    for (argv, status, fragments), (got, err) in zip(CAPPED, json.loads(result.stdout)):
        assert got == status, (argv, err)
        if fragments:
            line = err.strip()
            assert "\n" not in line and "Traceback" not in err, err
            assert all(f in line for f in fragments), (argv, line)


def test_an_onnx_files_config_is_checked_like_a_checkpoints(small_run, tmp_path, command_line):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    assert cli.main(["export", str(small_run), "--out", str(tmp_path / "m.onnx")]) == 0
    proto = onnx.load(str(tmp_path / "m.onnx"))
    for prop in proto.metadata_props:
        if prop.key == "chainrule.config":
            config = json.loads(prop.value)
            config["data"]["class_names"] = None
            prop.value = json.dumps(config)
    onnx.save(proto, str(tmp_path / "edited.onnx"))
    status, err = command_line.run("evaluate", tmp_path / "edited.onnx")
    assert status == 1
    command_line.one_line(err, "edited.onnx", "config.data.class_names: expected a list")


# ------------------------------------ regression runs and the run-config schema
@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    """A finished 1-epoch regression on two target columns in the middle of a CSV with a
    missing cell (--missing mean): its config holds target columns, fills and the targets'
    scaling. Tests copy from it."""
    folder = tmp_path_factory.mktemp("regression")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).tolist()
    lines = ["a,y1,b,y2,c"] + [f"{a},{a + b},{'' if i == 5 else b},{b - c},{c}"
                               for i, (a, b, c) in enumerate(X)]
    (folder / "t.csv").write_text("\n".join(lines) + "\n")
    assert cli.main(["train", "--data", str(folder / "t.csv"), "--target", "y1,y2",
                     "--missing", "mean", "--epochs", "1", "--hidden", "4",
                     "--out", str(folder / "run"), "--quiet"]) == 0
    return folder / "run"


def test_a_regression_runs_config_passes_the_schema_and_the_run_resumes(regression_run,
                                                                         tmp_path, monkeypatch,
                                                                         capsys):
    import shutil
    from chainrule.cli.run_config import check_run_config
    config = json.loads((regression_run / "config.json").read_text())
    check_run_config(config, "config.json", complete=True)
    assert config["data"]["target_columns"] == [1, 3] and config["model"]["out_features"] == 2
    assert "fill" in config["data"]["preprocessing"] and config["train"]["loss"] == "mse"
    shutil.copytree(regression_run, tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--resume", "run", "--epochs", "2", "--quiet"]) == 0
    assert train.read_checkpoint(tmp_path / "run" / "last.ckpt")["epoch"] == 2
    capsys.readouterr()
    assert cli.main(["evaluate", "run"]) == 0
    out = capsys.readouterr().out
    assert "on the t test split (12 samples)" in out and "least-squares baseline" in out
    # every column of the training file: predicted and scored by its target columns
    assert cli.main(["predict", "run", str(regression_run.parent / "t.csv")]) == 0
    assert "against the file's y1, y2" in capsys.readouterr().out


def _set(path: str, value):
    """An edit of a checkpoint's config: ``path`` like ``"model.out_features"``."""
    def edit(ckpt):
        *parents, key = path.split(".")
        section = ckpt["config"]
        for name in parents:
            section = section[name]
        section[key] = value
    return edit


REGRESSION_EDITS = [
    ("model.out_features", 10 ** 12,
     "config.model.out_features: expected an integer from 1 to 2147483647"),
    ("model.num_classes", 2, "config.model: expected one of the fields 'out_features'"),
    ("data.preprocessing.targets.names", ["y1", "y2", "y3"],
     "targets.mean: is 2 values, but config.data.preprocessing.targets.names says 3 values"),
    ("data.preprocessing.targets.std", [0.0, 1.0], "targets.std[0]: expected a finite number > 0"),
    ("data.preprocessing.fill", [0.0], "preprocessing.fill: is 1 values, but input_shape says 3"),
    ("data.task", "classification",
     "config.data.task: is classification, but config.data.preprocessing.targets says "
     "regression"),
    ("data.target_columns", [1, 1], "config.data.target_columns: names a column twice"),
    ("data.target_columns", [1, 10 ** 9], "holds column 1000000000 (from 0), but the file has 5"),
    ("data.target", ["y1"], "config.data.target: is 1 columns, but config.model.out_features says 2 columns"),
    ("data.missing", "guess", "config.data.missing: expected one of 'error'"),
    ("train.loss", "cubic", "config.train.loss: expected one of 'mse'"),
    ("train.world_size", 0, "config.train.world_size: expected an integer from 1"),
]


@pytest.mark.parametrize("path, value, fragment", REGRESSION_EDITS,
                         ids=[f"{p}={v!r}"[:40] for p, v, _ in REGRESSION_EDITS])
def test_a_crafted_regression_config_is_refused_in_one_line(regression_run, tmp_path, path,
                                                            value, fragment, command_line):
    edited_checkpoint(regression_run, tmp_path / "odd.ckpt", _set(path, value))
    status, err = command_line.run("evaluate", tmp_path / "odd.ckpt")
    assert status == 1
    command_line.one_line(err, "odd.ckpt", fragment)


def test_a_regression_config_asking_for_a_larger_model_than_stored_is_refused_before_building(
        regression_run, tmp_path, command_line):
    edited_checkpoint(regression_run, tmp_path / "big.ckpt", _set("model.hidden", [20000, 20000]))
    with peak_memory() as mem:
        status, err = command_line.run("evaluate", tmp_path / "big.ckpt")
    assert status == 1
    command_line.one_line(err, "does not hold the model its config describes",
                          "400,140,002 values", "file stores 26")
    assert mem["peak"] < 32 * MiB  # the model would take 1.6 GB


def test_an_older_runs_mlp_naming_its_outputs_num_classes_still_loads(small_run, tmp_path,
                                                                      command_line):
    def rename(ckpt):
        ckpt["config"]["model"]["num_classes"] = ckpt["config"]["model"].pop("out_features")
    edited_checkpoint(small_run, tmp_path / "old.ckpt", rename)
    assert command_line.run("evaluate", tmp_path / "old.ckpt")[0] == 0
    assert models.state_size(cr.load(tmp_path / "old.ckpt")["config"]["model"]) == 42


# ------------------------------------------------------ the top-level guard
def test_an_unexpected_error_is_one_line_pointing_at_the_log(small_run, tmp_path, monkeypatch,
                                                             command_line):
    from chainrule.cli import train as train_command

    def broken_fit(*args, **kwargs):
        raise RuntimeError("simulated bug\nwith a second line")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_command, "fit", broken_fit)
    status, err = command_line.run("train", "--data", "xor", "--epochs", "1", "--out", "r",
                          "--quiet")
    assert status == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("chainrule: internal error: RuntimeError: simulated bug with a "
                               "second line")
    log = tmp_path / "r" / "error.log"
    assert f"the traceback is in {os.path.join('r', 'error.log')}" in lines[0]
    text = log.read_text()
    assert "Traceback" in text and "broken_fit" in text and "chainrule train --data xor" in text
    # --debug shows the traceback itself; without a run folder the line says so.
    monkeypatch.setattr(cli.summary, "summary_from_shapes", broken_fit)
    status, err = command_line.run("--debug", "summary", "--layers", "2,1")
    assert status == 3 and "Traceback" in err and "broken_fit" in err
    status, err = command_line.run("summary", "--layers", "2,1")
    assert status == 3 and "rerun with --debug" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ the schemas
def test_schema_rules_name_the_field_and_what_was_expected():
    from chainrule.io.schema import (
        Array, Either, Float, Int, Json, Like, List, Map, Null, Record, SchemaError, Str, check)
    schema = Record({"n": Int(1, 10), "x": Float(0.0, 1.0, high_open=True),
                     "s": Str(["a", "b"]), "items": List(Either(Null(), Int()), max_len=2),
                     "w": Map(Str(), Array("f"))}, optional=("w",))
    check(schema, {"n": 3, "x": 0.5, "s": "a", "items": [None, 7]}, "cfg")
    bad = [({"n": True}, "cfg.n: expected an integer from 1 to 10, got True"),
           ({"x": float("nan")}, "cfg.x: expected a finite number >= 0 and < 1, got nan"),
           ({"x": 1.0}, "cfg.x"), ({"s": "c"}, "cfg.s: expected one of 'a', 'b'"),
           ({"items": [1, 2, 3]}, "cfg.items: expected a list of 0 to 2 items"),
           ({"items": ["x"]}, "cfg.items[0]: expected null (None) or an integer"),
           ({"w": {"k": np.arange(3)}}, "cfg.w['k']: expected an array"),
           ({"extra": 1}, "cfg: unknown field 'extra'"),
           ({"n": 2 ** 200}, "got an integer of 201 bits")]
    good = {"n": 3, "x": 0.5, "s": "a", "items": []}
    for change, message in bad:
        with pytest.raises(SchemaError) as caught:
            check(schema, {**good, **change}, "cfg")
        assert message in str(caught.value), (change, str(caught.value))
    with pytest.raises(SchemaError, match="nested more than 3 levels"):
        check(Json(max_depth=3), [[[[[1]]]]], "v")
    with pytest.raises(SchemaError, match=r"v\[1\]\['b'\]: expected 'x', got 'y'"):
        check(Like([1, {"b": "x"}]), [2, {"b": "y"}], "v")
    with pytest.raises(SchemaError, match="expected a list of 2 items"):
        check(Like((0.9, 0.999)), [0.9], "betas")
    check(Like({"lr": 0.1, "betas": (0.9, 0.99), "x": None}), {"lr": 1, "betas": [0, 1],
                                                                 "x": {"any": [1]}}, "v")


def test_doctests_of_the_hardening_modules():
    import doctest
    import importlib
    for name in ("chainrule._safe_open", "chainrule.io.schema", "chainrule.cli.limits",
                 "chainrule.cli.inputs", "chainrule.cli.run_config", "chainrule.cli.run_folder",
                 "chainrule.cli.models", "chainrule.data.idx"):
        module = importlib.import_module(name)
        result = doctest.testmod(module, extraglobs={"cr": cr}, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, name
