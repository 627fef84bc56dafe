"""Every differentiable primitive, forward and backward side by side, and the op registry.

``elementwise``  arithmetic, exp/log/pow, activations, comparisons
``reduce``       sum/mean/max/var/norm/logsumexp over dims
``shape``        reshape/permute/index/cat/pad/gather
``linalg``       matmul
``nn``           softmax, log_softmax, fused linear
``loss``         fused losses (public through ``nn.functional``)
``norm``         fused normalisation (BatchNorm, LayerNorm)
``embedding``    fused embedding lookup
``conv``         convolutions (im2col)
``pool``         max, average and adaptive pooling
``recurrent``    fused RNN/LSTM/GRU sequences and cells
``registry``     one declaration per op (``op``), from which exports and tests are made
``promotion``    PyTorch's type promotion

Importing this package declares every op and then, in ``bind_tensor_api``, gives ``Tensor``
its operators, op methods, NumPy overrides and ``backward``: the one place where the core
(``tensor`` below ``autograd`` below ``ops``) is tied back together.
"""
from chainrule import autograd as _autograd
from chainrule.tensor import Tensor as _Tensor
from chainrule.tensor import numpy_overrides as _numpy_overrides
from chainrule.ops import (  # noqa: F401  (each module declares its ops on import)
    conv, elementwise, embedding, linalg, loss, nn, norm, pool, recurrent, reduce, shape)
from chainrule.ops import (  # noqa: F401,E402
    activation, binary, creation, layout, products, scan, scatter, sorting, statistics, unary,
    volumetric, windows)
from chainrule.ops import inplace, registry
from chainrule.ops.elementwise import cast  # noqa: F401
from chainrule.ops.nn import linear  # noqa: F401  (public as F.linear)
from chainrule.ops.shape import index, pad, sum_to_size  # noqa: F401


def bind_tensor_api(tensor_class: type) -> None:
    """Attach to ``Tensor`` what ``tensor.py`` cannot define without importing its users:
    every registered op method and operator, the NumPy functions and ufuncs that dispatch to
    ops (``np.exp(t)``), and ``backward`` from autograd. Called once, below."""
    registry.bind(tensor_class, _numpy_overrides)
    inplace.bind(tensor_class)

    def backward(self, gradient=None, retain_graph: bool = False, create_graph: bool = False,
                 inputs=None) -> None:
        """Backpropagate from this tensor; gradients *accumulate* into each leaf's ``.grad``.

        Accumulation is the rule (as in PyTorch): call ``zero_grad()`` (or set ``.grad =
        None``) between steps. ``gradient`` is required when this tensor is not a scalar.
        """
        _autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    tensor_class.backward = backward


bind_tensor_api(_Tensor)

# The public functions of the "cr" namespace (torch.* twins): re-exported by chainrule.
globals().update(registry.exports("cr"))
globals().update(inplace.function_forms(_Tensor))
__all__ = sorted([*registry.exports("cr"), *inplace.function_forms(_Tensor)])
