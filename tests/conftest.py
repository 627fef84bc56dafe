"""Shared fixtures for the chainrule test suite.

* ``rng``            a freshly seeded NumPy generator per test (tests never share draws)
* ``make_leaf``      float64 leaf tensors that require grad, with values kept in a domain
                     (positive for log/sqrt, away from kinks for abs/relu/max)
* ``make_array``     the same values as a plain float64 ndarray
* ``torch``          PyTorch, or a visible skip when it is not installed
* ``command_line``   the ``chainrule`` command in-process: status and its one-line error
* ``image_model``    a hand-written checkpoint of an untrained MNIST-shaped mlp
* ``run_notebook``   executes a notebook in a real Jupyter kernel (nbclient + ipykernel)

Every test also starts with grad mode on, the default float dtype float32 and chainrule's
generator seeded, and a test that changes them cannot leak the change into the next one.
"""
from __future__ import annotations

import os
import sys
import zlib

import numpy as np
import pytest

import chainrule as cr

try:
    # Two pytest workers on two cores: a BLAS thread pool per worker only oversubscribes
    # the machine (small products were seen running 20x slower), so one thread each.
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
except ImportError:
    pass


@pytest.fixture(autouse=True)
def _engine_state():
    """Start from known global state and put it back afterwards."""
    dtype = cr.get_default_dtype()
    cr.manual_seed(0)
    with cr.enable_grad():  # on exit, restores the mode found here even if a test leaked one
        yield
    cr.set_default_dtype(dtype)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


def leaf_array(rng: np.random.Generator, shape, domain: str = "real") -> np.ndarray:
    """Random float64 values of ``shape`` in a domain where the op under test is smooth.

    ``real``      uniform in (-2, 2), with every entry at least 0.1 away from 0 (kinks of
                  abs, relu, sign live at 0, and finite differences must not straddle them)
    ``positive``  uniform in (0.5, 2.5) (log, sqrt, pow bases)
    ``unit``      uniform in (-0.9, 0.9) (log1p needs > -1)
    """
    shape = tuple(shape)
    if domain == "positive":
        return rng.uniform(0.5, 2.5, shape)
    if domain == "unit":
        return rng.uniform(-0.9, 0.9, shape)
    if domain == "real":
        mag = rng.uniform(0.1, 2.0, shape)
        return np.where(rng.random(shape) < 0.5, -mag, mag)
    raise ValueError(f"unknown domain {domain!r}")


@pytest.fixture(scope="session")
def make_leaf():
    """``make_leaf(rng, shape, domain="real", requires_grad=True)`` -> float64 leaf tensor.

    Session-scoped and stateless, so hypothesis tests may use it too.
    """
    def make(rng, shape, domain: str = "real", requires_grad: bool = True) -> cr.Tensor:
        return cr.tensor(leaf_array(rng, shape, domain), requires_grad=requires_grad)
    return make


@pytest.fixture(scope="session")
def make_array():
    """``make_array(rng, shape, domain="real")`` -> float64 ndarray (see ``leaf_array``)."""
    return leaf_array


@pytest.fixture(scope="session")
def torch():
    """PyTorch for differential tests; skips (visibly) when it is not installed."""
    return pytest.importorskip("torch")


def seed_from_test_name(request) -> np.random.Generator:
    """The same data for a test however xdist orders it: seed chainrule (and torch, if
    loaded) from the test's name and return a NumPy generator seeded the same way."""
    seed = zlib.crc32(request.node.name.encode())
    cr.manual_seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)


class CommandLine:
    """The ``chainrule`` command run in-process, for tests of its one-line errors."""

    def __init__(self, capsys):
        self._capsys = capsys

    def run(self, *argv) -> tuple[int, str]:
        """``status, stderr`` of ``chainrule ARGV``."""
        from chainrule import cli
        status = cli.main([str(a) for a in argv])
        return status, self._capsys.readouterr().err

    @staticmethod
    def one_line(err: str, *fragments: str) -> str:
        """The single error line of ``err``: no traceback, not the guard's 'internal error',
        holding every fragment."""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert "internal error" not in lines[0], lines[0]
        for fragment in fragments:
            assert fragment in lines[0], lines[0]
        return lines[0]


@pytest.fixture
def command_line(capsys) -> CommandLine:
    """``command_line.run("train", ...)`` -> (status, stderr); ``command_line.one_line(err)``."""
    return CommandLine(capsys)


@pytest.fixture
def image_model(tmp_path):
    """A checkpoint written by hand of an untrained MNIST-shaped mlp (784-8-10) with an
    image config, for the commands' image readers."""
    from chainrule.cli import models
    from chainrule.train.checkpoint import make_checkpoint
    model = models.mlp(784, 10, hidden=(8,))
    config = {"model": {"kind": "mlp", "in_features": 784, "out_features": 10, "hidden": [8],
                        "activation": "relu", "dropout": 0.0, "batch_norm": False},
              "data": {"name": "mnist", "class_names": [str(i) for i in range(10)],
                       "preprocessing": {"kind": "image", "scale": 1 / 255, "mean": 0.13,
                                         "std": 0.31, "input_shape": [1, 28, 28]}}}
    path = tmp_path / "image.ckpt"
    cr.save(make_checkpoint(model, config=config), path)
    return path


@pytest.fixture
def run_notebook(tmp_path):
    """``run_notebook(nb, timeout=600)`` executes an nbformat notebook in place, in a fresh
    Jupyter kernel (nbclient + ipykernel) that imports this checkout's chainrule, works in
    ``tmp_path`` and talks over Unix sockets there (two pytest workers never race for ports);
    one BLAS thread, as two workers share two cores. A cell that raises fails the test with
    nbclient's CellExecutionError, which shows the cell and the traceback."""
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.manager import KernelManager
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="module://matplotlib_inline.backend_inline")

    def run(nb, timeout: int = 600):
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
        client = nbclient.NotebookClient(nb, km=km, timeout=timeout,
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute(env=env)
        return nb
    return run
