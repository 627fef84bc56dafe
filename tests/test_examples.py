"""The example scripts in examples/, each run through its ``main(...)`` on a small budget.

The full runs (README.md, "Examples") take minutes; these take seconds and check that each
example learns: LeNet-5 on 2,000 MNIST images for one epoch, the char-LSTM for 300 steps on
a 20,000-character piece of Shakespeare, and matrix factorisation on a small generated rating
set whose noise level (the best any model can do) is known.
"""
from __future__ import annotations

import importlib.util
import math
import os

import numpy as np
import pytest

from chainrule.data.datasets import load_shakespeare

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name: str):
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lenet_mnist_learns_from_2000_images_in_one_epoch():
    lenet = load_example("lenet_mnist")
    out = lenet.main(train_size=2000, test_size=2000, epochs=1, verbose=0)
    # 32 steps: measured 0.85-0.88 over seeds 0-4 (chance is 0.10).
    assert out["test_accuracy"] > 0.80
    assert out["test_loss"] < 0.8
    assert out["history"].epoch == [1] and out["history"]["lr"][0] > 0


def test_char_lstm_lowers_validation_loss_and_samples_the_requested_length():
    char_lstm = load_example("char_lstm_shakespeare")
    text = load_shakespeare()[:20000]
    out = char_lstm.main(text=text, seq_len=24, batch_size=16, hidden_size=48, epochs=3,
                         steps_per_epoch=100, max_val_windows=None, prompt="ROMEO:",
                         sample_length=123, verbose=0)
    vocab = out["corpus"].vocab_size
    val = out["val_loss"]
    # Uniform guessing costs ln(58) = 4.06 nats/char; 300 steps reach about 2.5.
    assert len(val) == 3 and val[-1] < val[0] and val[-1] < 2.7 < math.log(vocab)
    assert out["train_loss"][-1] < out["train_loss"][0]
    sample = out["sample"]
    assert sample.startswith("ROMEO:") and len(sample) == len("ROMEO:") + 123
    assert set(sample) <= set(out["corpus"].chars)


def test_char_lstm_rejects_a_text_too_short_to_split():
    char_lstm = load_example("char_lstm_shakespeare")
    with pytest.raises(ValueError, match="too short"):
        char_lstm.main(text="to be or not to be", seq_len=16, verbose=0)


def test_recommender_reaches_the_noise_floor():
    mf = load_example("recommender_mf")
    sigma = 0.3
    out = mf.main(n_users=400, n_items=300, rank=4, density=0.2, sigma=sigma, epochs=12,
                  lr=0.01, batch_size=256, verbose=0)
    rmse = out["rmse"]
    assert len(rmse) == 12 and out["sigma"] == sigma
    # No model can beat sigma on unseen ratings; this one gets within 20% of it (measured
    # 1.10 sigma), far below always predicting the mean (about 4.2 sigma).
    assert sigma < rmse[-1] < 1.2 * sigma
    assert out["mean_baseline_rmse"] > 3 * sigma
    assert rmse[0] > 2 * rmse[-1]


def test_generated_ratings_have_the_stated_structure():
    mf = load_example("recommender_mf")
    data = mf.make_ratings(n_users=50, n_items=40, rank=3, density=0.3, sigma=0.2, seed=1)
    pairs, ratings = data["pairs"], data["ratings"]
    assert pairs.dtype == np.int64 and ratings.dtype == np.float32
    assert len(np.unique(pairs, axis=0)) == len(pairs)  # each pair rated once
    # Every user and every item has a rating; about 30% of the pairs are observed.
    assert set(pairs[:, 0]) == set(range(50)) and set(pairs[:, 1]) == set(range(40))
    assert 0.25 < len(pairs) / (50 * 40) < 0.36
    assert abs(float(ratings.mean()) - 3.0) < 0.5


