"""cr.save / cr.load: exact round trips, no pickle, atomic writes, and clear refusals of
corrupt, truncated, foreign and missing files."""
import doctest
import json
import math
import os
import pathlib
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.io import CheckpointError

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def test_doctests_pass():
    import chainrule.io
    import chainrule.io.serialization
    for module in (chainrule.io, chainrule.io.serialization):
        assert doctest.testmod(module).failed == 0, module.__name__


def _assert_same(a, b, where="obj"):
    """Deep equality that also checks types, dtypes and shapes (and treats nan == nan)."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, cr.Tensor):
        assert not b.requires_grad
        _assert_same(a.numpy(), b.numpy(), where)
    elif isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype, where
        assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
        if isinstance(a, float):
            assert math.copysign(1.0, a) == math.copysign(1.0, b), where


def _round_trip(obj, tmp_path, name="ckpt.safetensors"):
    path = tmp_path / name
    cr.save(obj, path)
    loaded = cr.load(path)
    _assert_same(obj, loaded)
    return loaded


DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
          "uint32", "uint64", "bool", "complex64"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_arrays_keep_dtype_and_shape_including_0d_and_empty(tmp_path, dtype):
    rng = np.random.default_rng(0)
    shapes = [(), (0,), (3, 0, 2), (5,), (2, 3, 4)]
    arrays = [np.asarray(rng.normal(size=s) * 50).astype(dtype) for s in shapes]
    assert arrays[0].ndim == 0 and isinstance(arrays[0], np.ndarray)
    scalars = [np.dtype(dtype).type(a) for a in (0, 1, 7)]
    tensors = [cr.Tensor(a) for a in arrays]
    _round_trip({"arrays": arrays, "scalars": scalars, "tensors": tensors}, tmp_path)


def test_non_contiguous_and_big_endian_arrays_round_trip(tmp_path):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    strided, transposed = base[:, ::2], base.T
    big_endian = np.arange(5, dtype=">i4")
    loaded = cr.load(_saved({"s": strided, "t": transposed, "b": big_endian}, tmp_path))
    np.testing.assert_array_equal(loaded["s"], strided)
    np.testing.assert_array_equal(loaded["t"], transposed)
    np.testing.assert_array_equal(loaded["b"], big_endian)
    assert loaded["b"].dtype == np.int32


def _saved(obj, tmp_path, name="x.safetensors"):
    path = tmp_path / name
    cr.save(obj, path)
    return path


def test_deep_nested_state_round_trips(tmp_path):
    cr.manual_seed(1234)
    cr.randn(3)  # move the generator off its seed state
    deep = {"leaf": np.arange(3)}
    for level in range(40):
        deep = {f"level{level}": [deep, (level, str(level))], level: None}
    state = {
        "model": {"fc.weight": cr.randn(4, 3), "fc.bias": cr.zeros(4),
                  "bn.running_mean": np.zeros(4, np.float32), "bn.num_batches": np.array(7)},
        "optimizer": {"state": {0: {"step": 10, "exp_avg": cr.zeros(4, 3)},
                                1: {"step": 10, "exp_avg": cr.zeros(4)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                                        "params": [0, 1], "amsgrad": False}]},
        "rng": cr.get_rng_state(),
        "epoch": 12,
        "history": {"loss": [2.5, 1.25, float("nan")], "best": float("inf"),
                    "worst": float("-inf"), "neg_zero": -0.0},
        "ints": [0, -1, 2 ** 53, 2 ** 53 + 1, -(2 ** 64) - 5, 2 ** 127 + 3, 10 ** 5000],
        "strings": ["", "ünïcode ✓", '{"type": "dict"}', "__metadata__"],
        "flags": [True, False, None],
        "tuples_vs_lists": ((1, 2), [1, 2], (), [], ([(),],)),
        "deep": deep,
        "__metadata__": np.ones(2),  # a key that collides with safetensors' reserved name
        "": np.zeros(1),
    }
    loaded = _round_trip(state, tmp_path)
    assert loaded["rng"]["state"]["state"] == state["rng"]["state"]["state"]
    # the restored RNG state reproduces the same draws
    expected = cr.randn(5).numpy()
    cr.set_rng_state(loaded["rng"])
    np.testing.assert_array_equal(cr.randn(5).numpy(), expected)


_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2 ** 60, max_value=2 ** 200),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    hnp.arrays(st.sampled_from(["float32", "float64", "int64", "int32", "uint8", "bool"]),
               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)))
_states = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), children, max_size=4)),
    max_leaves=20)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=_states)
def test_any_nested_state_round_trips_exactly(tmp_path, state):
    _round_trip(state, tmp_path)


def test_path_may_be_str_or_pathlib(tmp_path):
    as_str = str(tmp_path / "a.safetensors")
    cr.save([1, 2.5], as_str)
    assert cr.load(pathlib.Path(as_str)) == [1, 2.5]
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        cr.save({}, 123)


def test_arrays_are_readable_by_plain_safetensors(tmp_path):
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = _saved({"fc": {"weight": cr.Tensor(weight)}, "step": 1}, tmp_path)
    plain = safetensors_numpy.load_file(str(path))
    np.testing.assert_array_equal(plain["fc.weight"], weight)


def test_file_holds_no_pickle_and_declares_its_format(tmp_path):
    path = _saved({"w": np.ones(3), "n": 1}, tmp_path)
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    meta = header["__metadata__"]
    assert meta["format"] == "chainrule" and meta["version"] == "1"
    assert json.loads(meta["tree"])["type"] == "dict"
    assert b"\x80\x04" not in raw[:8 + header_len]  # no pickle protocol marker in the header


def test_loaded_arrays_are_writable_and_tensors_do_not_require_grad(tmp_path):
    param = cr.randn(3, requires_grad=True)
    loaded = cr.load(_saved({"p": param, "a": np.zeros(2)}, tmp_path))
    assert not loaded["p"].requires_grad and loaded["p"].grad is None
    loaded["a"][0] = 5.0
    loaded["p"].numpy()[0] = 5.0


def test_unstorable_values_are_refused_with_their_path(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(TypeError, match=r"cannot store an object of type set at obj\['a'\]\[1\]"):
        cr.save({"a": [1, {2}]}, path)
    with pytest.raises(TypeError, match=r"dict keys must be str or int, got float key 1.5"):
        cr.save({1.5: 0}, path)
    with pytest.raises(TypeError, match=r"cannot store an array of dtype <U1 at obj\['s'\]"):
        cr.save({"s": np.array(["a"])}, path)
    with pytest.raises(TypeError, match=r"array of dtype complex128"):
        cr.save(np.zeros(2, np.complex128), path)
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match=r"obj\[0\] contains itself"):
        cr.save(cycle, path)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # a refused save leaves no temporary file
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cr.save({}, tmp_path / "missing_folder" / "x.safetensors")


def test_overwrite_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    cr.save({"v": 1}, path)
    cr.save({"v": 2}, path)
    assert cr.load(path) == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]


def test_write_atomically_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    from chainrule.io import write_atomically
    path = tmp_path / "config.json"
    write_atomically(path, b"old")
    write_atomically(str(path), b"new")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["config.json"]

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, b"newer")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["config.json"]


_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import chainrule as cr
    path = sys.argv[1]
    new = {"epoch": 2, "weights": [np.full((1024, 1024), float(i)) for i in range(16)]}
    while True:
        cr.save(new, path)
""")


