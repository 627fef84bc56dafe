"""ONNX forms of the elementwise operations, reductions, matrix product and softmax.

Composite activations (GELU, SiLU, ...) need nothing here: they are recorded as the
operations they are made of.
"""
from __future__ import annotations

import numpy as np

import chainrule.ops.elementwise as ew
import chainrule.ops.reduce as reduce
from chainrule.ops.linalg import MatMul
from chainrule.ops.nn import LogSoftmax, Softmax
from chainrule.onnx.registry import emitter

# One ONNX operator per chainrule Function, same inputs in the same order.
_UNARY = {ew.Neg: "Neg", ew.Exp: "Exp", ew.Log: "Log", ew.Sqrt: "Sqrt", ew.Abs: "Abs",
          ew.Sin: "Sin", ew.Cos: "Cos", ew.Tan: "Tan", ew.Tanh: "Tanh", ew.Sigmoid: "Sigmoid",
          ew.Relu: "Relu", ew.Erf: "Erf", ew.Clone: "Identity"}
_BINARY = {ew.Add: "Add", ew.Sub: "Sub", ew.Mul: "Mul", ew.Div: "Div", ew.Pow: "Pow",
           ew.Maximum: "Max", ew.Minimum: "Min", MatMul: "MatMul"}
_PIECEWISE = {np.sign: "Sign", np.floor: "Floor", np.ceil: "Ceil", np.round: "Round"}


def _same_op(op_type: str, arity: int):
    def emit(node, g):
        return g.op(op_type, [node.input(i, node.dtype) for i in range(arity)])
    emit.__name__ = f"_{op_type.lower()}"
    return emit


for _cls, _op in _UNARY.items():
    emitter(_cls)(_same_op(_op, 1))
for _cls, _op in _BINARY.items():
    emitter(_cls)(_same_op(_op, 2))


@emitter(ew.Cast)
def _cast(node, g):
    return g.cast(node.input(0), node.dtype)


@emitter(ew.Log1p)
def _log1p(node, g):   # log(1 + x): ONNX has no Log1p
    return g.op("Log", [g.op("Add", [node.input(0, node.dtype), g.constant(1, node.dtype)])])


@emitter(ew.LeakyRelu)
def _leaky_relu(node, g):
    return g.op("LeakyRelu", [node.input(0)], alpha=float(node.setting(1, 0.01)))


@emitter(ew.PRelu)
def _prelu(node, g):
    # the slope arrives shaped by F.prelu to broadcast against x, as PRelu's slope must
    return g.op("PRelu", [node.input(0), node.input(1, node.dtype)])


@emitter(ew.Elu)
def _elu(node, g):
    return g.op("Elu", [node.input(0)], alpha=float(node.setting(1, 1.0)))


@emitter(ew.Softplus)
def _softplus(node, g):
    # log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (as PyTorch)
    beta, threshold = float(node.setting(1, 1.0)), float(node.setting(2, 20.0))
    x = node.input(0)
    bx = x if beta == 1.0 else g.op("Mul", [x, g.constant(beta, node.dtype)])
    soft = g.op("Softplus", [bx])
    if beta != 1.0:
        soft = g.op("Div", [soft, g.constant(beta, node.dtype)])
    linear = g.op("Greater", [bx, g.constant(threshold, node.dtype)])
    return g.op("Where", [linear, x, soft])


@emitter(ew.Clamp)
def _clamp(node, g):
    lo, hi = node.arg(1), node.arg(2)
    bounds = ["" if v is None else node.input(i, node.dtype) for i, v in ((1, lo), (2, hi))]
    return g.op("Clip", [node.input(0, node.dtype)] + bounds)


@emitter(ew.Where)
def _where(node, g):
    return g.op("Where", [node.input(0, np.bool_), node.input(1, node.dtype),
                          node.input(2, node.dtype)])


@emitter(ew.Piecewise)
def _piecewise(node, g):
    fn = node.setting(1)
    x = node.input(0)
    if fn is np.trunc:          # towards zero: sign(x) floor(|x|)
        return g.op("Mul", [g.op("Sign", [x]), g.op("Floor", [g.op("Abs", [x])])])
    if fn not in _PIECEWISE:
        raise node.error(f"the function {getattr(fn, '__name__', fn)!r} has no ONNX form")
    return g.op(_PIECEWISE[fn], [x])


# ------------------------------------------------------------------- reductions
def _reduction(op_type: str):
    def emit(node, g):
        axes, keepdim = node.setting(1), bool(node.setting(2))
        x = node.input(0)
        if not axes:                     # a 0-d input: nothing to reduce
            return g.op("Identity", [x])
        return g.reduce(op_type, x, axes, keepdim)
    emit.__name__ = f"_{op_type.lower()}"
    return emit


emitter(reduce.Sum)(_reduction("ReduceSum"))
emitter(reduce.Mean)(_reduction("ReduceMean"))
emitter(reduce.Prod)(_reduction("ReduceProd"))


@emitter(reduce.Amax)
def _amax(node, g):
    largest = node.setting(3, True)
    return _reduction("ReduceMax" if largest else "ReduceMin")(node, g)


@emitter(reduce.Norm)
def _norm(node, g):             # keeps the reduced dims, like the Function
    p, axes = float(node.setting(1)), node.setting(2)
    x = node.input(0)
    if not axes:
        return g.op("Abs", [x])
    if p == 2:
        return g.reduce("ReduceL2", x, axes, True)
    if p == 1:
        return g.reduce("ReduceL1", x, axes, True)
    if p == np.inf:
        return g.reduce("ReduceMax", g.op("Abs", [x]), axes, True)
    powered = g.op("Pow", [g.op("Abs", [x]), g.constant(p, node.dtype)])
    return g.op("Pow", [g.reduce("ReduceSum", powered, axes, True),
                        g.constant(1.0 / p, node.dtype)])


@emitter(reduce.LogSumExp)
def _logsumexp(node, g):        # keeps the reduced dims, like the Function
    axes = node.setting(1)
    x = node.input(0)
    return g.reduce("ReduceLogSumExp", x, axes, True) if axes else g.op("Identity", [x])


# ---------------------------------------------------------------------- softmax
@emitter(Softmax)
def _softmax(node, g):
    return g.op("Softmax", [node.input(0)], axis=int(node.setting(1)))


@emitter(LogSoftmax)
def _log_softmax(node, g):
    return g.op("LogSoftmax", [node.input(0)], axis=int(node.setting(1)))
