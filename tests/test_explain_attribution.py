"""Attribution methods (chainrule.explain.attribution) against Captum on PyTorch twins.

Each of three small models -- an MLP, LeNet-5 (on 16x16 images) and an LSTM classifier --
is built in chainrule and in PyTorch with the same weights (the state dicts share PyTorch's
names). Every method's attributions must equal Captum's on the same inputs and targets.

Tolerances, stated per method (float64 unless named; |a| is the largest magnitude):
* Saliency, InputXGradient, GuidedBackprop, DeepLift, LayerGradCam, FeatureAblation,
  NoiseTunnel: 1e-9 |a| -- the same arithmetic in a different order.
* IntegratedGradients: 1e-6 |a| -- Captum rounds the rule's step sizes to float32
  (``torch.tensor(step_sizes).float()``) before weighting float64 gradients.
* Occlusion: 1e-6 |a| -- Captum returns it as float32 (``.float()`` before dividing by the
  window counts).
* float32 runs of the default model: 1e-4 |a|.
DeepLift: Captum 0.9.0 computes wrong multipliers when two of its hooked nonlinearity modules
touch (ReLU -> MaxPool2d in LeNet, ReLU -> Tanh, MaxPool -> Tanh): its own convergence delta
is then far from zero, while ours is 0 to rounding. Its backward hooks work on a module's
own input and output, so a pass-through module (``x * 1``) between the two restores them;
the DeepLift tests give Captum twins with that module inserted (``_apart``), the same
function, and then agree to 1e-9.
NoiseTunnel draws its noise from a NumPy generator; Captum's ``torch.normal`` is replaced
for the test by one that draws the same numbers from an equally seeded generator.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import models
from chainrule.explain import attribution as A

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")
tnn = torch.nn

N = 3            # examples per batch
CLASSES = 4


# ------------------------------------------------------------------------------ the twins
class LSTMClassifier(nn.Module):
    """Sequences (N, T, F) -> class logits from the last step."""

    def __init__(self, features=3, hidden=6, classes=CLASSES):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, 8), nn.ReLU(), nn.Linear(8, classes))

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class TorchLSTMClassifier(tnn.Module):
    def __init__(self, features=3, hidden=6, classes=CLASSES):
        super().__init__()
        self.lstm = tnn.LSTM(features, hidden, batch_first=True)
        self.head = tnn.Sequential(tnn.Linear(hidden, 8), tnn.ReLU(), tnn.Linear(8, classes))

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def torch_mlp():
    return tnn.Sequential(tnn.Flatten(), tnn.Linear(12, 16), tnn.ReLU(), tnn.Linear(16, 8),
                          tnn.ReLU(), tnn.Linear(8, CLASSES))


def torch_lenet():
    return tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                          tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                          tnn.Linear(16 * 2 * 2, 120), tnn.ReLU(), tnn.Linear(120, 84),
                          tnn.ReLU(), tnn.Linear(84, CLASSES))


def _twin(name: str):
    cr.manual_seed(7)
    if name == "mlp":
        ours, theirs, shape = models.mlp(12, CLASSES, hidden=(16, 8)), torch_mlp(), (12,)
    elif name == "lenet":
        ours, theirs, shape = models.cnn(1, CLASSES, image_size=16), torch_lenet(), (1, 16, 16)
    else:
        ours, theirs, shape = LSTMClassifier(), TorchLSTMClassifier(), (5, 3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(3).normal(size=(N,) + shape)
    return ours.eval(), theirs.eval(), x


@pytest.fixture(params=["mlp", "lenet", "lstm"])
def twin64(request):
    """(chainrule model, its float64 PyTorch twin, float64 inputs), Captum in float64."""
    ours, theirs, x = _twin(request.param)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)     # Captum's alphas and noise scales in float64
    try:
        yield request.param, ours, theirs.double(), x
    finally:
        torch.set_default_dtype(old)


class _PassThrough(tnn.Module):
    def forward(self, x):
        return x * 1.0


_HOOKED = (tnn.ReLU, tnn.ELU, tnn.LeakyReLU, tnn.Sigmoid, tnn.Tanh, tnn.Softplus,
           tnn.MaxPool1d, tnn.MaxPool2d)


def _apart(model):
    """The same torch Sequential with a pass-through between touching nonlinearities (for
    Captum's DeepLift; see the module docstring). Other models are returned as they are."""
    if not isinstance(model, tnn.Sequential):
        return model
    layers = list(model)
    out = []
    for layer, following in zip(layers, layers[1:] + [None]):
        out.append(layer)
        if isinstance(layer, _HOOKED) and isinstance(following, _HOOKED):
            out.append(_PassThrough())
    return tnn.Sequential(*out)


TARGETS = [2, 0, 3]     # one per example


def _ours(attr) -> np.ndarray:
    return np.asarray(attr.numpy(), dtype=np.float64)


def _theirs(attr) -> np.ndarray:
    return attr.detach().numpy().astype(np.float64)


def assert_close(ours, theirs, rel: float) -> None:
    ours, theirs = _ours(ours), _theirs(theirs)
    assert ours.shape == theirs.shape
    scale = max(np.abs(theirs).max(), 1e-30)
    assert np.abs(ours - theirs).max() <= rel * scale, np.abs(ours - theirs).max() / scale


def _captum(cls, model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # DeepLift and GuidedBackprop warn about hooks
        return cls(model, *args, **kwargs)


def _call(method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return method.attribute(*args, **kwargs)


# --------------------------------------------------------------------- gradient methods
@pytest.mark.parametrize("absolute", [True, False])
def test_saliency_equals_captum(twin64, absolute):
    _, ours, theirs, x = twin64
    got = A.Saliency(ours, dtype=cr.float64).attribute(cr.tensor(x), target=TARGETS,
                                                       abs=absolute)
    want = _call(captum_attr.Saliency(theirs), torch.tensor(x), target=TARGETS, abs=absolute)
    assert_close(got, want, 1e-9)


def test_input_x_gradient_equals_captum(twin64):
    _, ours, theirs, x = twin64
    got = A.InputXGradient(ours, dtype=cr.float64).attribute(cr.tensor(x), target=1)
    want = captum_attr.InputXGradient(theirs).attribute(torch.tensor(x), target=1)
    assert_close(got, want, 1e-9)


@pytest.mark.parametrize("method", A.INTEGRATION_METHODS)
def test_integrated_gradients_equals_captum_for_every_rule(twin64, method):
    name, ours, theirs, x = twin64
    baseline = np.full(x.shape[1:], 0.25)[None]
    got, delta = A.IntegratedGradients(ours, dtype=cr.float64).attribute(
        cr.tensor(x), baselines=cr.tensor(baseline), target=TARGETS, n_steps=12,
        method=method, return_convergence_delta=True)
    want, want_delta = captum_attr.IntegratedGradients(theirs).attribute(
        torch.tensor(x), baselines=torch.tensor(baseline), target=TARGETS, n_steps=12,
        method=method, return_convergence_delta=True)
    assert_close(got, want, 1e-6)
    scale = np.abs(_theirs(want)).sum()
    assert np.abs(_ours(delta) - _theirs(want_delta)).max() <= 1e-6 * scale


def test_integrated_gradients_internal_batches_and_local_attributions(twin64):
    _, ours, theirs, x = twin64
    got = A.IntegratedGradients(ours, multiply_by_inputs=False, dtype=cr.float64).attribute(
        cr.tensor(x), target=2, n_steps=7, internal_batch_size=2 * N)
    want = captum_attr.IntegratedGradients(theirs, multiply_by_inputs=False).attribute(
        torch.tensor(x), target=2, n_steps=7, internal_batch_size=2 * N)
    assert_close(got, want, 1e-6)


def test_integrated_gradients_completeness(twin64):
    """The attributions add up to f(x) - f(baseline): the returned delta is exactly that
    difference, and it shrinks as the rule's steps grow (the ReLUs' kinks keep the
    Gauss-Legendre rule from converging faster than about 1/steps)."""
    name, ours, _, x = twin64
    ig = A.IntegratedGradients(ours, dtype=cr.float64)
    model64 = ours.double()
    try:
        with cr.no_grad():
            out_x = model64(cr.tensor(x)).numpy()[np.arange(N), TARGETS]
            out_b = model64(cr.zeros(*x.shape, dtype=cr.float64)).numpy()[np.arange(N), TARGETS]
    finally:
        ours.float()
    deltas = []
    for steps in (8, 256):
        attr, delta = ig.attribute(cr.tensor(x), target=TARGETS, n_steps=steps,
                                   return_convergence_delta=True)
        total = _ours(attr).reshape(N, -1).sum(1)
        np.testing.assert_allclose(_ours(delta), total - (out_x - out_b), rtol=0, atol=1e-12)
        deltas.append(np.abs(_ours(delta)).max())
    change = np.abs(out_x - out_b).max()
    assert deltas[1] <= 1e-2 * change, (deltas, change)
    assert deltas[1] <= deltas[0] / 4, deltas


@pytest.mark.parametrize("nt_type", A.NOISE_TUNNEL_TYPES)
def test_noise_tunnel_equals_captum_with_the_same_noise(twin64, nt_type, monkeypatch):
    _, ours, theirs, x = twin64
    draws = np.random.default_rng(11)

    def same_normal(mean, std, *args, **kwargs):
        arr = std.numpy()
        return torch.tensor(mean + draws.standard_normal(arr.shape) * arr, dtype=std.dtype)

    monkeypatch.setattr(torch, "normal", same_normal)
    got = A.NoiseTunnel(A.Saliency(ours, dtype=cr.float64)).attribute(
        cr.tensor(x), nt_type=nt_type, nt_samples=5, nt_samples_batch_size=2, stdevs=0.3,
        generator=np.random.default_rng(11), target=TARGETS, abs=False)
    want = captum_attr.NoiseTunnel(captum_attr.Saliency(theirs)).attribute(
        torch.tensor(x), nt_type=nt_type, nt_samples=5, nt_samples_batch_size=2, stdevs=0.3,
        target=TARGETS, abs=False)
    assert_close(got, want, 1e-9)


def test_noise_tunnel_around_integrated_gradients_returns_every_delta(twin64, monkeypatch):
    _, ours, theirs, x = twin64
    draws = np.random.default_rng(5)
    monkeypatch.setattr(torch, "normal", lambda mean, std: torch.tensor(
        mean + draws.standard_normal(tuple(std.shape)) * std.numpy()))
    got, delta = A.NoiseTunnel(A.IntegratedGradients(ours, dtype=cr.float64)).attribute(
        cr.tensor(x), nt_samples=3, stdevs=0.2, generator=np.random.default_rng(5),
        target=1, n_steps=6, return_convergence_delta=True)
    want, want_delta = captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(theirs)).attribute(
        torch.tensor(x), nt_samples=3, stdevs=0.2, target=1, n_steps=6,
        return_convergence_delta=True)
    assert_close(got, want, 1e-6)
    assert delta.shape == (3 * N,)
    assert np.abs(_ours(delta) - _theirs(want_delta)).max() <= 1e-6 * np.abs(_theirs(want)).sum()


# ---------------------------------------------------------------- modified backward rules
def test_guided_backprop_equals_captum(twin64):
    _, ours, theirs, x = twin64
    got = A.GuidedBackprop(ours, dtype=cr.float64).attribute(cr.tensor(x), target=TARGETS)
    want = _call(_captum(captum_attr.GuidedBackprop, theirs), torch.tensor(x), target=TARGETS)
    assert_close(got, want, 1e-9)


def test_deeplift_equals_captum_and_sums_to_the_output_change(twin64):
    name, ours, theirs, x = twin64
    baseline = np.random.default_rng(4).normal(size=x.shape) * 0.1
    got, delta = A.DeepLift(ours, dtype=cr.float64).attribute(
        cr.tensor(x), baselines=cr.tensor(baseline), target=TARGETS,
        return_convergence_delta=True)
    want, want_delta = _call(_captum(captum_attr.DeepLift, _apart(theirs)), torch.tensor(x),
                             baselines=torch.tensor(baseline), target=TARGETS,
                             return_convergence_delta=True)
    assert_close(got, want, 1e-9)
    np.testing.assert_allclose(_ours(delta), _theirs(want_delta), atol=1e-9)
    if name != "lstm":     # linear layers + rescaled modules: summation-to-delta is exact
        assert np.abs(_ours(delta)).max() < 1e-10


def test_deeplift_local_multipliers_equal_captum():
    ours, theirs, x = _twin("lenet")
    got = A.DeepLift(ours, multiply_by_inputs=False).attribute(cr.tensor(x.astype(np.float32)),
                                                               target=1)
    want = _call(_captum(captum_attr.DeepLift, _apart(theirs), multiply_by_inputs=False),
                 torch.tensor(x, dtype=torch.float32), target=1)
    assert_close(got, want, 1e-4)


def test_deeplift_refuses_a_softmax_module():
    model = nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=1))
    with pytest.raises(ValueError, match="Softmax"):
        A.DeepLift(model).attribute(cr.randn(2, 3), target=0)