def _kill_mid_save(path):
    """Start a process that saves a 128 MB object to ``path`` in a loop; SIGKILL it as soon
    as its temporary file appears, i.e. while it writes."""
    folder = path.parent
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not any(p.name.endswith(".tmp") for p in folder.iterdir()):
            assert child.poll() is None, child.stderr.read().decode()
            time.sleep(0.0005)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    return [p for p in folder.iterdir() if p.name != path.name]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_save_leaves_the_previous_file_loadable(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    old = {"epoch": 1, "weights": [np.arange(10.0)], "rng": cr.get_rng_state()}
    # The kill lands within a millisecond of the temporary file appearing, long before the
    # 128 MB are written; a badly delayed kill could let a whole save finish first, so the
    # experiment is repeated until one kill provably hit the first save (the target still
    # holds the old content). Every outcome must leave a complete, loadable target.
    killed_first_save = False
    for _attempt in range(5):
        cr.save(old, path)
        leftovers = _kill_mid_save(path)
        assert leftovers and all(p.name.startswith(".ckpt.safetensors.")
                                 and p.name.endswith(".tmp") for p in leftovers)
        loaded = cr.load(path)
        assert loaded["epoch"] in (1, 2)
        if loaded["epoch"] == 1:
            _assert_same(old, loaded)
            killed_first_save = True
        for leftover in leftovers:  # a half-written temporary is refused, never misread
            try:
                assert cr.load(leftover)["epoch"] == 2
            except CheckpointError:
                pass
            leftover.unlink()
        if killed_first_save:
            break
    assert killed_first_save
    cr.save({"epoch": 3}, path)
    assert cr.load(path) == {"epoch": 3}


# ------------------------------------------------------------------------ bad files
@pytest.fixture
def good_file(tmp_path):
    return _saved({"w": np.arange(64, dtype=np.float32), "meta": {"name": "run", "step": 3}},
                  tmp_path, "good.safetensors")


def _at(path):
    """A regex matching the quoted path as error messages show it."""
    return re.escape(f"'{path}'")


def _header_len(raw):
    return struct.unpack("<Q", raw[:8])[0]


def test_flipped_header_bytes_are_rejected(good_file, tmp_path):
    raw = bytearray(good_file.read_bytes())
    n = _header_len(raw)
    for position in (8 + n // 2, 8 + 1, 8 + n - 1):
        bad = raw.copy()
        bad[position] ^= 0xFF
        path = tmp_path / f"flip{position}.safetensors"
        path.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError,
                           match=_at(path) + r" has a header that is not valid JSON"):
            cr.load(path)
    bad = raw.copy()
    bad[3] ^= 0x01  # the header length field itself
    path = tmp_path / "length.safetensors"
    path.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match=_at(path) + r" is not a complete safetensors file"):
        cr.load(path)


