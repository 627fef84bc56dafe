"""cr.explain.trace: the worked example against a hand computation, random networks against
autograd (and torch), the self-check, several steps, and the renderings."""
from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.explain import TraceMismatchError, presets

trace_module = importlib.import_module("chainrule.explain.trace")


# ------------------------------------------------------------------ the 2-3-1 by hand
def _hand_231():
    """The classic example in plain float64 Python arithmetic (no chainrule, no NumPy)."""
    def sig(z):
        return 1.0 / (1.0 + math.exp(-z))

    x = [0.1, 0.2]
    w = {(1, 1): 0.1, (1, 2): 0.2, (1, 3): 0.3, (2, 1): 0.4, (2, 2): 0.5, (2, 3): 0.6}
    b1 = [0.1, 0.2, 0.3]
    v = [0.1, 0.2, 0.3]
    b2 = 0.2
    y, lr = 1.0, 0.1

    def forward(w, b1, v, b2):
        z1 = [w[(1, j)] * x[0] + w[(2, j)] * x[1] + b1[j - 1] for j in (1, 2, 3)]
        a1 = [sig(z) for z in z1]
        z2 = v[0] * a1[0] + v[1] * a1[1] + v[2] * a1[2] + b2
        return z1, a1, z2, sig(z2)

    z1, a1, z2, yhat = forward(w, b1, v, b2)
    J = (y - yhat) ** 2
    dJ_dyhat = -2.0 * (y - yhat)
    delta2 = dJ_dyhat * yhat * (1.0 - yhat)
    dv = [delta2 * a for a in a1]
    delta1 = [v[j] * delta2 * a1[j] * (1.0 - a1[j]) for j in range(3)]
    dw = {(i, j): delta1[j - 1] * x[i - 1] for i in (1, 2) for j in (1, 2, 3)}
    new_w = {k: w[k] - lr * dw[k] for k in w}
    new_b1 = [b1[j] - lr * delta1[j] for j in range(3)]
    new_v = [v[j] - lr * dv[j] for j in range(3)]
    new_b2 = b2 - lr * delta2
    *_, yhat_after = forward(new_w, new_b1, new_v, new_b2)
    return dict(z1=z1, a1=a1, z2=z2, yhat=yhat, J=J, dJ_dyhat=dJ_dyhat, delta2=delta2,
                dv=dv, delta1=delta1, dw=dw, new_w=new_w, new_b1=new_b1, new_v=new_v,
                new_b2=new_b2, J_after=(y - yhat_after) ** 2)


def test_example_231_matches_hand_computation():
    h = _hand_231()
    steps = {s.name: s for s in presets.example_231().trace(format="steps")}
    close = dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(steps["z1"].value.ravel(), h["z1"], **close)
    np.testing.assert_allclose(steps["a1"].value.ravel(), h["a1"], **close)
    np.testing.assert_allclose(steps["z2"].value.ravel(), [h["z2"]], **close)
    np.testing.assert_allclose(steps["a2"].value.ravel(), [h["yhat"]], **close)
    np.testing.assert_allclose(float(steps["J"].value), h["J"], **close)
    np.testing.assert_allclose(steps["dJ/dyhat"].value.ravel(), [h["dJ_dyhat"]], **close)
    np.testing.assert_allclose(steps["delta2"].value.ravel(), [h["delta2"]], **close)
    np.testing.assert_allclose(steps["dJ/dW2"].value.ravel(), h["dv"], **close)
    np.testing.assert_allclose(steps["dJ/db2"].value.ravel(), [h["delta2"]], **close)
    np.testing.assert_allclose(steps["delta1"].value.ravel(), h["delta1"], **close)
    # W1[j, i] = w_ij: the gradient matrix has the same layout
    dW1 = [[h["dw"][(i, j)] for i in (1, 2)] for j in (1, 2, 3)]
    np.testing.assert_allclose(steps["dJ/dW1"].value, dW1, **close)
    np.testing.assert_allclose(steps["dJ/db1"].value, h["delta1"], **close)
    W1_new = [[h["new_w"][(i, j)] for i in (1, 2)] for j in (1, 2, 3)]
    np.testing.assert_allclose(steps["W1"].value, W1_new, **close)
    np.testing.assert_allclose(steps["b1"].value, h["new_b1"], **close)
    np.testing.assert_allclose(steps["W2"].value.ravel(), h["new_v"], **close)
    np.testing.assert_allclose(steps["b2"].value.ravel(), [h["new_b2"]], **close)
    # the published values of this exercise, to the digits usually quoted
    assert abs(h["yhat"] - 0.63502) < 1e-5 and abs(h["J"] - 0.13321) < 1e-5


