"""``cr.cuda``: what PyTorch code asks about CUDA, answered for a library that computes with
NumPy on the CPU. There is no CUDA device, so code written as

    device = cr.device("cuda" if cr.cuda.is_available() else "cpu")

picks the CPU and runs unchanged.
"""
from __future__ import annotations


def is_available() -> bool:
    """False: chainrule has no CUDA devices."""
    return False


def device_count() -> int:
    """0: chainrule has no CUDA devices."""
    return 0


def manual_seed(seed: int) -> None:
    """Nothing to seed (there are no CUDA generators); accepted so seeding code runs.
    ``cr.manual_seed`` seeds chainrule's own generator."""
    int(seed)


def manual_seed_all(seed: int) -> None:
    """Nothing to seed (there are no CUDA generators); accepted so seeding code runs."""
    int(seed)
