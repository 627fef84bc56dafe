"""Neural-network building blocks with PyTorch's names, arguments and parameter layouts.

    >>> import chainrule as cr
    >>> import chainrule.nn.functional as F
    >>> model = cr.nn.Sequential(cr.nn.Linear(4, 16), cr.nn.ReLU(), cr.nn.Linear(16, 3))
    >>> loss = F.cross_entropy(model(cr.randn(8, 4)), cr.randint(0, 3, (8,)))
    >>> loss.backward()

A model's ``state_dict()`` has the same keys and shapes as the equivalent PyTorch model's,
so weights load across with ``load_state_dict``.
"""
from chainrule.nn import functional, init, utils
from chainrule.nn.activation import (
    ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh)
from chainrule.nn.container import ModuleDict, ModuleList, Sequential
from chainrule.nn.dropout import Dropout
from chainrule.nn.embedding import Embedding
from chainrule.nn.flatten import Flatten, Unflatten
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.loss import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DistillationLoss, HuberLoss, KLDivLoss, L1Loss,
    MSELoss, NLLLoss, SmoothL1Loss)
from chainrule.nn.module import Module
from chainrule.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from chainrule.nn.parameter import Parameter

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict",
    "Linear", "Identity", "Flatten", "Unflatten",
    "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softplus", "Softmax",
    "LogSoftmax", "Dropout", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding",
    "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss",
    "CrossEntropyLoss", "NLLLoss", "KLDivLoss", "DistillationLoss",
    "functional", "init", "utils",
]

# Convolution, pooling, channel dropout and recurrent layers (and cr.nn.utils.rnn).
from chainrule.nn.channel_dropout import Dropout1d, Dropout2d  # noqa: E402
from chainrule.nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d  # noqa: E402
from chainrule.nn.pooling import (  # noqa: E402
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d)
from chainrule.nn.rnn import (  # noqa: E402
    GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase)
from chainrule.nn.utils import rnn as _utils_rnn  # noqa: E402,F401  (cr.nn.utils.rnn)
# Data parallelism over processes (chainrule.distributed): DDP and SyncBatchNorm.
from chainrule.nn import parallel  # noqa: E402
from chainrule.nn.sync_batchnorm import SyncBatchNorm  # noqa: E402

__all__ += [
    "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d",
    "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "Dropout1d", "Dropout2d",
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
    "SyncBatchNorm", "parallel",
]