def test_edited_structure_and_flipped_data_are_rejected(good_file, tmp_path):
    raw = good_file.read_bytes()
    n = _header_len(raw)
    bad_data = bytearray(raw)
    bad_data[8 + n + 10] ^= 0xFF
    path = tmp_path / "data.safetensors"
    path.write_bytes(bytes(bad_data))
    with pytest.raises(CheckpointError, match=r"is corrupt: the bytes of array 'w' fail their "
                                              r"CRC-32 check \(at obj\['w'\]\)"):
        cr.load(path)
    # a tree naming an unknown node type (same length, so offsets stay valid)
    edited = raw.replace(b'\\"type\\":\\"dict\\"', b'\\"type\\":\\"dicX\\"', 1)
    assert edited != raw
    path = tmp_path / "tree.safetensors"
    path.write_bytes(edited)
    with pytest.raises(CheckpointError,
                       match=r"is corrupt: unknown node .* of type 'dicX' \(at obj\)"):
        cr.load(path)
    # a dtype safetensors does not know: its own check fires, and is reported with the path
    path = tmp_path / "dtype.safetensors"
    path.write_bytes(raw.replace(b'"F32"', b'"F99"', 1))
    with pytest.raises(CheckpointError, match=_at(path) + " is corrupt: safetensors cannot "
                                                          "read it"):
        cr.load(path)


