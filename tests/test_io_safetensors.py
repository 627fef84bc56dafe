"""cr.io.save_safetensors / load_safetensors: weights move between chainrule and PyTorch.

Each model (MLP with BatchNorm, LeNet, a two-layer char LSTM, a bidirectional GRU) has a
PyTorch twin built here with torch.nn. A model trained a few steps in one library is saved,
loaded into its twin through the other library's reader, and must give the same outputs.
"""
import doctest
import os
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import models
from chainrule.io import CheckpointError

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")
tnn = torch.nn


def test_doctests_pass():
    import chainrule.io._files
    import chainrule.io.weights
    for module in (chainrule.io._files, chainrule.io.weights):
        assert doctest.testmod(module).failed == 0, module.__name__


# ------------------------------------------------------------------------ twins
def gru_net(nn):
    """Sequence classifier: bidirectional GRU, Linear on the last step's features; one
    definition for both libraries (``nn`` is ``chainrule.nn`` or ``torch.nn``)."""
    class GRUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(5, 8, num_layers=2, batch_first=True, bidirectional=True)
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            out, _ = self.gru(x)
            return self.head(out[:, -1])
    return GRUNet()


class TorchCharLSTM(tnn.Module):
    """models.CharLSTM in PyTorch: Embedding, LSTM, Linear on the last step."""

    def __init__(self, vocab, embedding_dim, hidden_size, num_layers):
        super().__init__()
        self.embedding = tnn.Embedding(vocab, embedding_dim)
        self.lstm = tnn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = tnn.Linear(hidden_size, vocab)

    def forward(self, x):
        out, _ = self.lstm(self.embedding(x))
        return self.head(out[:, -1])


def _torch_mlp():
    return tnn.Sequential(tnn.Flatten(), tnn.Linear(20, 16), tnn.BatchNorm1d(16), tnn.ReLU(),
                          tnn.Linear(16, 8), tnn.BatchNorm1d(8), tnn.ReLU(), tnn.Linear(8, 3))


def _torch_lenet():
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5),
        tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(16 * 5 * 5, 120), tnn.ReLU(),
        tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))


# name -> (chainrule model, torch twin, inputs(rng, n), number of classes)
TWINS = {
    "mlp": (lambda: models.mlp(20, 3, hidden=(16, 8), batch_norm=True), _torch_mlp,
            lambda rng, n: rng.standard_normal((n, 20)).astype(np.float32), 3),
    "lenet": (lambda: models.cnn(1, 10, image_size=28), _torch_lenet,
              lambda rng, n: rng.standard_normal((n, 1, 28, 28)).astype(np.float32), 10),
    "lstm": (lambda: models.lstm(11, embedding_dim=6, hidden_size=9, num_layers=2),
             lambda: TorchCharLSTM(11, 6, 9, 2),
             lambda rng, n: rng.integers(0, 11, (n, 7)), 11),
    "gru": (lambda: gru_net(nn), lambda: gru_net(tnn),
            lambda rng, n: rng.standard_normal((n, 6, 5)).astype(np.float32), 3),
}


def _train(lib, model, x, y, steps=3):
    """A few Adam steps on cross-entropy; ``lib`` is chainrule or torch."""
    opt = lib.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(lib.as_tensor(x)), lib.as_tensor(y))
        loss.backward()
        opt.step()
    return model.eval()


def _outputs_equal(ours, theirs, x):
    with cr.no_grad(), torch.no_grad():
        expected = theirs(torch.as_tensor(x)).numpy()
        got = ours(cr.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(TWINS))