def test_rules_leave_the_model_unchanged():
    ours, _, x = _twin("lenet")
    before = ours(cr.tensor(x.astype(np.float32))).numpy()
    A.DeepLift(ours).attribute(cr.tensor(x.astype(np.float32)), target=0)
    A.GuidedBackprop(ours).attribute(cr.tensor(x.astype(np.float32)), target=0)
    assert all(not m._forward_hooks for m in ours.modules())
    xt = cr.tensor(x.astype(np.float32), requires_grad=True)
    ours(xt)[:, 0].sum().backward()
    np.testing.assert_array_equal(ours(cr.tensor(x.astype(np.float32))).numpy(), before)


# ------------------------------------------------------------------------------ Grad-CAM
@pytest.mark.parametrize("layer_index", [0, 3, 4])
@pytest.mark.parametrize("options", [{}, {"relu_attributions": True},
                                     {"attr_dim_summation": False},
                                     {"attribute_to_layer_input": True}])
def test_layer_grad_cam_equals_captum(layer_index, options):
    ours, theirs, x = _twin("lenet")
    ours.double(), theirs.double()
    got = A.LayerGradCam(ours, ours[layer_index]).attribute(cr.tensor(x), target=TARGETS,
                                                           **options)
    want = captum_attr.LayerGradCam(theirs, theirs[layer_index]).attribute(
        torch.tensor(x), target=TARGETS, **options)
    assert_close(got, want, 1e-9)