def test_example_231_printed_numbers_are_the_hand_numbers():
    h = _hand_231()
    text = presets.example_231().trace()
    six = lambda v: f"{v:.6g}"  # noqa: E731  (the trace prints 6 significant digits)
    wanted = (h["z1"] + h["a1"] + [h["z2"], h["yhat"], h["J"], h["dJ_dyhat"], h["delta2"]]
              + h["dv"] + h["delta1"] + list(h["dw"].values()) + list(h["new_w"].values())
              + h["new_b1"] + h["new_v"] + [h["new_b2"], h["J_after"]])
    missing = [six(v) for v in wanted if six(v) not in text]
    assert not missing, f"numbers not printed: {missing}"
    assert "z1[1] = W1[1,1]*x[1] + W1[1,2]*x[2] + b1[1] = 0.1*0.1 + 0.4*0.2 + 0.1 = 0.19" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_example_leaves_its_model_and_precision_option():
    ex = presets.example_231()
    before = [p.numpy().copy() for p in ex.model.parameters()]
    text = ex.trace(precision=3)
    assert "0.635" in text and "0.635015" not in text
    for p, b in zip(ex.model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)


# ------------------------------------------------------------ random networks vs autograd
_ACTS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "identity": nn.Identity,
         "none": None}


def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    cr.manual_seed(seed)
    depth = int(rng.integers(1, 5))
    sizes = [int(s) for s in rng.integers(1, 5, size=depth + 1)]
    loss = str(rng.choice(["mse", "mse_half", "ce", "bce"]))
    if loss == "ce":
        sizes[-1] = max(sizes[-1], 2)
    mods, acts = [], []
    for l in range(depth):
        mods.append(nn.Linear(sizes[l], sizes[l + 1], bias=bool(rng.random() < 0.85)))
        last = l == depth - 1
        choice = str(rng.choice(["sigmoid", "tanh", "relu", "identity", "none"]))
        if last and loss == "ce":
            choice = "none"
        if last and loss == "bce":
            choice = str(rng.choice(["sigmoid", "none"]))
        if _ACTS[choice] is not None:
            mods.append(_ACTS[choice]())
        acts.append(choice)
    model = nn.Sequential(*mods)
    batch = int(rng.integers(1, 4))
    single = bool(rng.random() < 0.4)
    x = rng.normal(size=(sizes[0],) if single else (batch, sizes[0]))
    b = 1 if single else batch
    if loss == "ce":
        idx = rng.integers(0, sizes[-1], size=b)
        y = int(idx[0]) if single else idx
    elif loss == "bce":
        y = rng.integers(0, 2, size=(b, sizes[-1])).astype(np.float64)
    else:
        y = rng.normal(size=(b, sizes[-1]))
    if single and loss != "ce":
        y = y[0]
    return model, x, y, loss, acts


def _autograd_grads(model, x, y, loss, acts):
    """The same loss through chainrule's nn losses and backward, on a float64 copy."""
    import copy
    m = copy.deepcopy(model).double()
    xt = cr.tensor(np.atleast_2d(x), dtype=np.float64)
    out = m(xt)
    B = xt.shape[0]
    if loss in ("mse", "mse_half"):
        yt = cr.tensor(np.asarray(y, dtype=np.float64).reshape(out.shape))
        J = nn.MSELoss(reduction="sum")(out, yt) * ((1.0 if loss == "mse" else 0.5) / B)
    elif loss == "ce":
        J = nn.CrossEntropyLoss()(out, cr.tensor(np.atleast_1d(y).astype(np.int64)))
    else:
        yt = cr.tensor(np.asarray(y, dtype=np.float64).reshape(out.shape))
        fn = nn.BCELoss(reduction="sum") if acts[-1] == "sigmoid" else \
            nn.BCEWithLogitsLoss(reduction="sum")
        J = fn(out, yt) * (1.0 / B)
    J.backward()
    linears = [mod for mod in m.modules() if isinstance(mod, nn.Linear)]
    return float(J.item()), linears