@pytest.mark.parametrize("tree, problem", [
    ('{"type":"ndarray","key":"nope","crc32":0}', r"refers to array 'nope', which the file lacks"),
    ('{"type":"dict","items":[[1.5,2]]}', r"dict key 1.5 is not a str or int"),
    ('{"type":"int","hex":"12; import os"}', r"bad int"),
    ('[NaN]', r"its structure \(the 'tree' metadata\) is not valid JSON"),
    ('{"type":"dict"', r"its structure \(the 'tree' metadata\) is not valid JSON"),
    ('{"type":"scalar","dtype":"object","hex":"00"}', r"bad scalar dtype 'object'"),
])
def test_malformed_structure_is_rejected(tmp_path, tree, problem):
    path = tmp_path / "crafted.safetensors"
    safetensors_numpy.save_file({"w": np.zeros(2)}, str(path),
                                metadata={"format": "chainrule", "version": "1", "tree": tree})
    with pytest.raises(CheckpointError, match=_at(path) + " is corrupt: " + problem):
        cr.load(path)


def test_truncated_file_is_rejected(good_file, tmp_path):
    raw = good_file.read_bytes()
    n = _header_len(raw)
    data_len = len(raw) - 8 - n
    cases = {
        len(raw) // 2: None,  # wherever half falls, it must be refused
        8 + n + 100: rf" is truncated: its arrays need {data_len} bytes of data but only 100 "
                     rf"follow the header",
        8 + n // 2: rf" is not a complete safetensors file: its first 8 bytes give a header "
                    rf"length of {n}, but only {n // 2} bytes follow",
        5: r" is only 5 bytes long: truncated",
        0: r" is empty \(0 bytes\)",
    }
    for cut, message in cases.items():
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match=_at(path) + (message or "")):
            cr.load(path)
    path = tmp_path / "longer.safetensors"
    path.write_bytes(raw + b"\0")
    with pytest.raises(CheckpointError, match=r"is corrupt: 1 unexpected bytes follow"):
        cr.load(path)


def test_foreign_files_are_rejected(tmp_path):
    plain = tmp_path / "plain.safetensors"
    safetensors_numpy.save_file({"w": np.zeros(3)}, str(plain))
    with pytest.raises(CheckpointError, match=_at(plain) + r" is a safetensors file without the "
                                              r"chainrule marker"):
        cr.load(plain)
    newer = tmp_path / "newer.safetensors"
    safetensors_numpy.save_file({"w": np.zeros(3)}, str(newer),
                                metadata={"format": "chainrule", "version": "99", "tree": "1"})
    with pytest.raises(CheckpointError, match=r"format version '99'; this chainrule reads "
                                              r"version '1'"):
        cr.load(newer)
    text = tmp_path / "notes.txt"
    text.write_text("these are not the weights you are looking for\n")
    with pytest.raises(CheckpointError, match=_at(text) + r" is not a complete safetensors file"):
        cr.load(text)
    archive = tmp_path / "model.zip"
    import zipfile
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data.pkl", b"\x80\x04N.")
    with pytest.raises(CheckpointError, match=_at(archive) + r" is a zip archive"):
        cr.load(archive)
    npy = tmp_path / "w.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(CheckpointError, match=_at(npy)):
        cr.load(npy)


def test_missing_file_and_folder(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match=rf"no such file: '{missing}'"):
        cr.load(missing)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        cr.load(tmp_path)


def test_missing_safetensors_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[io\]"'):
        cr.save({}, tmp_path / "x.safetensors")
    with pytest.raises(ImportError, match=r'pip install "chainrule\[io\]"'):
        cr.load(tmp_path / "x.safetensors")


def test_load_accepts_torch_load_arguments(tmp_path):
    """map_location (every spelling of the CPU) and weights_only, as torch.load takes them."""
    path = tmp_path / "state.pt"
    cr.save({"w": cr.ones(2)}, path)
    for where in (None, "cpu", "cpu:0", {"cuda:0": "cpu"}):
        for weights_only in (None, True, False):
            out = cr.load(path, map_location=where, weights_only=weights_only)
            np.testing.assert_array_equal(out["w"].numpy(), [1.0, 1.0])
    with pytest.raises(ValueError, match="names a device chainrule does not have"):
        cr.load(path, map_location="cuda:0")
    with pytest.raises(TypeError, match="a function as map_location is not supported"):
        cr.load(path, map_location=lambda storage, loc: storage)