def test_layer_grad_cam_on_a_float64_copy_finds_the_same_layer():
    ours, theirs, x = _twin("lenet")
    got = A.LayerGradCam(ours, ours[3], dtype=cr.float64).attribute(cr.tensor(x), target=1)
    assert got.dtype == np.float64 and ours[3].weight.dtype == np.float32
    want = captum_attr.LayerGradCam(theirs.double(), theirs[3]).attribute(torch.tensor(x),
                                                                          target=1)
    assert_close(got, want, 1e-6)    # the float32 weights, computed in float64 by both


def test_layer_grad_cam_rejects_a_layer_with_a_tuple_output():
    ours, _, x = _twin("lstm")
    with pytest.raises(TypeError, match="tuple"):
        A.LayerGradCam(ours, ours.lstm).attribute(cr.tensor(x.astype(np.float32)), target=0)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(16, 16), (7, 5)])
def test_interpolate_equals_captum(mode, size):
    cam = np.random.default_rng(0).normal(size=(2, 1, 5, 6))
    got = A.LayerAttribution.interpolate(cr.tensor(cam), size, mode)
    want = captum_attr.LayerAttribution.interpolate(torch.tensor(cam), size, mode)
    assert_close(got, want, 1e-12)


# --------------------------------------------------------------------- perturbation methods
def test_feature_ablation_equals_captum(twin64):
    name, ours, theirs, x = twin64
    per_eval = 16 if name == "lenet" else 1       # LeNet's 256 pixels: 16 batches
    got = A.FeatureAblation(ours, dtype=cr.float64).attribute(
        cr.tensor(x), target=TARGETS, baselines=0.5, perturbations_per_eval=per_eval)
    want = captum_attr.FeatureAblation(theirs).attribute(
        torch.tensor(x), target=TARGETS, baselines=0.5, perturbations_per_eval=per_eval)
    assert_close(got, want, 1e-9)