def test_playground_lesson_measures_the_slopes_and_the_gradient_flow():
    lesson = load_example("playground_lesson")
    out = lesson.main(epochs=3)
    # sigma'(z) = a (1 - a) is at most 1/4: every sigmoid layer shrinks the backward signal
    assert np.all(out["sigmoid_slope_start"] <= 0.25) and np.all(out["sigmoid_slope_start"] > 0.15)
    assert out["deep sigmoid"]["status"] == "vanishing"
    assert out["deep tanh"]["status"] == "healthy" and out["deep relu"]["status"] == "healthy"
    assert out["reg l1"]["near_zero"] > out["reg none"]["near_zero"]


# The import lines that turn examples/mnist_pytorch_style.py into a PyTorch script.
TORCH_IMPORTS = {
    "import chainrule as torch": "import torch",
    "import chainrule.nn as nn": "import torch.nn as nn",
    "import chainrule.nn.functional as F": "import torch.nn.functional as F",
    "import chainrule.optim as optim": "import torch.optim as optim",
    "from chainrule.data import datasets, transforms": "datasets = transforms = None  # torchvision",
    "from chainrule.optim.lr_scheduler import StepLR": "from torch.optim.lr_scheduler import StepLR",
}


def test_mnist_pytorch_style_is_pytorch_code_below_its_imports():
    """Only the import lines name chainrule; with PyTorch's imports the same Net, given the
    same weights, computes the same log-probabilities."""
    torch = pytest.importorskip("torch")
    import ast

    import chainrule as cr
    path = os.path.join(EXAMPLES, "mnist_pytorch_style.py")
    source = open(path, encoding="utf-8").read()
    tree = ast.parse(source)
    body = [node for node in tree.body[1:] if not isinstance(node, (ast.Import, ast.ImportFrom))]
    assert all("chainrule" not in ast.unparse(node) for node in body)
    imports = [ast.get_source_segment(source, n) for n in tree.body
               if isinstance(n, (ast.Import, ast.ImportFrom)) and "chainrule" in ast.unparse(n)]
    assert sorted(imports) == sorted(TORCH_IMPORTS)
    torch_source = source
    for ours, theirs in TORCH_IMPORTS.items():
        torch_source = torch_source.replace(ours, theirs)
    torch_namespace = {"__name__": "mnist_torch"}
    exec(compile(torch_source, "mnist_pytorch_style (torch)", "exec"), torch_namespace)
    theirs = torch_namespace["Net"]().double().eval()
    ours = load_example("mnist_pytorch_style").Net().double().eval()
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    np.testing.assert_allclose(ours(cr.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-9, atol=1e-12)


def test_mnist_pytorch_style_runs_a_few_steps(tmp_path, monkeypatch):
    import chainrule as cr
    if not hasattr(cr.optim, "Adadelta"):
        pytest.skip("the script's optimiser, optim.Adadelta, is not in chainrule.optim yet")
    mnist = load_example("mnist_pytorch_style")
    monkeypatch.chdir(tmp_path)
    out = mnist.main(["--epochs", "2", "--limit-batches", "4", "--batch-size", "16",
                      "--test-batch-size", "50", "--log-interval", "2", "--save-model"])
    assert len(out["results"]) == 2
    assert all(math.isfinite(loss) and 0 <= acc <= 1 for loss, _, acc in out["results"])
    saved = cr.load(tmp_path / "mnist_cnn.pt")
    assert sorted(saved) == sorted(out["model"].state_dict())


def test_transformer_lowers_validation_loss_and_samples_the_requested_length():
    gpt = load_example("transformer_shakespeare")
    text = load_shakespeare()[:20000]
    out = gpt.main(text=text, seq_len=24, batch_size=16, d_model=32, nhead=4, num_layers=2,
                   epochs=3, steps_per_epoch=60, warmup=10, lr=3e-3, max_val_windows=None,
                   sample_length=57, verbose=0)
    val = out["val_loss"]
    assert len(val) == 3 and val[-1] < val[0] and val[-1] < 2.8 < math.log(out["corpus"].vocab_size)
    sample = out["sample"]
    assert sample.startswith("ROMEO:") and len(sample) == len("ROMEO:") + 57
    assert set(sample) <= set(out["corpus"].chars)
