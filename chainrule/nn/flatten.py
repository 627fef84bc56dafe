"""Flatten and Unflatten: reshape layers for moving between image-like and vector inputs."""
from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


class Flatten(Module):
    """Merge dims ``start_dim``..``end_dim`` into one (default: everything but the batch).

    Example: ``cr.nn.Flatten()(cr.zeros(8, 1, 28, 28)).shape == (8, 784)``
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return ops.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # a view


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (which may hold one -1).

    Example: ``cr.nn.Unflatten(1, (1, 28, 28))(cr.zeros(8, 784)).shape == (8, 1, 28, 28)``
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        size = tuple(int(s) for s in unflattened_size)
        if not size or sum(s == -1 for s in size) > 1 or any(s < -1 for s in size):
            raise ValueError(f"Unflatten: unflattened_size must be a non-empty sequence of sizes "
                             f"with at most one -1, got {tuple(unflattened_size)}")
        self.dim, self.unflattened_size = dim, size

    def forward(self, input: Tensor) -> Tensor:
        ndim = input.ndim
        if not -ndim <= self.dim < ndim:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for an input of shape "
                             f"{input.shape}")
        d = self.dim % ndim
        known = int(np.prod([s for s in self.unflattened_size if s != -1]))
        n = input.shape[d]
        if (-1 in self.unflattened_size and (known == 0 or n % known)) or \
                (-1 not in self.unflattened_size and known != n):
            raise ValueError(f"Unflatten: cannot split dim {self.dim} of size {n} (input shape "
                             f"{input.shape}) into {self.unflattened_size}")
        return ops.reshape(input, input.shape[:d] + self.unflattened_size + input.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # a view