def test_feature_ablation_with_a_feature_mask_in_batches_equals_captum():
    ours, theirs, x = _twin("lstm")
    ours.double(), theirs.double()
    mask = np.broadcast_to(np.arange(5)[:, None], (1, 5, 3)).copy()     # one feature per step
    got = A.FeatureAblation(ours).attribute(cr.tensor(x), target=2, feature_mask=mask,
                                            perturbations_per_eval=3)
    want = captum_attr.FeatureAblation(theirs).attribute(
        torch.tensor(x), target=2, feature_mask=torch.tensor(mask), perturbations_per_eval=3)
    assert_close(got, want, 1e-9)
    # every value of a group carries the group's whole effect
    assert np.all(_ours(got) == _ours(got)[:, :, :1])


@pytest.mark.parametrize("window,stride", [((1, 4, 4), (1, 3, 3)), ((1, 5, 5), (1, 3, 3)),
                                           ((1, 3, 3), 2)])
def test_occlusion_equals_captum(window, stride):
    ours, theirs, x = _twin("lenet")
    ours.double(), theirs.double()
    got = A.Occlusion(ours).attribute(cr.tensor(x), sliding_window_shapes=window,
                                      strides=stride, target=TARGETS, perturbations_per_eval=4)
    want = captum_attr.Occlusion(theirs).attribute(
        torch.tensor(x), sliding_window_shapes=window, strides=stride, target=TARGETS,
        perturbations_per_eval=4)
    assert_close(got, want, 1e-6)


