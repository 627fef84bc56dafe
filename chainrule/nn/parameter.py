"""Parameter: a Tensor that a Module registers as learnable when assigned as an attribute."""
from __future__ import annotations

import numpy as np

from chainrule.tensor import Tensor


class Parameter(Tensor):
    """A tensor that is a learnable weight of a Module (``requires_grad=True`` by default).

    Assigning a Parameter to a Module attribute registers it, so it shows up in
    ``module.parameters()`` and ``module.state_dict()``. The values are shared with the
    tensor or array it is made from (no copy), as ``torch.nn.Parameter`` does.

    Example:
        >>> w = cr.nn.Parameter(cr.zeros(3, 2))
        >>> w.requires_grad
        True
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            data = data._array
        super().__init__(data)
        if requires_grad and self._array.dtype.kind not in "fc":
            raise TypeError(f"Parameter: only floating-point tensors can require gradients, this "
                            f"one has dtype {self._array.dtype}; pass requires_grad=False")
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        # Rebuild as a Parameter with the same values and flag (Tensor's slots hold graph
        # state that a copy must not share).
        return (Parameter, (self._array, self._requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        new = Parameter(self._array.copy(), self._requires_grad)
        if self.grad is not None:
            new.grad = Tensor(self.grad._array.copy())
        memo[id(self)] = new
        return new
