"""``RemovableHandle``: what every ``register_*_hook`` returns (tensors and modules)."""
from __future__ import annotations

import itertools
from typing import Callable

_ids = itertools.count()


class RemovableHandle:
    """Unregisters its hook with ``handle.remove()`` (or at the end of a ``with`` block).

    Example:
        >>> handle = model.register_forward_hook(lambda m, args, out: print(out.shape))
        >>> handle.remove()
    """

    def __init__(self, hooks: dict, hook: Callable | None = None):
        self._hooks = hooks
        self.id = next(_ids)
        if hook is not None:
            hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
