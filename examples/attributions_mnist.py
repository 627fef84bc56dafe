"""The figures and numbers of docs/attributions.md: why a LeNet-5 trained on MNIST predicts
what it does, digit by digit, with every attribution method of chainrule.explain.attribution.

Run (from the repository root; about two minutes on a shared 2-core CPU):

    python examples/attributions_mnist.py                  # writes docs/images/attributions-*.png
    python examples/attributions_mnist.py --out /tmp/figs --train-size 2000 --epochs 1

It trains LeNet-5 (``chainrule.cli.models.cnn``, ReLU and max pooling, no BatchNorm) on a seeded
subset of the training images, then on test digits:

* ``attributions-right.png``  three digits it classifies correctly, every method;
* ``attributions-wrong.png``  three it gets wrong: integrated gradients for the class it
  chose and for the true class, Grad-CAM and occlusion for its choice;
* ``attributions-completeness.png``  integrated gradients' completeness error against the
  number of steps, for each integration rule (float64);
* ``attributions-layers.png``  the first conv layer's feature maps for one digit.

and prints the completeness table that the docs quote. The baseline is a black image.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.cli import models
from chainrule.explain import attribution as A
from chainrule.explain.attribution.figures import Panel, image_panels, new_figure, save_figure

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lenet_mnist import mnist_loaders  # noqa: E402  (the sibling example's data pipeline)

BLACK = (0.0 - cr.data.MNIST.MEAN) / cr.data.MNIST.STD     # a black pixel, standardised
RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
         "gausslegendre")


def train_lenet(train_size: int, epochs: int, seed: int, verbose: int):
    cr.manual_seed(seed)
    train_loader, test_loader = mnist_loaders(train_size, None, 64, seed)
    model = models.cnn(in_channels=1, num_classes=10, image_size=28)
    optimizer = cr.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = cr.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, epochs=epochs,
                                                  steps_per_epoch=len(train_loader))
    cr.train.fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, epochs,
                 scheduler=scheduler, scheduler_interval="batch", verbose=verbose)
    return model.eval(), test_loader.dataset


def _maps(model, x: cr.Tensor, target: int, steps: int) -> dict[str, np.ndarray]:
    """Every method's map (H, W) for one standardised digit x (1, 1, 28, 28)."""
    baseline = np.full(x.shape, BLACK, np.float32)
    t = [target]
    cam = A.LayerGradCam(model, model[3]).attribute(x, target=t, relu_attributions=True)
    return {
        "saliency |grad|": A.Saliency(model).attribute(x, target=t),
        "integrated gradients": A.IntegratedGradients(model).attribute(
            x, baselines=baseline, target=t, n_steps=steps),
        "SmoothGrad": A.NoiseTunnel(A.Saliency(model)).attribute(
            x, nt_samples=16, stdevs=0.5, target=t, abs=False,
            generator=np.random.default_rng(0)),
        "guided backprop": A.GuidedBackprop(model).attribute(x, target=t),
        "DeepLift": A.DeepLift(model).attribute(x, baselines=baseline, target=t),
        "Grad-CAM": A.LayerAttribution.interpolate(cam, (28, 28), "bilinear"),
        "occlusion": A.Occlusion(model).attribute(
            x, sliding_window_shapes=(1, 4, 4), strides=(1, 2, 2), baselines=BLACK,
            target=t, perturbations_per_eval=32),
    }


_UNSIGNED = ("saliency |grad|", "Grad-CAM")


def _panels(maps: dict) -> list[Panel]:
    return [Panel(name, m.numpy()[0, 0], name not in _UNSIGNED) for name, m in maps.items()]


def completeness(model, digits: np.ndarray, labels: np.ndarray, steps_list) -> dict:
    """|sum of IG attributions - (f(x) - f(black))| relative to |f(x) - f(black)|, largest
    over the digits, per rule and number of steps; float64 throughout."""
    ig = A.IntegratedGradients(model, dtype=cr.float64)
    x = cr.tensor(digits.astype(np.float64))
    table = {}
    for rule in RULES:
        table[rule] = {}
        for steps in steps_list:
            _, delta = ig.attribute(x, baselines=BLACK, target=labels.tolist(), n_steps=steps,
                                    method=rule, return_convergence_delta=True)
            table[rule][steps] = np.abs(delta.numpy())
    model64 = A.IntegratedGradients(model, dtype=cr.float64)._model_for_call()
    with cr.no_grad():
        out = model64(x).numpy()[np.arange(len(labels)), labels]
        out0 = model64(cr.full(x.shape, BLACK, dtype=cr.float64)).numpy()[
            np.arange(len(labels)), labels]
    change = np.abs(out - out0)
    _, dl_delta = A.DeepLift(model, dtype=cr.float64).attribute(
        x, baselines=BLACK, target=labels.tolist(), return_convergence_delta=True)
    return {"change": change, "ig": table, "deeplift": np.abs(dl_delta.numpy())}


