"""Running an exported ``.onnx`` file with onnxruntime, called like a chainrule model."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from chainrule.tensor import Tensor


class InferenceModel:
    """An ONNX file run by onnxruntime (CPU), with a chainrule model's calling convention:
    ``model(x)`` takes Tensors or arrays and returns a Tensor (a tuple for several outputs),
    so ``cr.train.predict(model, X)`` and the command line's reports work on it unchanged.
    It is always in eval mode; it cannot be trained.

    Example:
        >>> onnx_model = cr.onnx.InferenceModel("mlp.onnx")            # doctest: +SKIP
        >>> logits = onnx_model(cr.randn(5, 4))                         # doctest: +SKIP
    """

    training = False

    def __init__(self, path: str | os.PathLike):
        try:
            import onnxruntime
        except ImportError:
            raise ImportError('running an ONNX file needs onnxruntime: pip install '
                              '"chainrule[onnx]"') from None
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"ONNX file {self.path!r} does not exist")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3          # errors only: no optimiser chatter on stderr
        try:
            self.session = onnxruntime.InferenceSession(
                self.path, options, providers=["CPUExecutionProvider"])
        except Exception as e:   # onnxruntime raises its own exception types for bad files
            raise ValueError(f"{self.path}: onnxruntime cannot load it ({e})") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._input_types = [_NUMPY_TYPES.get(i.type) for i in self.session.get_inputs()]
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, *inputs) -> Any:
        if len(inputs) != len(self.input_names):
            raise TypeError(f"{self.path} takes {len(self.input_names)} input(s) "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        feed = {}
        for name, dtype, x in zip(self.input_names, self._input_types, inputs):
            array = np.asarray(x._array if isinstance(x, Tensor) else x)
            feed[name] = array.astype(dtype, copy=False) if dtype is not None else array
        outputs = [Tensor(o) for o in self.session.run(self.output_names, feed)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def eval(self) -> "InferenceModel":
        return self

    def train(self, mode: bool = True) -> "InferenceModel":
        if mode:
            raise RuntimeError(f"{self.path} is an ONNX file run by onnxruntime: it cannot be "
                               f"trained; train the chainrule model and export it again")
        return self

    def __repr__(self) -> str:
        return f"InferenceModel({self.path!r}, inputs={self.input_names}, outputs={self.output_names})"


# onnxruntime's type strings for the element types a chainrule model takes.
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                "tensor(float16)": np.float16, "tensor(int64)": np.int64,
                "tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}