def test_chainrule_trained_model_loads_into_its_pytorch_twin(tmp_path, rng, name):
    make_ours, make_theirs, inputs, classes = TWINS[name]
    x, y = inputs(rng, 8), rng.integers(0, classes, 8)
    ours = _train(cr, make_ours(), x, y)
    path = tmp_path / f"{name}.safetensors"
    cr.io.save_safetensors(ours.state_dict(), path)

    theirs = make_theirs()
    result = theirs.load_state_dict(st_torch.load_file(str(path)))  # strict: every key
    assert not result.missing_keys and not result.unexpected_keys
    theirs.eval()
    _outputs_equal(ours, theirs, inputs(rng, 5))
    # The very file PyTorch's own writer makes from the same tensors, byte for byte.
    assert path.read_bytes() == st_torch.save(theirs.state_dict())


@pytest.mark.parametrize("name", sorted(TWINS))
def test_pytorch_trained_model_loads_into_chainrule(tmp_path, rng, name):
    make_ours, make_theirs, inputs, classes = TWINS[name]
    x, y = inputs(rng, 8), rng.integers(0, classes, 8)
    theirs = _train(torch, make_theirs(), x, y)
    path = tmp_path / f"{name}.safetensors"
    st_torch.save_file(theirs.state_dict(), str(path))

    loaded = cr.io.load_safetensors(path)
    assert all(isinstance(v, cr.Tensor) and not v.requires_grad for v in loaded.values())
    ours = make_ours()
    result = ours.load_state_dict(loaded)
    assert not result.missing_keys and not result.unexpected_keys
    ours.eval()
    _outputs_equal(ours, theirs, inputs(rng, 5))
    # Dtypes and shapes come over as PyTorch stored them (int64 num_batches_tracked too).
    for key, value in theirs.state_dict().items():
        assert loaded[key].dtype == value.numpy().dtype and loaded[key].shape == tuple(value.shape)


def test_torch_metadata_and_names_in_order(tmp_path):
    sd = {"b": cr.ones(2), "a": np.arange(3, dtype=np.int64), "step": np.int64(4)}
    path = tmp_path / "meta.safetensors"
    cr.io.save_safetensors(sd, path, metadata={"format": "pt"})
    torch_sd = {k: torch.as_tensor(np.asarray(v)) for k, v in sd.items()}
    assert path.read_bytes() == st_torch.save(torch_sd, metadata={"format": "pt"})
    loaded = cr.io.load_safetensors(path)
    assert list(loaded) == list(st_torch.load_file(str(path))) == ["a", "step", "b"]
    assert loaded["step"].shape == () and loaded["step"].item() == 4


def test_torch_state_dict_and_arrays_can_be_saved_directly(tmp_path):
    model = _torch_mlp()
    path = tmp_path / "torch.safetensors"
    cr.io.save_safetensors(model.state_dict(), path)
    assert path.read_bytes() == st_torch.save(model.state_dict())
    with pytest.raises(TypeError, match=r"the value for 'w' is a Tensor, which cannot be read "
                                        r"as an array"):
        cr.io.save_safetensors({"w": torch.ones(2, requires_grad=True)}, path)


def test_bfloat16_loads_as_exact_float32(tmp_path):
    values = torch.tensor([1.0, -2.5, 3.140625, float("inf"), 1e-30]).to(torch.bfloat16)
    path = tmp_path / "bf16.safetensors"
    st_torch.save_file({"w": values, "n": torch.tensor([7])}, str(path))
    loaded = cr.io.load_safetensors(path)
    assert loaded["w"].dtype == np.float32
    np.testing.assert_array_equal(loaded["w"].numpy(), values.float().numpy())
    assert loaded["n"].tolist() == [7]


def test_checkpoints_written_by_cr_save_read_as_plain_weights(tmp_path):
    model = nn.Linear(3, 2)
    path = tmp_path / "run.ckpt"
    cr.save({"model": model.state_dict(), "epoch": 4}, path)
    loaded = cr.io.load_safetensors(path)
    assert sorted(loaded) == ["model.bias", "model.weight"]
    np.testing.assert_array_equal(loaded["model.weight"].numpy(), model.weight.numpy())