def main(out: str = "docs/images", train_size: int = 12000, epochs: int = 2, steps: int = 64,
         completeness_steps=(4, 16, 64, 256), test_size: int | None = None, seed: int = 0,
         verbose: int = 1) -> dict:
    """Train, draw the four figures into ``out`` and return what the docs quote. The digits
    shown are the first of the test set (or of its first ``test_size`` images) that the
    model gets right and wrong."""
    start = time.perf_counter()
    model, test = train_lenet(train_size, epochs, seed, verbose)
    count = len(test) if test_size is None else min(test_size, len(test))
    images, labels = (a.numpy() for a in test.fetch_batch(np.arange(count)))
    pixels = test.data[:count]
    with cr.no_grad():
        logits = np.concatenate([model(cr.tensor(images[i:i + 1000])).numpy()
                                 for i in range(0, len(images), 1000)])
    predicted = logits.argmax(1)
    accuracy = float((predicted == labels).mean())
    right = [int(i) for i in np.flatnonzero(predicted == labels)[:3]]
    wrong = [int(i) for i in np.flatnonzero(predicted != labels)[:3]]
    os.makedirs(out, exist_ok=True)
    files = {}

    def probability(i: int, k: int) -> float:
        z = logits[i] - logits[i].max()
        return float(np.exp(z[k]) / np.exp(z).sum())

    rows = []
    for i in right:
        x = cr.tensor(images[i:i + 1])
        rows.append((pixels[i], _panels(_maps(model, x, int(predicted[i]), steps)),
                     f"a {labels[i]}, predicted {predicted[i]} ({probability(i, predicted[i]):.2f})"))
    files["right"] = save_figure(image_panels(None, [], "Correct predictions: what each "
                                              "method shows for the predicted class", rows=rows),
                                 os.path.join(out, "attributions-right.png"))
    rows = []
    for i in wrong:
        x = cr.tensor(images[i:i + 1])
        chose, truth = int(predicted[i]), int(labels[i])
        mine = _maps(model, x, chose, steps)
        true_ig = _maps(model, x, truth, steps)["integrated gradients"]
        panels = [Panel(f"IG for {chose} (chosen)", mine["integrated gradients"].numpy()[0, 0], True),
                  Panel(f"IG for {truth} (true)", true_ig.numpy()[0, 0], True),
                  Panel(f"Grad-CAM for {chose}", mine["Grad-CAM"].numpy()[0, 0], False),
                  Panel(f"occlusion for {chose}", mine["occlusion"].numpy()[0, 0], True)]
        rows.append((pixels[i], panels, f"a {truth}, predicted {chose} "
                                        f"({probability(i, chose):.2f})"))
    if rows:
        files["wrong"] = save_figure(image_panels(None, [], "Wrong predictions: the evidence "
                                                  "for the chosen and for the true class",
                                                  rows=rows),
                                     os.path.join(out, "attributions-wrong.png"))
    chosen = right + wrong
    check = completeness(model, images[chosen], predicted[chosen], completeness_steps)
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for rule in RULES:
        ax.loglog(completeness_steps, [check["ig"][rule][s].max() / check["change"].max()
                                       for s in completeness_steps], marker="o", label=rule)
    ax.set_xlabel("n_steps")
    ax.set_ylabel("max |delta| / max |f(x) - f(black)|")
    ax.set_title(f"Integrated gradients: completeness error ({len(chosen)} digits, float64)",
                 fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files["completeness"] = save_figure(fig, os.path.join(out, "attributions-completeness.png"))
    views = cr.explain.layers(model, cr.tensor(images[right[0]:right[0] + 1]))
    files["layers"] = views.plot_feature_maps("0", os.path.join(out, "attributions-layers.png"))
    seconds = time.perf_counter() - start
    result = {"accuracy": accuracy, "right": right, "wrong": wrong, "files": files,
              "seconds": seconds,
              "change": check["change"].tolist(), "deeplift_delta": check["deeplift"].tolist(),
              "ig_delta": {rule: {s: v.tolist() for s, v in d.items()}
                           for rule, d in check["ig"].items()}}
    if verbose:
        print(f"test accuracy {accuracy:.4f}; right {right}, wrong {wrong}; "
              f"{seconds:.0f} s in all")
        print(f"|f(x) - f(black)| of the explained class: "
              f"{', '.join(f'{c:.3f}' for c in check['change'])}")
        print("| rule | " + " | ".join(f"{s} steps" for s in completeness_steps) + " |")
        print("|---|" + "---|" * len(completeness_steps))
        for rule in RULES:
            print(f"| {rule} | " + " | ".join(f"{check['ig'][rule][s].max():.2e}"
                                              for s in completeness_steps) + " |")
        print(f"| DeepLift | {check['deeplift'].max():.2e} (no steps) |")
        print(json.dumps(files, indent=1))
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/images")
    p.add_argument("--train-size", type=int, default=12000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, default=64, help="integrated gradients' steps")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    main(a.out, a.train_size, a.epochs, a.steps, seed=a.seed)
