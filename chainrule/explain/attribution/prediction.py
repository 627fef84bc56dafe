"""Explain one prediction of a classifier: its top classes, the attributions of the chosen
methods, their completeness where a method has it, and a figure. The front end of
``chainrule explain RUN_DIR INPUT``; usable from Python for any model.

Three kinds of input, as ``chainrule train`` makes models for them:

* ``image``   (1, C, H, W): heatmaps over the picture (Grad-CAM on the last Conv2d).
* ``tabular`` (1, F): a bar chart per method over the named features.
* ``text``    (1, T) character ids for a :class:`~chainrule.cli.models.CharLSTM`: the methods
  run on the embedded characters ``(1, T, E)`` (baseline: all-zero embeddings) and each
  character's score is the sum over its embedding, so "which characters of the prompt made
  the model expect this next character" is read directly from the colours.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from chainrule import nn
from chainrule.autograd import no_grad
from chainrule.explain.attribution.figures import (
    Panel, feature_bars, image_panels, save_figure, text_colours)
from chainrule.explain.attribution.gradient import (
    InputXGradient, IntegratedGradients, NoiseTunnel, Saliency)
from chainrule.explain.attribution.layer import LayerAttribution, LayerGradCam
from chainrule.explain.attribution.perturbation import FeatureAblation, Occlusion
from chainrule.explain.attribution.rules import DeepLift, GuidedBackprop
from chainrule.tensor import Tensor

__all__ = ["explain_prediction", "PredictionExplanation", "METHODS", "DEFAULT_METHODS",
           "parse_methods"]

METHODS = ("saliency", "integrated_gradients", "input_x_gradient", "smoothgrad",
           "guided_backprop", "deeplift", "grad_cam", "occlusion", "feature_ablation")
DEFAULT_METHODS = {"image": ("saliency", "integrated_gradients", "grad_cam"),
                   "tabular": ("integrated_gradients",),
                   "text": ("integrated_gradients",)}
_AVAILABLE = {"image": METHODS,
              "tabular": tuple(m for m in METHODS if m not in ("grad_cam", "occlusion")),
              "text": tuple(m for m in METHODS if m not in ("grad_cam", "guided_backprop"))}
_TITLES = {"saliency": "saliency |grad|", "integrated_gradients": "integrated gradients",
           "input_x_gradient": "input x gradient", "smoothgrad": "SmoothGrad",
           "guided_backprop": "guided backprop", "deeplift": "DeepLift",
           "grad_cam": "Grad-CAM", "occlusion": "occlusion",
           "feature_ablation": "feature ablation"}
_UNSIGNED = ("saliency", "grad_cam")


def parse_methods(text: str | Sequence[str] | None, kind: str) -> tuple[str, ...]:
    """Method names from ``"saliency,integrated-gradients"`` (or a list); None: the
    defaults for ``kind``."""
    if text is None:
        return DEFAULT_METHODS[kind]
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(p.strip().lower().replace("-", "_") for p in parts if p.strip())
    if not names:
        raise ValueError(f"--method: give one or more of {', '.join(_AVAILABLE[kind])}")
    for name in names:
        if name not in _AVAILABLE[kind]:
            why = " (it needs a conv layer)" if name == "grad_cam" else \
                " (the character LSTM has no ReLU)" if name == "guided_backprop" and \
                kind == "text" else ""
            raise ValueError(f"--method: {name!r} is not available for {kind} inputs{why}; "
                             f"choose from {', '.join(_AVAILABLE[kind])}")
    return names


@dataclass
class PredictionExplanation:
    """What :func:`explain_prediction` found."""
    kind: str
    class_names: list[str]
    probabilities: np.ndarray
    target: int
    maps: dict[str, np.ndarray]             # method -> one value per pixel/feature/character
    completeness: dict[str, tuple[float, float]] = field(default_factory=dict)
    # method -> (sum of the attributions, f(x) - f(baseline)) of the target's logit
    figure: str | None = None

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    def summary(self, top: int = 5) -> str:
        """The prediction, the top classes and, per method, its completeness check."""
        names, p = self.class_names, self.probabilities
        order = np.argsort(-p)[:top]
        lines = [f"predicted {names[self.predicted]!r} (probability {p[self.predicted]:.4f})",
                 f"top {len(order)}: " + "  ".join(f"{names[i]!r} {p[i]:.4f}" for i in order)]
        if self.target != self.predicted:
            lines.append(f"explaining class {names[self.target]!r} "
                         f"(probability {p[self.target]:.4f})")
        for method, (total, change) in self.completeness.items():
            lines.append(f"{_TITLES[method]}: attributions sum to {total:.6g}; "
                         f"f(input) - f(baseline) = {change:.6g} (error {total - change:.2g})")
        if self.figure:
            lines.append(f"figure written to {self.figure}")
        return "\n".join(lines)


class _FromEmbeddings(nn.Module):
    """A CharLSTM from embedded characters ``(N, T, E)`` to next-character logits."""

    def __init__(self, char_model: nn.Module):
        super().__init__()
        self.lstm, self.head = char_model.lstm, char_model.head

    def forward(self, embedded):
        out, _ = self.lstm(embedded)
        return self.head(out[:, -1])


def _last_conv(model: nn.Module) -> nn.Module | None:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def _attribute(method: str, model, x: Tensor, baseline: np.ndarray, target: int, steps: int,
               kind: str) -> tuple[np.ndarray, float | None]:
    """The attribution of ``method`` shaped like ``x``, and (for methods with completeness)
    the sum of its values."""
    if method == "saliency":
        return Saliency(model).attribute(x, target=target).numpy(), None
    if method == "input_x_gradient":
        return InputXGradient(model).attribute(x, target=target).numpy(), None
    if method == "integrated_gradients":
        a = IntegratedGradients(model).attribute(x, baselines=baseline, target=target,
                                                 n_steps=steps).numpy()
        return a, float(a.sum(dtype=np.float64))
    if method == "smoothgrad":
        spread = float(x._array.max() - x._array.min()) or 1.0
        a = NoiseTunnel(Saliency(model)).attribute(x, nt_samples=16, stdevs=0.15 * spread,
                                                   target=target, abs=False)
        return a.numpy(), None
    if method == "guided_backprop":
        return GuidedBackprop(model).attribute(x, target=target).numpy(), None
    if method == "deeplift":
        a = DeepLift(model).attribute(x, baselines=baseline, target=target).numpy()
        return a, float(a.sum(dtype=np.float64))
    if method == "grad_cam":
        layer = _last_conv(model)
        cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
        up = LayerAttribution.interpolate(cam, x.shape[2:], "bilinear").numpy()
        return np.broadcast_to(up, x.shape), None
    if method == "occlusion":
        if kind == "image":
            side = max(2, x.shape[-1] // 7)
            window, stride = (x.shape[1], side, side), (x.shape[1], max(1, side // 2),
                                                        max(1, side // 2))
        else:                                   # text: three characters at a time
            window, stride = (min(3, x.shape[1]), x.shape[2]), (1, x.shape[2])
        return Occlusion(model).attribute(x, sliding_window_shapes=window, strides=stride,
                                          baselines=baseline, target=target,
                                          perturbations_per_eval=16).numpy(), None
    # feature_ablation: each feature (tabular), character (text) or pixel (image) alone
    mask = None
    if kind == "text":
        mask = np.broadcast_to(np.arange(x.shape[1])[:, None], (1,) + x.shape[1:]).copy()
    a = FeatureAblation(model).attribute(x, baselines=baseline, target=target,
                                         feature_mask=mask, perturbations_per_eval=16)
    return a.numpy(), None


def explain_prediction(model: nn.Module, x, kind: str, class_names: Sequence[str],
                       methods: Sequence[str] | str | None = None, target: int | None = None,
                       steps: int = 50, baseline=None, display=None,
                       feature_names: Sequence[str] | None = None,
                       out: str | os.PathLike | None = None) -> PredictionExplanation:
    """Explain ``model``'s prediction for one input ``x`` (a batch of one, preprocessed as
    for the model) and draw the figure to ``out`` (when given).

    ``methods`` default: saliency, integrated gradients and (for a model with a Conv2d)
    Grad-CAM for images; integrated gradients otherwise. ``baseline`` (shaped like ``x``;
    default zeros) is where integrated gradients, DeepLift,
    occlusion and ablation start from; for text it is ignored (zero embeddings). ``display``
    is the image to draw under the heatmaps (default: ``x`` itself); ``feature_names`` label
    the bars; ``target`` (a class index) defaults to the predicted class.

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
        >>> e = explain_prediction(model, cr.randn(1, 4), "tabular", ["a", "b", "c"])
        >>> sorted(e.maps)
        ['integrated_gradients']
    """
    if kind not in DEFAULT_METHODS:
        raise ValueError(f"kind: expected 'image', 'tabular' or 'text', got {kind!r}")
    if methods is None and kind == "image" and _last_conv(model) is None:
        methods = ("saliency", "integrated_gradients")     # no conv layer for Grad-CAM
    methods = parse_methods(methods, kind)
    if "grad_cam" in methods and _last_conv(model) is None:
        raise ValueError("--method: grad_cam needs a model with a Conv2d layer (train one "
                         "with --model cnn); this model has none")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"--steps: expected an int >= 1, got {steps!r}")
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if x.shape[0] != 1:
        raise ValueError(f"explain_prediction explains one input: expected a batch of one, "
                         f"got shape {x.shape}")
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            logits = model(x)._array[0].astype(np.float64)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        names = list(class_names)
        if len(names) != len(probabilities):
            raise ValueError(f"class_names: {len(names)} names for a model with "
                             f"{len(probabilities)} outputs")
        target = int(np.argmax(probabilities)) if target is None else int(target)
        if not 0 <= target < len(names):
            raise ValueError(f"--target: class {target} does not exist; the model has "
                             f"{len(names)} classes (0 to {len(names) - 1})")
        if kind == "text":
            subject = _FromEmbeddings(model)
            with no_grad():
                inputs = Tensor(model.embedding(x)._array.copy())
            start = np.zeros(inputs.shape, inputs.dtype)
        else:
            subject, inputs = model, x
            start = np.zeros(x.shape, x.dtype) if baseline is None else \
                np.broadcast_to(np.asarray(baseline, x.dtype), x.shape)
        with no_grad():
            change = float(subject(inputs)._array[0, target]) - \
                float(subject(Tensor(start))._array[0, target])
        maps, completeness = {}, {}
        for method in methods:
            values, total = _attribute(method, subject, inputs, start, target, steps, kind)
            values = np.asarray(values, np.float64)[0]
            if kind == "image":
                values = values.sum(axis=0)            # channels -> one map per pixel
            elif kind == "text":
                values = (np.abs(values) if method == "saliency" else values).sum(axis=-1)
            maps[method] = values
            if total is not None:
                completeness[method] = (total, change)
    finally:
        model.train(was_training)
    result = PredictionExplanation(kind, names, probabilities, target, maps, completeness)
    if out is not None:
        title = (f"predicted {names[result.predicted]!r} ({probabilities[result.predicted]:.2f})"
                 f"; explaining {names[target]!r}")
        if kind == "image":
            image = np.asarray(display if display is not None else x._array[0].sum(axis=0))
            fig = image_panels(image, [Panel(_TITLES[m], v, m not in _UNSIGNED)
                                       for m, v in maps.items()], title)
        elif kind == "tabular":
            labels = list(feature_names) if feature_names is not None else \
                [f"feature {i + 1}" for i in range(x.shape[1])]
            fig = feature_bars(labels, {_TITLES[m]: v for m, v in maps.items()}, title)
        else:
            chars = list(display) if display is not None else [str(i) for i in x._array[0]]
            fig = text_colours(chars, {_TITLES[m]: v for m, v in maps.items()}, title)
        result.figure = save_figure(fig, out)
    return result
