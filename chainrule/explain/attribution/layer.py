"""Layer attributions: Grad-CAM on a layer's activations, and resizing a layer's map to the
input (Captum's ``LayerAttribution.interpolate``)."""
from __future__ import annotations

import numpy as np

from chainrule.autograd import enable_grad, grad
from chainrule.explain.attribution._common import (
    Attribution, format_additional_args, format_inputs, module_path, select)
from chainrule.nn import Module
from chainrule.tensor import Tensor

__all__ = ["LayerAttribution", "LayerGradCam", "capture_layer"]


def _source_index(n_out: int, n_in: int, mode: str) -> tuple[np.ndarray, ...]:
    """For each output position along one axis: the input positions it reads and their
    weights (PyTorch's F.interpolate with align_corners=False)."""
    scale = n_in / n_out
    dst = np.arange(n_out)
    if mode == "nearest":
        src = np.minimum(np.floor(dst * scale).astype(np.int64), n_in - 1)
        return src, src, np.zeros(n_out)
    src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)    # pixel centres, clamped at the edge
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, src - lo


class LayerAttribution:
    """Shared by the layer methods."""

    @staticmethod
    def interpolate(layer_attribution, interpolate_dims, interpolate_mode: str = "nearest"):
        """Resize ``(N, C, *spatial)`` attributions to ``interpolate_dims`` (one size per
        spatial dimension), ``"nearest"`` or ``"bilinear"``/``"linear"`` (pixel centres
        aligned, as ``F.interpolate(..., align_corners=False)``).

        Example:
            >>> cam = cr.randn(1, 1, 7, 7)
            >>> LayerAttribution.interpolate(cam, (28, 28), "bilinear").shape
            (1, 1, 28, 28)
        """
        values = np.asarray(layer_attribution._array if isinstance(layer_attribution, Tensor)
                            else layer_attribution)
        dims = (interpolate_dims,) if np.isscalar(interpolate_dims) else tuple(interpolate_dims)
        spatial = values.ndim - 2
        if spatial < 1 or len(dims) != spatial:
            raise ValueError(f"interpolate: attributions of shape {values.shape} have "
                             f"{max(spatial, 0)} spatial dims after (N, C), but "
                             f"interpolate_dims is {dims}")
        if interpolate_mode not in ("nearest", "linear", "bilinear"):
            raise ValueError(f"interpolate_mode: expected 'nearest', 'linear' or 'bilinear', "
                             f"got {interpolate_mode!r}")
        mode = "nearest" if interpolate_mode == "nearest" else "linear"
        out = values
        for axis, size in enumerate(dims, start=2):     # separable: one axis at a time
            lo, hi, w = _source_index(int(size), out.shape[axis], mode)
            shape = [1] * out.ndim
            shape[axis] = -1
            w = w.reshape(shape).astype(out.dtype)
            out = np.take(out, lo, axis=axis) * (1 - w) + np.take(out, hi, axis=axis) * w
        return Tensor(np.ascontiguousarray(out))


class capture_layer:
    """Record what a module received and returned during a forward pass (a context
    manager around a forward hook). ``.input`` / ``.output`` are the recorded tensors."""

    def __init__(self, layer: Module, what: str = "layer"):
        self.layer, self.what = layer, what
        self.input = self.output = None
        self.calls = 0

    def _hook(self, module, args, out):
        self.calls += 1
        self.input = args[0] if args else None
        self.output = out

    def __enter__(self):
        self._handle = self.layer.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        self._handle.remove()

    def tensor(self, attribute_to_layer_input: bool) -> Tensor:
        if self.calls == 0:
            raise ValueError(f"{self.what}: {type(self.layer).__name__} was not called by the "
                             f"model's forward")
        if self.calls > 1:
            raise ValueError(f"{self.what}: {type(self.layer).__name__} was called "
                             f"{self.calls} times in one forward; attribute a layer used once")
        t = self.input if attribute_to_layer_input else self.output
        if not isinstance(t, Tensor):
            raise TypeError(f"{self.what}: the layer's {'input' if attribute_to_layer_input else 'output'} "
                            f"is a {type(t).__name__}, not a Tensor (e.g. an LSTM returns a tuple); "
                            f"choose a layer with a tensor output")
        return t


class LayerGradCam(Attribution, LayerAttribution):
    """Grad-CAM (Selvaraju et al., 2017) on ``layer``: each channel's activations weighted
    by the mean gradient of the target over that channel's positions, summed over
    channels::

        cam = sum_c  mean_hw(d y_target / d A_c) * A_c          shape (N, 1, H, W)

    ``relu_attributions=True`` keeps only the positive evidence (the paper's map);
    ``attr_dim_summation=False`` returns the weighted channels without summing them. Use
    :meth:`interpolate` to bring the map to the input's size.

    Example:
        >>> model = cr.nn.Sequential(cr.nn.Conv2d(1, 4, 3), cr.nn.ReLU(), cr.nn.Flatten(),
        ...                          cr.nn.Linear(4 * 6 * 6, 3))
        >>> cam = LayerGradCam(model, model[0]).attribute(cr.randn(2, 1, 8, 8), target=2)
        >>> cam.shape
        (2, 1, 6, 6)
    """

    def __init__(self, forward_func, layer: Module, dtype=None):
        super().__init__(forward_func, dtype)
        if not isinstance(layer, Module):
            raise TypeError(f"LayerGradCam: layer must be an nn.Module of the model, got "
                            f"{type(layer).__name__}")
        self.layer = layer
        # The layer's name in the model, to find it again in a copy made for another dtype.
        self._layer_path = module_path(forward_func, layer) if isinstance(forward_func, Module) \
            else None

    def _layer_for(self, model) -> Module:
        if model is self.forward_func or self._layer_path is None:
            return self.layer
        return model.get_submodule(self._layer_path) if self._layer_path else model

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  attribute_to_layer_input: bool = False, relu_attributions: bool = False,
                  attr_dim_summation: bool = True):
        """The Grad-CAM map of each example, ``(N, 1, *spatial)`` of the layer."""
        xs, _ = format_inputs(inputs)
        xs = self._cast(xs)
        model = self._model_for_call()
        layer = self._layer_for(model)
        leaves = [Tensor(x._array, requires_grad=x.dtype.kind == "f") for x in xs]
        with capture_layer(layer, "LayerGradCam") as seen, enable_grad():
            picked = select(model(*leaves, *format_additional_args(additional_forward_args)),
                            target)
            acts = seen.tensor(attribute_to_layer_input)
            if not acts.requires_grad:
                raise ValueError("LayerGradCam: the target does not depend on the layer's "
                                 "activations")
            (g,) = grad(picked.sum(), acts, allow_unused=True)
        a = acts._array
        g = np.zeros_like(a) if g is None else g._array
        weights = g.mean(axis=tuple(range(2, g.ndim)), keepdims=True) if g.ndim > 2 else g
        cam = weights * a
        if attr_dim_summation:
            cam = cam.sum(axis=1, keepdims=True)
        if relu_attributions:
            cam = np.maximum(cam, 0)
        return Tensor(np.ascontiguousarray(cam))
