"""Every differentiable primitive, forward and backward side by side.

``elementwise``  arithmetic, exp/log/pow, activations
``reduce``       sum/mean/max/var/norm/logsumexp over dims
``shape``        reshape/permute/index/cat/pad/gather
``linalg``       matmul
``nn``           softmax, log_softmax, fused linear
"""
from chainrule.ops.elementwise import (  # noqa: F401
    add, sub, mul, div, pow, neg, exp, log, log1p, sqrt, abs, sin, cos, tanh, sigmoid, relu,
    leaky_relu, elu, gelu, silu, softplus, erf, maximum, minimum, clamp, where, masked_fill,
    cast, clone, sign, lt, le, gt, ge, eq, ne, logical_not, logical_and, logical_or, isnan,
    isfinite, floor, round)
from chainrule.ops.reduce import (  # noqa: F401
    sum, mean, prod, amax, amin, max, min, var, std, norm, logsumexp, argmax, argmin, any, all)
from chainrule.ops.shape import (  # noqa: F401
    reshape, flatten, permute, transpose, squeeze, unsqueeze, expand, repeat, flip, index,
    cat, stack, split, chunk, pad, gather, sum_to, cumsum, index_select, triu, tril)
from chainrule.ops.linalg import matmul, mm, bmm  # noqa: F401
from chainrule.ops.nn import softmax, log_softmax, linear  # noqa: F401

# NumPy ufuncs that act on Tensors as chainrule operations (see Tensor.__array_ufunc__).
UFUNCS = {
    "add": add, "subtract": sub, "multiply": mul, "true_divide": div, "divide": div,
    "power": pow, "negative": neg, "exp": exp, "log": log, "log1p": log1p, "sqrt": sqrt,
    "absolute": abs, "sin": sin, "cos": cos, "tanh": tanh, "matmul": matmul,
    "maximum": maximum, "minimum": minimum, "sign": sign, "less": lt, "less_equal": le,
    "greater": gt, "greater_equal": ge, "equal": eq, "not_equal": ne,
    "logical_not": logical_not, "logical_and": logical_and, "logical_or": logical_or,
    "isnan": isnan, "isfinite": isfinite, "square": lambda a: mul(a, a),
}
