"""Saving and loading: ``cr.save(state, path)`` / ``cr.load(path)`` store nested training
state in one safetensors file whose structure is JSON, never pickle.

    >>> import chainrule as cr, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "run.safetensors")
    >>> cr.save({"epoch": 1, "best": float("inf")}, path)
    >>> cr.load(path)
    {'epoch': 1, 'best': inf}

``cr.io.save_safetensors(state_dict, path)`` / ``cr.io.load_safetensors(path)`` exchange
weights with PyTorch: plain safetensors files, exactly as ``safetensors.torch`` writes them.
"""
from chainrule.io._files import (
    MAX_HEADER_BYTES, CheckpointError, is_temporary, remove_stale_temporaries, write_atomically)
from chainrule.io.serialization import load, save
from chainrule.io.weights import load_safetensors, save_safetensors

__all__ = ["save", "load", "CheckpointError", "write_atomically", "save_safetensors",
           "load_safetensors", "remove_stale_temporaries", "is_temporary", "MAX_HEADER_BYTES"]
