"""Saving and loading: ``cr.save(state, path)`` / ``cr.load(path)`` store nested training
state in one safetensors file whose structure is JSON, never pickle.

    >>> import chainrule as cr, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "run.safetensors")
    >>> cr.save({"epoch": 1, "best": float("inf")}, path)
    >>> cr.load(path)
    {'epoch': 1, 'best': inf}
"""
from chainrule.io.serialization import CheckpointError, load, save, write_atomically

__all__ = ["save", "load", "CheckpointError", "write_atomically"]
