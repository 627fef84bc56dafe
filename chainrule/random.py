"""One seeded generator behind every random draw (tensors, initialisers, dropout, shuffling).

``cr.manual_seed(n)`` makes a whole run reproducible; ``get_rng_state``/``set_rng_state``
let a checkpoint carry the generator so a resumed run draws the same numbers.
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed chainrule's global generator. Example: ``cr.manual_seed(0)``."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator every chainrule random draw uses."""
    return _generator


def get_rng_state() -> dict:
    """A JSON-friendly snapshot of the global generator."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a snapshot taken by :func:`get_rng_state`."""
    _generator.bit_generator.state = state