@pytest.mark.parametrize("seed", range(16))
def test_random_networks_match_autograd(seed):
    model, x, y, loss, acts = _random_case(seed)
    steps = cr.explain.trace(model, x, y, loss=loss, lr=0.05, format="steps")
    J, linears = _autograd_grads(model, x, y, loss, acts)
    by = {s.name: s for s in steps}
    np.testing.assert_allclose(float(by["J"].value), J, rtol=1e-10)
    for l, lin in enumerate(linears, start=1):
        np.testing.assert_allclose(by[f"dJ/dW{l}"].value, lin.weight.grad.numpy(), rtol=1e-9,
                                   atol=1e-12)
        if lin.bias is not None:
            np.testing.assert_allclose(by[f"dJ/db{l}"].value, lin.bias.grad.numpy(), rtol=1e-9,
                                       atol=1e-12)
        else:
            assert f"dJ/db{l}" not in by
        np.testing.assert_allclose(by[f"W{l}"].value,
                                   lin.weight.numpy() - 0.05 * lin.weight.grad.numpy(), rtol=1e-12)
    assert all(s.checked for s in steps if s.kind.startswith(("grad", "output", "hidden")))


@pytest.mark.parametrize("seed", [3, 7, 11])
def test_random_networks_match_torch(seed):
    torch = pytest.importorskip("torch")
    model, x, y, loss, acts = _random_case(seed)
    steps = {s.name: s for s in cr.explain.trace(model, x, y, loss=loss, format="steps")}
    layers = []
    for mod in model.children():
        if isinstance(mod, nn.Linear):
            lin = torch.nn.Linear(mod.in_features, mod.out_features, bias=mod.bias is not None,
                                  dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(mod.weight.numpy().astype(np.float64)))
                if mod.bias is not None:
                    lin.bias.copy_(torch.from_numpy(mod.bias.numpy().astype(np.float64)))
            layers.append(lin)
        else:
            layers.append({"Sigmoid": torch.nn.Sigmoid, "Tanh": torch.nn.Tanh,
                           "ReLU": torch.nn.ReLU, "Identity": torch.nn.Identity}[
                               type(mod).__name__]())
    tm = torch.nn.Sequential(*layers)
    xt = torch.from_numpy(np.atleast_2d(x).astype(np.float64))
    out = tm(xt)
    B = xt.shape[0]
    if loss in ("mse", "mse_half"):
        yt = torch.from_numpy(np.asarray(y, dtype=np.float64).reshape(out.shape))
        J = torch.nn.functional.mse_loss(out, yt, reduction="sum") * (
            (1.0 if loss == "mse" else 0.5) / B)
    elif loss == "ce":
        J = torch.nn.functional.cross_entropy(out, torch.from_numpy(np.atleast_1d(y)))
    else:
        yt = torch.from_numpy(np.asarray(y, dtype=np.float64).reshape(out.shape))
        fn = (torch.nn.functional.binary_cross_entropy if acts[-1] == "sigmoid"
              else torch.nn.functional.binary_cross_entropy_with_logits)
        J = fn(out, yt, reduction="sum") / B
    J.backward()
    np.testing.assert_allclose(float(steps["J"].value), J.item(), rtol=1e-10)
    lins = [m for m in tm if isinstance(m, torch.nn.Linear)]
    for l, lin in enumerate(lins, start=1):
        np.testing.assert_allclose(steps[f"dJ/dW{l}"].value, lin.weight.grad.numpy(),
                                   rtol=1e-9, atol=1e-12)


# -------------------------------------------------------------------- the self-check
def test_corrupted_sigmoid_backward_is_caught(monkeypatch):
    from chainrule.ops import elementwise
    original = elementwise.Sigmoid.backward

    def off_by_one_percent(ctx, g):
        return original(ctx, g) * 1.01

    monkeypatch.setattr(elementwise.Sigmoid, "backward", staticmethod(off_by_one_percent))
    with pytest.raises(TraceMismatchError) as err:
        presets.example_231().trace()
    msg = str(err.value)
    assert "delta2" in msg and "trace:" in msg and "autograd:" in msg


def test_corrupted_weight_gradient_is_caught(monkeypatch):
    from chainrule.ops import nn as nn_ops
    original = nn_ops.Linear.backward

    def perturbed(ctx, g):
        gx, gw, gb = original(ctx, g)
        if gw is not None:
            gw = gw.copy()
            gw.reshape(-1)[0] += 1e-6
        return gx, gw, gb

    monkeypatch.setattr(nn_ops.Linear, "backward", staticmethod(perturbed))
    with pytest.raises(TraceMismatchError, match=r"dJ/dW2 \(step 1\)"):
        presets.example_231().trace()