def test_occlusion_rejects_a_stride_longer_than_the_window():
    ours, _, x = _twin("lenet")
    with pytest.raises(ValueError, match="stride"):
        A.Occlusion(ours).attribute(cr.tensor(x.astype(np.float32)), (1, 2, 2), strides=3,
                                    target=0)


# ----------------------------------------------------------------- float32 and the rest
def test_float32_attributions_match_captum_in_float32():
    ours, theirs, x = _twin("lenet")
    x32 = x.astype(np.float32)
    for ours_m, theirs_m, kwargs in [
            (A.IntegratedGradients(ours), captum_attr.IntegratedGradients(theirs),
             dict(n_steps=10)),
            (A.DeepLift(ours), _captum(captum_attr.DeepLift, _apart(theirs)), {}),
            (A.Saliency(ours), captum_attr.Saliency(theirs), {})]:
        got = ours_m.attribute(cr.tensor(x32), target=TARGETS, **kwargs)
        want = _call(theirs_m, torch.tensor(x32), target=TARGETS, **kwargs)
        assert got.dtype == np.float32
        assert_close(got, want, 1e-4)


def test_tuple_inputs_give_tuple_attributions():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, x, y):
            return cr.tanh(self.a(x) + self.b(y))

    model = TwoInputs()
    x, y = cr.randn(2, 3), cr.randn(2, 4)
    attr, delta = A.IntegratedGradients(model, dtype=cr.float64).attribute(
        (x, y), target=1, n_steps=40, return_convergence_delta=True)
    assert isinstance(attr, tuple) and attr[0].shape == (2, 3) and attr[1].shape == (2, 4)
    assert np.abs(delta.numpy()).max() < 1e-10
    ablation = A.FeatureAblation(model).attribute((x, y), target=0)
    assert isinstance(ablation, tuple) and ablation[1].shape == (2, 4)


def test_bad_arguments_name_what_was_wrong():
    model = models.mlp(4, 3, hidden=(5,))
    x = cr.randn(2, 4)
    with pytest.raises(ValueError, match="target"):
        A.Saliency(model).attribute(x)             # three outputs, no target
    with pytest.raises(ValueError, match="index 5"):
        A.Saliency(model).attribute(x, target=5)
    with pytest.raises(ValueError, match="2 examples"):
        A.Saliency(model).attribute(x, target=[0, 1, 2])
    with pytest.raises(ValueError, match="method"):
        A.IntegratedGradients(model).attribute(x, target=0, method="simpson")
    with pytest.raises(ValueError, match="baselines"):
        A.IntegratedGradients(model).attribute(x, baselines=cr.zeros(3, 4), target=0)
    with pytest.raises(ValueError, match="nt_type"):
        A.NoiseTunnel(A.Saliency(model)).attribute(x, nt_type="smooth", target=0)
    with pytest.raises(TypeError, match="floating"):
        A.Saliency(model).attribute(cr.tensor([[1, 2, 3, 4]]), target=0)
    with pytest.raises(TypeError, match="Module"):
        A.Saliency(lambda t: t, dtype=cr.float64)


