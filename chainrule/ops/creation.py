"""The creation functions (``chainrule.creation``, in the core) declared in the op registry,
so they are exported and tested like every op: their values and dtypes against PyTorch's,
for the deterministic ones, and their exports for all.
"""
from __future__ import annotations

import numpy as np

from chainrule import creation
from chainrule.ops.registry import S, op

_MADE = dict(method=False, differentiable=False, dtypes="any")
_RANDOM = dict(_MADE, torch=None, notes="random draws: compared on shape and dtype by hand "
                                        "(tests/test_creation.py)")

zeros = op(**_MADE, samples=lambda s: [S(2, 3), S((2, 3), dtype=np.int64)])(creation.zeros)
ones = op(**_MADE, samples=lambda s: [S(2, 3), S([4], dtype=np.float64)])(creation.ones)
full = op(**_MADE, samples=lambda s: [S((2, 3), 1.5), S((2,), 3), S((2,), True)])(creation.full)
zeros_like = op(**_MADE, samples=lambda s: [S(s.real(2, 3)), S(s.ints(0, 3, 2), dtype=np.float64)])(
    creation.zeros_like)
ones_like = op(**_MADE, samples=lambda s: [S(s.real(2, 3)), S(s.ints(0, 3, 2))])(creation.ones_like)
full_like = op(**_MADE, samples=lambda s: [S(s.real(2, 3), 2.5), S(s.ints(0, 3, 2), 7)])(
    creation.full_like)
scalar_tensor = op(**_MADE, samples=lambda s: [S(3), S(2.5, dtype=np.float64)])(creation.scalar_tensor)
arange = op(**_MADE, samples=lambda s: [S(5), S(1, 2.5, 0.5), S(0, 1, 0.1), S(10, 0, -3),
                                         S(0, 5, dtype=np.float64)])(creation.arange)
linspace = op(**_MADE, samples=lambda s: [S(0, 1, 5), S(5, -5, 20, dtype=np.int32),
                                           S(5.5, 1, 4, dtype=np.int64), S(-2.0, 3.0, 7, dtype=np.float64),
                                           S(1, 2, 1), S(0, 1, 0)])(creation.linspace)
logspace = op(**_MADE, samples=lambda s: [S(0, 2, 3), S(0, 2, 4, base=2), S(0, 2, 3, dtype=np.int64)])(
    creation.logspace)
eye = op(**_MADE, samples=lambda s: [S(3), S(2, 4, dtype=np.int64)])(creation.eye)
empty = op(**_RANDOM, samples=lambda s: [S(2, 3)])(creation.empty)
empty_like = op(**_RANDOM, samples=lambda s: [S(s.real(2, 3))])(creation.empty_like)
rand = op(**_RANDOM, samples=lambda s: [S(2, 3)])(creation.rand)
randn = op(**_RANDOM, samples=lambda s: [S(2, 3)])(creation.randn)
randint = op(**_RANDOM, samples=lambda s: [S(10, (3,)), S(3, 10, (2, 2))])(creation.randint)
rand_like = op(**_RANDOM, samples=lambda s: [S(s.real(2, 3))])(creation.rand_like)
randn_like = op(**_RANDOM, samples=lambda s: [S(s.real(2, 3))])(creation.randn_like)
randint_like = op(**_RANDOM, samples=lambda s: [S(s.real(2, 3), 5)])(creation.randint_like)
