"""chainrule: backpropagation from first principles, over NumPy, that shows its work.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> y = (x ** 2).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4.])
"""
import numpy as _np

from chainrule.backend import get_default_dtype, set_default_dtype
from chainrule.backend import Device as device
from chainrule.random import manual_seed, get_rng_state, set_rng_state
from chainrule.tensor import Tensor, tensor, is_tensor, from_numpy, from_dlpack, as_tensor
from chainrule.creation import (
    zeros, ones, empty, full, zeros_like, ones_like, empty_like, full_like, arange, linspace,
    logspace, eye, rand, randn, randint, rand_like, randn_like, randint_like, scalar_tensor)
from chainrule import autograd, kernels
from chainrule.autograd import (
    no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode, detect_anomaly, grad)
from chainrule import ops
from chainrule.ops import *  # noqa: F401,F403  (every op of the "cr" namespace, from the registry)
from chainrule.ops.promotion import result_type
from chainrule.gradcheck import gradcheck, gradgradcheck, GradcheckError
from chainrule import metrics
from chainrule import cuda
from chainrule.io import save, load
from chainrule import nn
from chainrule import data
from chainrule import optim
from chainrule import explain
from chainrule import train
from chainrule import onnx
from chainrule import threads, distributed
from chainrule.threads import get_num_threads, set_num_threads

# dtype names as in PyTorch (cr.float32 ...), usable wherever a dtype is taken
float16, float32, float64 = _np.dtype(_np.float16), _np.dtype(_np.float32), _np.dtype(_np.float64)
int8, int16, int32, int64 = (_np.dtype(_np.int8), _np.dtype(_np.int16), _np.dtype(_np.int32),
                             _np.dtype(_np.int64))
uint8 = _np.dtype(_np.uint8)
bool = _np.dtype(_np.bool_)  # noqa: A001  (PyTorch's spelling: cr.bool)
half, float, double, long, int = float16, float32, float64, int64, int32  # noqa: A001

from chainrule._version import __version__  # noqa: E402