# ------------------------------------------------------------ explaining one prediction
def test_explain_prediction_for_images_tables_and_text(tmp_path):
    pytest.importorskip("matplotlib")
    from chainrule.explain.attribution import explain_prediction
    cnn = models.cnn(1, 3, image_size=16).eval()
    e = explain_prediction(cnn, cr.randn(1, 1, 16, 16), "image", ["a", "b", "c"], steps=8,
                           methods="saliency,integrated-gradients,grad_cam,deeplift",
                           out=tmp_path / "image.png")
    assert sorted(e.maps) == ["deeplift", "grad_cam", "integrated_gradients", "saliency"]
    assert all(m.shape == (16, 16) for m in e.maps.values())
    total, change = e.completeness["deeplift"]
    assert abs(total - change) < 1e-4 * max(abs(change), 1e-3)
    text = e.summary()
    assert "predicted" in text and "DeepLift: attributions sum to" in text
    mlp = models.mlp(4, 2, hidden=(6,)).eval()
    e = explain_prediction(mlp, cr.randn(1, 4), "tabular", ["no", "yes"], target=1,
                           feature_names=["w", "x", "y", "z"], out=tmp_path / "table.png")
    assert e.target == 1 and e.maps["integrated_gradients"].shape == (4,)
    lstm = models.lstm(5, embedding_dim=4, hidden_size=6).eval()
    e = explain_prediction(lstm, cr.tensor(np.array([[0, 1, 2, 3, 4, 0]])), "text",
                           list("abcde"), display="abcdea", steps=16,
                           methods="integrated_gradients,feature_ablation",
                           out=tmp_path / "text.png")
    assert e.maps["integrated_gradients"].shape == (6,)
    total, change = e.completeness["integrated_gradients"]   # smooth model: IG is exact
    assert abs(total - change) < 1e-4 * max(abs(change), 1e-3)
    for name in ("image.png", "table.png", "text.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    e = explain_prediction(models.mlp(4, 2, hidden=(3,)), cr.randn(1, 1, 2, 2), "image",
                           ["a", "b"], steps=4)           # no conv layer: no Grad-CAM
    assert sorted(e.maps) == ["integrated_gradients", "saliency"]
    with pytest.raises(ValueError, match="grad_cam needs a model with a Conv2d"):
        explain_prediction(models.mlp(4, 2, hidden=(3,)), cr.randn(1, 1, 2, 2), "image",
                           ["a", "b"], methods="grad_cam")
    with pytest.raises(ValueError, match="not available for text"):
        explain_prediction(lstm, cr.tensor(np.array([[0, 1]])), "text", list("abcde"),
                           methods="grad_cam")
    with pytest.raises(ValueError, match="--target"):
        explain_prediction(mlp, cr.randn(1, 4), "tabular", ["no", "yes"], target=2)


