"""explain.layers: every layer's activations and gradients for an input (checked against
PyTorch on a LeNet twin), dead-ReLU and saturation counts, and feature-map grids."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import models


def test_activations_and_gradients_equal_pytorch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    cr.manual_seed(2)
    ours = models.cnn(1, 4, image_size=16).double().eval()
    theirs = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                            tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                            tnn.Linear(64, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                            tnn.Linear(84, 4)).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(1, 1, 16, 16))
    views = cr.explain.layers(ours, cr.tensor(x))
    kept = {}

    def keep(name):
        def hook(module, args, out):
            out.retain_grad()
            kept[name] = out
        return hook

    for i, layer in enumerate(theirs):
        layer.register_forward_hook(keep(str(i)))
    logits = theirs(torch.tensor(x))
    predicted = int(logits.argmax())
    logits[0, predicted].backward()
    assert views.target == [predicted]
    assert [v.name for v in views] == [str(i) for i in range(12)]
    for name in ("0", "3", "4", "7", "11"):
        np.testing.assert_allclose(views[name].activation, kept[name].detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(views[name].gradient, kept[name].grad.numpy(),
                                   rtol=1e-10, atol=1e-12)


def test_dead_relu_and_saturation_counts():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3), nn.Tanh(),
                          nn.Linear(3, 2), nn.Sigmoid())
    with cr.no_grad():
        model[0].weight.numpy()[:] = [[1, 0], [-1, 0], [0, 1], [0, -1]]
        model[0].bias.numpy()[:] = 0
        model[2].weight.numpy()[:] = [[10, 0, 0, 0], [0, 0, 0.01, 0], [-10, 0, 0, 0]]
        model[2].bias.numpy()[:] = 0
        model[4].weight.numpy()[:] = [[5, 0, 5], [0, 0, 0]]
        model[4].bias.numpy()[:] = [0, 0]
    x = cr.tensor([[1.0, 2.0]])               # ReLU outputs (1, 0, 2, 0): two dead units
    views = cr.explain.layers(model, x, target=0)
    assert views["1"].dead == 2 and views["1"].saturated is None
    # tanh(10) and tanh(-10) are saturated, tanh(0.02) is not
    assert views["3"].saturated == 2 and views["3"].dead is None
    assert views["5"].saturated == 0                 # sigmoid(5*1 - 5*1) = 0.5
    assert views["0"].dead is None and views["0"].saturated is None
    # a unit is dead only when it is zero for every example of the batch
    both = cr.explain.layers(model, cr.tensor([[1.0, 2.0], [-1.0, 2.0]]), target=0)
    assert both["1"].dead == 1
    text = str(views)
    assert "dead 2/4 (50%)" in text and "saturated 2/3" in text


def test_names_choose_layers_and_unknown_names_are_refused():
    model = models.mlp(6, 3, hidden=(5,))
    views = cr.explain.layers(model, cr.randn(1, 6), names=["1", "3"])
    assert [v.name for v in views] == ["1", "3"]
    with pytest.raises(KeyError, match="no layer named 'conv9'"):
        cr.explain.layers(model, cr.randn(1, 6), names=["conv9"])
    with pytest.raises(KeyError, match="no layer named"):
        views["7"]


def test_feature_maps_are_drawn_as_image_grids(tmp_path):
    pytest.importorskip("matplotlib")
    model = models.cnn(1, 10, image_size=16).eval()
    views = cr.explain.layers(model, cr.randn(1, 1, 16, 16))
    for gradients in (False, True):
        path = views.plot_feature_maps("3", tmp_path / f"maps{gradients}.png",
                                       gradients=gradients)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mapsFalse.png", "mapsTrue.png"]
    with pytest.raises(ValueError, match="feature maps"):
        views.plot_feature_maps("7", tmp_path / "linear.png")
