"""Embedding: a lookup table of learnable vectors indexed by integers."""
from __future__ import annotations

import numpy as np

from chainrule.autograd import no_grad
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn._factory import non_negative_int, param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


class Embedding(Module):
    """``num_embeddings`` vectors of size ``embedding_dim``; ``forward(indices)`` returns the
    rows picked by integer indices of any shape (output shape indices.shape + (dim,)).

    ``weight`` is drawn from N(0, 1) (PyTorch's default). The ``padding_idx`` row starts as
    zeros and never receives a gradient, so it stays a fixed "no token" vector. Repeated
    indices in a batch add their gradients.

    Example:
        >>> emb = cr.nn.Embedding(10, 3, padding_idx=0)
        >>> emb(cr.tensor([[1, 2, 0]])).shape
        (1, 3, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 device=None, dtype=None, _weight: Tensor | None = None, _freeze: bool = False):
        super().__init__()
        self.num_embeddings = non_negative_int("Embedding: num_embeddings", num_embeddings)
        self.embedding_dim = non_negative_int("Embedding: embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"num_embeddings ({num_embeddings})")
            padding_idx = padding_idx % num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(np.empty((num_embeddings, embedding_dim),
                                             dtype=param_dtype(device, dtype)),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """N(0, 1) draws, with the padding row zeroed."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True,
                        padding_idx: int | None = None) -> "Embedding":
        """An Embedding holding the given (num_embeddings, embedding_dim) matrix (shared, not
        copied), frozen unless ``freeze=False``."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                             f"{tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        weight = embeddings if isinstance(embeddings, Tensor) else Tensor(np.asarray(embeddings))
        return cls(rows, cols, padding_idx=padding_idx, _weight=weight, _freeze=freeze)

    def forward(self, input) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # a lookup