def test_the_docs_figures_script_runs_in_miniature(tmp_path):
    """examples/attributions_mnist.py, which makes docs/attributions.md's figures, on 300
    training images, one epoch and a few steps."""
    pytest.importorskip("matplotlib")
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "examples", "attributions_mnist.py")
    spec = importlib.util.spec_from_file_location("attributions_mnist", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = example.main(str(tmp_path), train_size=300, epochs=1, steps=4,
                       completeness_steps=(2, 8), test_size=200, verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"attributions-{k}.png" for k in out["files"])
    assert {"right", "completeness", "layers"} <= set(out["files"])
    assert np.max(out["deeplift_delta"]) < 1e-8 * max(np.max(out["change"]), 1.0)
    for rule, by_steps in out["ig_delta"].items():
        assert set(by_steps) == {2, 8}


# ------------------------------------------------------- chainrule explain RUN_DIR INPUT
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs of every model 'chainrule train' makes: cnn on 1,000 MNIST digits (IDX
    files), mlp on a CSV with a header, lstm on 8-character Shakespeare windows."""
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg
    from chainrule import cli
    from chainrule.cli import data as cli_data
    from chainrule.data import MNIST, write_idx
    folder = tmp_path_factory.mktemp("explain_runs")
    train = MNIST("train", normalize=False)
    write_idx(folder / "img.idx", train.data[:1000])
    write_idx(folder / "lab.idx", np.asarray(train.targets[:1000]).astype(np.uint8))
    mpimg.imsave(folder / "digit.png", MNIST("test", normalize=False).data[0], cmap="gray")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    rows = [f"{a:.3f},{b:.3f},{c:.3f},{'yes' if a + c / 2 > 0 else 'no'}" for a, b, c in X]
    (folder / "table.csv").write_text("height,width,depth,label\n" + "\n".join(rows) + "\n")
    (folder / "rows.csv").write_text("height,width,depth\n1.5,0.2,-0.3\n-1,0,0\n")
    (folder / "prompt.txt").write_text("ROMEO:\nWhat light")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(cli_data.TEXT, "shakespeare", {"seq_len": 8, "windows": 300,
                                                  "test_windows": 50})
        mp.chdir(folder)
        for argv in (["--idx-images", "img.idx", "--idx-labels", "lab.idx", "--model", "cnn",
                      "--epochs", "1", "--out", "cnn"],
                     ["--data", "table.csv", "--epochs", "5", "--out", "mlp"],
                     ["--data", "shakespeare", "--epochs", "1", "--hidden", "16",
                      "--out", "lstm"]):
            assert cli.main(["train", *argv, "--quiet"]) == 0
    return folder


def _completeness(out: str, method: str) -> tuple[float, float]:
    import re
    found = re.search(method + r": attributions sum to (\S+); f\(input\) - f\(baseline\) = "
                      r"(\S+) ", out)
    assert found, out
    return float(found.group(1)), float(found.group(2))


def test_explain_command_for_an_image_model(runs, capsys):
    from chainrule import cli
    assert cli.main(["explain", str(runs / "cnn"), str(runs / "digit.png"), "--steps", "8"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("predicted '") and "top 5: " in out
    assert "integrated gradients: attributions sum to" in out
    assert (runs / "cnn" / "explain-digit.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["explain", str(runs / "cnn"), str(runs / "digit.png"), "--method",
                     "deeplift", "--target", "3", "--out", str(runs / "dl.png")]) == 0
    out = capsys.readouterr().out
    assert "explaining class '3'" in out or "predicted '3'" in out
    total, change = _completeness(out, "DeepLift")
    assert abs(total - change) < 1e-4 * max(abs(change), 1e-2)
    assert (runs / "dl.png").exists()


def test_explain_command_for_a_table_names_the_features(runs, capsys):
    from chainrule import cli
    from chainrule.cli.explain import csv_header
    assert csv_header(str(runs / "rows.csv")) == ["height", "width", "depth"]
    assert cli.main(["explain", str(runs / "mlp"), str(runs / "rows.csv"), "--row", "2",
                     "--method", "integrated_gradients,feature_ablation"]) == 0
    out = capsys.readouterr().out
    assert "top 2: " in out and "figure written to" in out
    assert (runs / "mlp" / "explain-rows.png").exists()


def test_explain_command_for_the_character_lstm(runs, capsys):
    from chainrule import cli
    assert cli.main(["explain", str(runs / "lstm"), str(runs / "prompt.txt"), "--steps",
                     "16"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("predicted '")
    total, change = _completeness(out, "integrated gradients")
    assert abs(total - change) < 1e-3 * max(abs(change), 1e-2)
    assert (runs / "lstm" / "explain-prompt.png").exists()


@pytest.mark.parametrize("argv,message", [
    (["cnn"], "give the input to explain"),
    (["cnn", "missing.png"], "does not exist"),
    (["cnn", "digit.png", "--method", "bogus"], "not available for image inputs"),
    (["mlp", "rows.csv", "--method", "grad_cam"], "not available for tabular"),
    (["mlp", "rows.csv", "--row", "9"], "--row 9"),
    (["cnn", "digit.png", "--target", "eleven"], "neither a class index nor a class name"),
    (["cnn", "digit.png", "--lr", "0.1"], "--lr belongs to the step-by-step trace"),
    (["--example", "2-3-1", "--method", "saliency"], "go with RUN_DIR INPUT"),
])
def test_explain_command_errors_are_one_line(runs, argv, message, capsys, monkeypatch):
    from chainrule import cli
    monkeypatch.chdir(runs)
    assert cli.main(["explain", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("chainrule explain: error:") and message in err[0]


def test_docstring_examples_run():
    import doctest
    import importlib
    for name in ("chainrule.explain.attribution", "chainrule.explain.attribution.gradient",
                 "chainrule.explain.attribution.rules", "chainrule.explain.attribution.layer",
                 "chainrule.explain.attribution.perturbation",
                 "chainrule.explain.attribution.prediction", "chainrule.explain.layers"):
        module = importlib.import_module(name)
        result = doctest.testmod(module, extraglobs={"cr": cr}, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name
