"""The post-training and quantisation-aware workflows, with PyTorch's eager-mode names:

    prepared = prepare(model)          # observers on every Linear/Conv2d input
    run calibration batches through prepared (eval mode, no grad)
    qmodel = convert(prepared)         # int8 layers with the observed input ranges

or ``quantize(model, run_fn, run_args)`` for all three steps, e.g.
``quantize(model, cr.train.predict, (X_calibration,))``. For quantisation-aware training,
``prepare_qat(model)`` swaps in fake-quantising layers; train them, then ``convert``.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterable

from chainrule import nn
from chainrule.autograd import no_grad
from chainrule.quantization.modules import (
    QATConv2d, QATLinear, QuantizedConv2d, QuantizedLinear)
from chainrule.quantization.observers import MinMaxObserver

__all__ = ["prepare", "convert", "quantize", "prepare_qat", "quantized_skeleton",
           "quantized_layer_names"]

# float layer type -> (its int8 layer, its QAT layer)
_SWAPS = {nn.Linear: (QuantizedLinear, QATLinear), nn.Conv2d: (QuantizedConv2d, QATConv2d)}


class _ObserveInput:
    """Forward pre-hook that shows a layer's input to its ``input_observer``."""

    def __call__(self, module: nn.Module, args: tuple) -> None:
        module.input_observer(args[0])


def _float_layers(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute name, layer) for every plain Linear and Conv2d below ``model``."""
    found = []
    for _, parent in model.named_modules():
        for name, child in parent.named_children():
            if type(child) in _SWAPS:
                found.append((parent, name, child))
    return found


def _checked_copy(model, inplace: bool, who: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{who}: model must be a chainrule nn.Module, got {type(model).__name__}")
    if isinstance(model, tuple(_SWAPS)):
        raise TypeError(f"{who}: give the model that holds the layers (e.g. a Sequential), not a "
                        f"single {type(model).__name__}, which cannot swap itself")
    return model if inplace else copy.deepcopy(model)


def prepare(model: nn.Module, inplace: bool = False) -> nn.Module:
    """A copy of ``model`` (or the model itself when ``inplace``) whose Linear and Conv2d
    layers each record the range of their input in a :class:`MinMaxObserver` (their child
    ``input_observer``). Run calibration data through it, then :func:`convert`.

    Example:
        >>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 2))
        >>> prepared = prepare(model)
        >>> with cr.no_grad():
        ...     _ = prepared(cr.randn(32, 4))
        >>> qmodel = convert(prepared)
        >>> type(qmodel[0]).__name__, qmodel[0].weight.dtype
        ('QuantizedLinear', dtype('int8'))
    """
    model = _checked_copy(model, inplace, "prepare")
    layers = _float_layers(model)
    if not layers:
        raise ValueError("prepare: the model has no Linear or Conv2d layer to quantise")
    for _, _, layer in layers:
        if "input_observer" not in layer._modules:
            layer.add_module("input_observer", MinMaxObserver())
            layer.register_forward_pre_hook(_ObserveInput())
    return model


def convert(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Replace every observed Linear/Conv2d (from :func:`prepare`) and every QAT layer (from
    :func:`prepare_qat`) by its int8 layer, using the input range it observed.

    Raises ValueError naming the layer if one has observed nothing (no calibration run).
    """
    model = _checked_copy(model, inplace, "convert")
    swapped = 0
    for path, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            where = f"{path}.{name}" if path else name
            if type(child) in _SWAPS and "input_observer" in child._modules:
                observer = child.input_observer
            elif isinstance(child, (QATLinear, QATConv2d)):
                observer = child.input_fake_quant.activation_post_process
            else:
                continue
            try:
                scale, zero_point = observer.calculate_qparams()
            except ValueError:
                raise ValueError(f"convert: layer {where!r} has observed no input; run "
                                 f"calibration data through the prepared model first") from None
            base = nn.Linear if isinstance(child, nn.Linear) else nn.Conv2d
            quantized = _SWAPS[base][0].from_float(child, float(scale), int(zero_point))
            setattr(parent, name, quantized)
            swapped += 1
    if not swapped:
        raise ValueError("convert: no prepared layer found; call prepare (or prepare_qat) first")
    return model


def quantize(model: nn.Module, run_fn: Callable, run_args: Iterable[Any] = (),
             inplace: bool = False) -> nn.Module:
    """Post-training static quantisation in one call: :func:`prepare`, then
    ``run_fn(prepared, *run_args)`` in eval mode without gradients (calibration), then
    :func:`convert`.

    Example: ``qmodel = quantize(model, cr.train.predict, (X_train[:512],))``
    """
    prepared = prepare(model, inplace)
    was_training = prepared.training
    prepared.eval()
    with no_grad():
        run_fn(prepared, *run_args)
    prepared.train(was_training)
    return convert(prepared, inplace=True).eval()


def prepare_qat(model: nn.Module, inplace: bool = False) -> nn.Module:
    """A copy of ``model`` whose Linear and Conv2d layers train through fake quantisation
    (:class:`QATLinear`, :class:`QATConv2d`, sharing the original parameters when
    ``inplace``). Fine-tune it, then :func:`convert`.

    Example:
        >>> qat = prepare_qat(cr.nn.Sequential(cr.nn.Linear(4, 2)))
        >>> type(qat[0]).__name__
        'QATLinear'
    """
    model = _checked_copy(model, inplace, "prepare_qat")
    layers = _float_layers(model)
    if not layers:
        raise ValueError("prepare_qat: the model has no Linear or Conv2d layer to quantise")
    for parent, name, layer in layers:
        setattr(parent, name, _SWAPS[type(layer)][1].from_float(layer))
    return model


def quantized_layer_names(model: nn.Module) -> list[str]:
    """The dotted names of the int8 layers in ``model`` (to rebuild it with
    :func:`quantized_skeleton`)."""
    return [name for name, m in model.named_modules()
            if isinstance(m, (QuantizedLinear, QuantizedConv2d))]


def quantized_skeleton(model: nn.Module, names: Iterable[str]) -> nn.Module:
    """``model`` (changed in place) with the named Linear/Conv2d layers replaced by int8
    layers of the same shapes, ready for ``load_state_dict`` of a quantised model's state."""
    for dotted in names:
        parent_path, _, name = dotted.rpartition(".")
        parent = model.get_submodule(parent_path)
        layer = parent._modules.get(name)
        if type(layer) not in _SWAPS:
            raise ValueError(f"quantized_skeleton: {dotted!r} is not a Linear or Conv2d of "
                             f"this model (it is {type(layer).__name__})")
        if type(layer) is nn.Linear:
            shell = QuantizedLinear(layer.in_features, layer.out_features, layer.bias is not None)
        else:
            shell = QuantizedConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                    layer.stride, layer.padding, layer.dilation, layer.groups,
                                    layer.bias is not None)
        setattr(parent, name, shell)
    return model
