"""PyTorch's ``torch.utils`` spellings: ``chainrule.utils.data`` is :mod:`chainrule.data`'s
loading API under the name PyTorch code imports it by.

    >>> import chainrule as cr
    >>> from chainrule.utils.data import DataLoader, TensorDataset
    >>> DataLoader is cr.data.DataLoader
    True
"""
from chainrule.utils import data

__all__ = ["data"]