def test_mismatch_names_quantity_and_both_values():
    with pytest.raises(TraceMismatchError) as err:
        trace_module._check("dJ/dW3", 2, np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    msg = str(err.value)
    assert "dJ/dW3 (step 2)" in msg and "[1.0, 2.0]" in msg and "[1.0, 2.5]" in msg


# -------------------------------------------------------------------- steps and model
def test_several_steps_show_the_loss_falling():
    tr = trace_module.compute_trace(presets.example_231().model, [0.1, 0.2], [1.0], steps=5)
    losses = tr.losses + [tr.final_loss]
    assert all(b < a for a, b in zip(losses, losses[1:]))
    text = tr.to_text()
    assert "== Step 5 " in text and "Loss over the steps" in text
    assert text.count("The loss falls") == 5


def test_model_untouched_unless_update_model():
    ex = presets.example_231()
    before = [p.numpy().copy() for p in ex.model.parameters()]
    steps = cr.explain.trace(ex.model, ex.x, ex.y, steps=2, format="steps")
    for p, b in zip(ex.model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)
    cr.explain.trace(ex.model, ex.x, ex.y, steps=2, update_model=True)
    finals = {s.name: s.value for s in steps if s.step == 2 and s.kind.startswith("update")}
    np.testing.assert_allclose(ex.model[0].weight.numpy(), finals["W1"], rtol=1e-12)
    np.testing.assert_allclose(ex.model[2].bias.numpy(), finals["b2"], rtol=1e-12)


def test_float32_model_is_traced_in_float64():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    assert model[0].weight.dtype == np.float32
    steps = cr.explain.trace(model, [0.5, -0.25, 1.0], [0.3], format="steps")
    assert all(s.value.dtype == np.float64 for s in steps)
    assert model[0].weight.dtype == np.float32


# ------------------------------------------------------------------------- renderings
def test_markdown_has_latex_blocks():
    md = presets.example_231().trace(format="markdown")
    assert md.startswith("## One training step of a 2-3-1 network")
    assert md.count("$$") % 2 == 0 and r"\begin{aligned}" in md
    assert r"\sigma" in md and r"\frac{\partial J}{\partial W^{(1)}_{11}}" in md
    assert "^\\top" in md and "}^\\top" in md            # {a^{(1)}}^\top: no double superscript
    assert hasattr(md, "_repr_markdown_")


def test_json_and_steps_formats():
    ex = presets.example_231()
    doc = json.loads(ex.trace(format="json"))
    assert doc["sizes"] == [2, 3, 1] and doc["loss"] == "mse"
    names = [s["name"] for s in doc["steps"]]
    assert names[:4] == ["z1", "a1", "z2", "a2"] and "delta1" in names
    steps = ex.trace(format="steps")
    assert all(isinstance(s, trace_module.TraceStep) for s in steps)
    d = steps[0].to_dict()
    assert d["formula"] == "z1 = W1 x + b1" and d["latex"].startswith("z^{(1)}")


def test_batch_rendering_is_in_row_form_and_fits_80_columns():
    cr.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3))
    x = np.random.default_rng(0).normal(size=(3, 3))
    text = cr.explain.trace(model, x, np.array([0, 2, 1]), loss="ce", steps=2)
    assert "z1 = x W1^T + b1" in text and "mean over the batch" in text
    assert "dJ/dW1 = delta1^T x" in text
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("loss,y,last", [("ce", [0.0, 1.0], None), ("bce", [1.0], nn.Sigmoid),
                                         ("mse_half", [0.5], nn.Tanh)])
def test_other_losses_render(loss, y, last):
    cr.manual_seed(1)
    mods = [nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, len(y))] + ([last()] if last else [])
    text = cr.explain.trace(nn.Sequential(*mods), [0.3, -0.7], y, loss=loss)
    assert "delta2" in text and "dJ/dW1" in text


# ------------------------------------------------------------------------ bad input
def test_clear_errors():
    model = presets.example_231().model
    with pytest.raises(ValueError, match="loss must be one of"):
        cr.explain.trace(model, [0.1, 0.2], [1.0], loss="hinge")
    with pytest.raises(ValueError, match="x has 3 values but the first Linear expects 2"):
        cr.explain.trace(model, [0.1, 0.2, 0.3], [1.0])
    with pytest.raises(ValueError, match="y must have shape"):
        cr.explain.trace(model, [0.1, 0.2], [1.0, 0.0])
    with pytest.raises(ValueError, match="loss='ce' applies softmax"):
        cr.explain.trace(model, [0.1, 0.2], 0, loss="ce")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        cr.explain.trace(model, [0.1, 0.2], [1.0], steps=0)
    with pytest.raises(TypeError, match="cannot explain a Dropout layer"):
        cr.explain.trace(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)), [0.1, 0.2], [1.0, 0.0])
    with pytest.raises(ValueError, match="class indices must lie in"):
        cr.explain.trace(nn.Sequential(nn.Linear(2, 2)), [0.1, 0.2], 5, loss="ce")
