"""ONNX export: ``cr.onnx.export(model, example_input, "model.onnx")``, PyTorch's signature.

The model is traced through the engine's own graph (see :mod:`chainrule.onnx.trace`): it
runs once on the example input with every operation recording its arguments, and each
recorded operation is written as ONNX by the emitter registered for its Function class
(:mod:`chainrule.onnx.registry`; the fused layers map onto ONNX's own operators: Gemm,
Conv, ConvTranspose, MaxPool, AveragePool, BatchNormalization, LayerNormalization, Gather,
LSTM, GRU, RNN). Parameters and buffers become initializers under their state-dict names.
The file is checked with ``onnx.checker`` before it is written; ``InferenceModel`` runs it
with onnxruntime, like a chainrule model, to compare the two.

    >>> import chainrule as cr
    >>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
    >>> cr.onnx.export(model, cr.randn(2, 4), "mlp.onnx", input_names=["x"],
    ...                output_names=["logits"], dynamic_axes={"x": {0: "batch"}})  # doctest: +SKIP
    >>> cr.onnx.InferenceModel("mlp.onnx")(cr.randn(5, 4)).shape                     # doctest: +SKIP
    (5, 3)

Needs the ``onnx`` package (``pip install "chainrule[onnx]"``); running the file needs
``onnxruntime`` as well. docs/onnx.md lists what exports and what does not.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from chainrule.onnx import (  # noqa: F401  (each registers its emitters)
    ops_elementwise, ops_layers, ops_quantized, ops_recurrent, ops_shape)
from chainrule.onnx.runtime import InferenceModel
from chainrule.onnx.trace import ExportError

__all__ = ["export", "ExportError", "InferenceModel"]


def export(model, args, f, input_names: Sequence[str] | None = None,
           output_names: Sequence[str] | None = None,
           dynamic_axes: Mapping[str, Any] | None = None, opset_version: int | None = None,
           *, metadata: Mapping[str, str] | None = None):
    """Write ``model`` as an ONNX file, traced on the example input ``args``.

    ``args``: the example input (a Tensor or array), or a tuple of them for a model taking
    several. ``f``: a path (written atomically) or a binary file object. ``input_names`` /
    ``output_names`` name the graph's inputs and outputs (default ``input``, ``output``, or
    ``input_0``, ``input_1`` ... when there are several). ``dynamic_axes`` makes sizes free
    at run time, as in PyTorch: ``{"input": {0: "batch"}}`` (or ``{"input": [0]}``); every
    other size stays the example's. ``opset_version``: 17 (default) or later. ``metadata``:
    strings stored in the file's ``metadata_props`` (chainrule's addition).

    The model runs in eval mode (Dropout off, BatchNorm on its running statistics), twice:
    on the example and on a second input with other values and other sizes on the dynamic
    axes; sizes that differ between the two runs are written relative to the input, and a
    constant that differs (computed from the input by something the engine does not record)
    stops the export. Returns the ``onnx.ModelProto`` written.

    Raises :class:`ExportError` (a ValueError) naming the operation that has no ONNX form
    or cannot be traced.

    Example:
        >>> cr.onnx.export(model, cr.randn(1, 784), "mnist.onnx",
        ...                dynamic_axes={"input": {0: "batch"}})     # doctest: +SKIP
    """
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError('cr.onnx.export needs the onnx package: pip install "chainrule[onnx]"') \
            from None
    from chainrule.onnx.exporter import export_model
    return export_model(model, args, f, input_names, output_names, dynamic_axes, opset_version,
                        metadata)
