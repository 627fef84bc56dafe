"""Gradient-flow diagnosis: it flags purpose-built vanishing and exploding networks, stays
quiet on healthy ones, and the numbers it reports are the real norms."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _deep_sigmoid(depth=10, width=32):
    return nn.Sequential(*[m for _ in range(depth)
                           for m in (nn.Linear(width, width), nn.Sigmoid())])


def _healthy_mlp():
    return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 3))


def test_vanishing_is_flagged_with_advice():
    cr.manual_seed(0)
    model = _deep_sigmoid()
    report = cr.explain.diagnose(model, cr.randn(64, 32), cr.randn(64, 32), nn.MSELoss(), lr=0.1)
    assert report.status == "vanishing" and not report.healthy
    norms = [p.grad_norm for p in report.flow.weights]
    assert norms[0] < 1e-3 * norms[-1]                     # orders of magnitude apart
    text = str(report)
    assert text.startswith("Gradient flow: vanishing gradients\n")
    assert "ReLU" in text and "xavier" in text.lower() and "BatchNorm1d" in text


def test_exploding_large_weights_high_lr():
    cr.manual_seed(1)
    model = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(32, 32), nn.ReLU())],
                          nn.Linear(32, 1))
    for p in model.parameters():
        if p.ndim == 2:
            nn.init.normal_(p, 0.0, 1.0)
    report = cr.explain.diagnose(model, cr.randn(64, 32), cr.randn(64, 1), nn.MSELoss(), lr=0.5)
    assert "exploding" in report.status
    assert max(p.update_ratio for p in report.flow.weights) > 1e3 * 1e-3
    text = str(report)
    assert "learning rate" in text and "clip_grad_norm_" in text


def test_non_finite_is_exploding():
    cr.manual_seed(2)
    model = nn.Sequential(*[m for _ in range(8) for m in (nn.Linear(16, 16), nn.ReLU())])
    for p in model.parameters():
        nn.init.normal_(p, 0.0, 300.0)
    report = cr.explain.diagnose(model, cr.randn(8, 16), cr.randn(8, 16), nn.MSELoss(), lr=0.01)
    assert report.status == "exploding"
    assert "NaN or Inf" in report.verdict or "overflowed" in report.verdict


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lr", [0.01, 0.1])
def test_healthy_relu_mlp_is_quiet(seed, lr):
    cr.manual_seed(seed)
    model = _healthy_mlp()
    report = cr.explain.diagnose(model, cr.randn(64, 20), cr.randint(0, 3, (64,)),
                                 nn.CrossEntropyLoss(), lr=lr)
    assert report.status == "healthy", str(report)
    assert report.findings == [] and report.advice == []


def test_diagnose_leaves_model_and_grads_alone():
    cr.manual_seed(0)
    model = _healthy_mlp()
    before = [p.numpy().copy() for p in model.parameters()]
    cr.explain.diagnose(model, cr.randn(4, 20), cr.randint(0, 3, (4,)), nn.CrossEntropyLoss())
    assert all(p.grad is None for p in model.parameters())
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)


def test_gradient_flow_numbers_and_before_after():
    cr.manual_seed(0)
    model = _healthy_mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    nn.CrossEntropyLoss()(model(cr.randn(16, 20)), cr.randint(0, 3, (16,))).backward()
    flow = cr.explain.gradient_flow(model, lr=0.1)
    first = model[0].weight
    row = flow.params[0]
    assert row.name == "0.weight" and row.shape == (64, 20)
    np.testing.assert_allclose(row.grad_norm, np.linalg.norm(first.grad.numpy()), rtol=1e-6)
    np.testing.assert_allclose(row.weight_norm, np.linalg.norm(first.numpy()), rtol=1e-6)
    np.testing.assert_allclose(row.update_ratio, 0.1 * row.grad_norm / row.weight_norm)
    snap = cr.explain.weights_snapshot(model)
    opt.step()
    measured = cr.explain.gradient_flow(model, before=snap)
    np.testing.assert_allclose([p.update_ratio for p in measured.params],
                               [p.update_ratio for p in flow.params], rtol=1e-4)
    assert "0.weight" in str(flow) and "update/weight" in str(flow)
    assert cr.explain.gradient_flow(model).params[0].update_ratio is None


def test_gradient_flow_needs_gradients():
    with pytest.raises(ValueError, match="run loss.backward"):
        cr.explain.gradient_flow(_healthy_mlp())
    with pytest.raises(TypeError, match="expected a Module"):
        cr.explain.gradient_flow([1, 2])


def test_plot_writes_png_and_explains_missing_matplotlib(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    cr.manual_seed(0)
    report = cr.explain.diagnose(_deep_sigmoid(depth=4), cr.randn(8, 32), cr.randn(8, 32),
                                 nn.MSELoss())
    path = report.plot(str(tmp_path / "flow.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        report.plot(str(tmp_path / "again.png"))


def test_callback_in_a_plain_loop(tmp_path):
    pytest.importorskip("matplotlib")
    cr.manual_seed(0)
    model = _deep_sigmoid(depth=6, width=8)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    cb = cr.explain.GradientFlowCallback(lr=0.1)
    x, y = cr.randn(32, 8), cr.randn(32, 8)
    for epoch in (1, 2):
        for i in range(0, 32, 8):
            opt.zero_grad()
            nn.MSELoss()(model(x[i:i + 8]), y[i:i + 8]).backward()
            opt.step()
            cb.on_batch_end(model)
        cb.on_epoch_end(epoch)
    assert [e["epoch"] for e in cb.epochs] == [1, 2]
    assert cb.epochs[0]["batches"] == 4 and cb.epochs[-1]["status"] == "vanishing"
    assert set(cb.epochs[0]["grad_norm"]) == {n for n, _ in model.named_parameters()}
    assert cb.plot(str(tmp_path / "epochs.png")).endswith("epochs.png")


def test_callback_with_fit_measures_real_updates():
    cr.manual_seed(0)
    model = _healthy_mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.05)
    x, y = cr.randn(32, 20), cr.randint(0, 3, (32,))
    loader = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8)]
    cb = cr.explain.GradientFlowCallback()
    cr.train.fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=2, metrics=(),
                 callbacks=[cb], verbose=0)
    assert len(cb.epochs) == 2 and cb.epochs[-1]["status"] == "healthy"
    ratio = cb.epochs[-1]["update_ratio"]["0.weight"]
    flow_lr = cb.epochs[-1]["report"].flow.lr
    assert flow_lr == pytest.approx(0.05) and 0 < ratio < 0.5