def test_overwrite_is_atomic_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "w.safetensors"
    cr.io.save_safetensors({"w": cr.zeros(3)}, path)
    cr.io.save_safetensors({"w": cr.ones(4)}, path)
    assert os.listdir(tmp_path) == ["w.safetensors"]
    assert cr.io.load_safetensors(path)["w"].tolist() == [1.0] * 4


# ----------------------------------------------------------------------- errors
def test_bad_arguments_to_save_are_named(tmp_path):
    path = tmp_path / "x.safetensors"
    cases = [
        (nn.Linear(2, 2), TypeError, r"got a Linear; pass model.state_dict\(\)"),
        ([cr.ones(2)], TypeError, r"expected a state dict \(a mapping of name -> tensor\), got list"),
        ({1: cr.ones(2)}, TypeError, r"keys must be str, got int key 1"),
        ({"w": np.array(["a"])}, TypeError, r"the value for 'w' has dtype <U1, which safetensors "
                                            r"cannot store"),
        ({"__metadata__": cr.ones(1)}, ValueError, r"'__metadata__' is reserved"),
    ]
    for state, error, message in cases:
        with pytest.raises(error, match=message):
            cr.io.save_safetensors(state, path)
    with pytest.raises(TypeError, match=r"metadata must map str to str"):
        cr.io.save_safetensors({"w": cr.ones(1)}, path, metadata={"epoch": 3})
    with pytest.raises(FileNotFoundError, match=r"folder .* does not exist"):
        cr.io.save_safetensors({"w": cr.ones(1)}, tmp_path / "nope" / "x.safetensors")
    assert not path.exists()


def test_bad_files_are_refused_with_the_path_and_the_problem(tmp_path):
    good = tmp_path / "good.safetensors"
    st_torch.save_file({"w": torch.arange(16.0)}, str(good))
    raw = good.read_bytes()

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(raw[:-10])
    with pytest.raises(CheckpointError, match=r"truncated.safetensors' is truncated: its arrays "
                                              r"need 64 bytes of data but only 54 follow"):
        cr.io.load_safetensors(truncated)

    pickled = tmp_path / "model.pt"
    torch.save(_torch_mlp().state_dict(), pickled)
    with pytest.raises(CheckpointError, match=r"model.pt' is a zip archive \(e.g. from torch.save"
                                              r" or np.savez\), not a safetensors file"):
        cr.io.load_safetensors(pickled)

    fp8 = tmp_path / "fp8.safetensors"
    st_torch.save_file({"q": torch.ones(2).to(torch.float8_e4m3fn)}, str(fp8))
    with pytest.raises(CheckpointError, match=r"holds tensor 'q' of dtype F8_E4M3, which NumPy "
                                              r"\(and so chainrule\) has no type for"):
        cr.io.load_safetensors(fp8)

    wrong_size = tmp_path / "shape.safetensors"
    wrong_size.write_bytes(raw.replace(b'"shape":[16]', b'"shape":[15]', 1))
    with pytest.raises(CheckpointError, match=r"shape.safetensors' is corrupt: safetensors "
                                              r"cannot read it"):
        cr.io.load_safetensors(wrong_size)

    text = tmp_path / "notes.txt"
    text.write_text("weights? no\n")
    with pytest.raises(CheckpointError, match=r"is not a complete safetensors file"):
        cr.io.load_safetensors(text)
    with pytest.raises(FileNotFoundError, match=r"no such file"):
        cr.io.load_safetensors(tmp_path / "missing.safetensors")
    with pytest.raises(IsADirectoryError, match=r"is a folder, not a safetensors file"):
        cr.io.load_safetensors(tmp_path)


def test_missing_safetensors_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r'cr.io.save_safetensors needs the safetensors '
                                          r'package: pip install "chainrule\[io\]"'):
        cr.io.save_safetensors({}, tmp_path / "x.safetensors")
    with pytest.raises(ImportError, match=r'pip install "chainrule\[io\]"'):
        cr.io.load_safetensors(tmp_path / "x.safetensors")
