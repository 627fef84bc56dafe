"""Pruning: zero out a parameter's least useful entries with a mask, as ``torch.nn.utils.prune``.

Pruning ``weight`` of a module reparametrises it exactly as PyTorch does:

* the Parameter moves to ``weight_orig`` (the same object, so an optimiser holding it keeps
  working), and a buffer ``weight_mask`` of ones and zeros is registered beside it;
* ``weight`` becomes a plain attribute, ``weight_orig * weight_mask``, recomputed by a
  forward pre-hook before every call, so the layer computes with the masked weight.

The gradient reaching ``weight_orig`` is the gradient of ``weight`` times the mask, zero at
pruned entries; whatever an optimiser then does to those entries (momentum, weight decay,
Adam's moments) is multiplied away in the next forward, so every optimiser respects the
mask. ``remove`` makes the pruning permanent: ``weight`` is a Parameter again holding the
masked values, and the hook, ``weight_orig`` and ``weight_mask`` are gone.

Pruning a parameter twice combines the masks (a :class:`PruningContainer`): an unstructured
amount then counts among the entries still unpruned, a structured one among the channels
still alive, as in PyTorch.

    >>> import chainrule as cr
    >>> from chainrule.nn.utils import prune
    >>> layer = cr.nn.Linear(4, 3)
    >>> _ = prune.l1_unstructured(layer, "weight", amount=0.5)
    >>> sorted(name for name, _ in layer.named_parameters()), list(layer.named_buffers())[0][0]
    (['bias', 'weight_orig'], 'weight_mask')
    >>> int((layer.weight.data == 0).sum())
    6
    >>> _ = prune.remove(layer, "weight"); prune.is_pruned(layer)
    False

Beyond PyTorch, :func:`sparse_state_dict` and :func:`dense_state_dict` store a pruned
model's state compactly (a bit per entry plus the kept values) for ``cr.save``.
"""
from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from typing import Any, Iterable, Mapping

import numpy as np

from chainrule.nn.module import Module
from chainrule.random import default_generator
from chainrule.tensor import Tensor

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured",
           "L1Unstructured", "RandomStructured", "LnStructured", "CustomFromMask", "identity",
           "random_unstructured", "l1_unstructured", "random_structured", "ln_structured",
           "global_unstructured", "custom_from_mask", "remove", "is_pruned",
           "sparse_state_dict", "dense_state_dict", "is_sparse_entry", "sparse_entry_shape"]


# --------------------------------------------------------------------------- amounts
def _check_amount(amount) -> None:
    """An amount is a fraction in [0, 1] (a float) or a count >= 0 (an int)."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(f"prune: amount must be an int (how many) or a float (what fraction), "
                        f"got {amount!r}")
    if isinstance(amount, numbers.Integral):
        if amount < 0:
            raise ValueError(f"prune: amount={amount} should either be a float in the range "
                             f"[0, 1] or a non-negative integer")
    elif not 0.0 <= float(amount) <= 1.0:
        raise ValueError(f"prune: amount={amount} should either be a float in the range [0, 1] "
                         f"or a non-negative integer")


def _count_to_prune(amount, size: int) -> int:
    """How many of ``size`` units ``amount`` prunes (a fraction is rounded, half to even,
    as Python's and PyTorch's ``round``)."""
    count = int(amount) if isinstance(amount, numbers.Integral) else round(float(amount) * size)
    if count > size:
        raise ValueError(f"prune: amount={amount} should be smaller than the number of "
                         f"parameters to prune={size}")
    return count


def _check_dim(t: np.ndarray, dim: int) -> int:
    if t.ndim < 2:
        raise ValueError(f"prune: structured pruning removes slices along a dimension, so the "
                         f"tensor needs at least 2 dimensions; it has shape {t.shape}")
    if not -t.ndim <= dim < t.ndim:
        raise IndexError(f"prune: dim {dim} is out of range for a tensor of shape {t.shape}")
    return dim % t.ndim


def _channel_mask(t: np.ndarray, dim: int, keep: np.ndarray) -> np.ndarray:
    """Ones in the slices ``keep`` (indices or a boolean vector) along ``dim``, zeros elsewhere."""
    mask = np.zeros_like(t)
    index = [slice(None)] * t.ndim
    index[dim] = keep
    mask[tuple(index)] = 1
    return mask


def _smallest(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest entries of a 1-D array (ties: the lower index first)."""
    return np.argsort(scores, kind="stable")[:k]


def _entries_mask(amount, t: np.ndarray, default_mask: np.ndarray, ranking) -> np.ndarray:
    """``default_mask`` with the ``amount`` entries that ``ranking()`` (one score per entry,
    drawn only when something is pruned) ranks lowest set to 0."""
    k = _count_to_prune(amount, t.size)
    mask = np.array(default_mask, copy=True)
    if k:
        mask.reshape(-1)[_smallest(ranking(), k)] = 0
    return mask


def _slices_mask(amount, dim: int, t: np.ndarray, default_mask: np.ndarray, ranking) -> np.ndarray:
    """``default_mask`` with the ``amount`` slices along ``dim`` that ``ranking(dim)`` (one
    score per slice) ranks lowest set to 0."""
    dim = _check_dim(t, dim)
    k = _count_to_prune(amount, t.shape[dim])
    if k == 0:
        return default_mask
    keep = np.ones(t.shape[dim], dtype=bool)
    keep[_smallest(ranking(dim), k)] = False
    return _channel_mask(t, dim, keep) * default_mask


# --------------------------------------------------------------------------- methods
class BasePruningMethod(ABC):
    """A way of computing a mask; also the forward pre-hook that applies it.

    Subclasses set ``PRUNING_TYPE`` ("unstructured", "structured" or "global") and implement
    ``compute_mask(t, default_mask)``, returning a mask of ``t``'s shape that keeps every
    zero of ``default_mask`` (the mask already in place). :meth:`apply` prunes a module's
    parameter with the method; :meth:`remove` makes it permanent.
    """

    PRUNING_TYPE: str = "unstructured"
    _tensor_name: str

    def __call__(self, module: Module, inputs) -> None:
        # The forward pre-hook: recompute the masked tensor from the current weight_orig.
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        """The new mask for importance scores ``t`` on top of ``default_mask``."""

    def apply_mask(self, module: Module) -> Tensor:
        """``<name>_orig * <name>_mask`` of ``module``: the tensor the layer computes with."""
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return orig * mask

    @classmethod
    def apply(cls, module: Module, name: str, *args, importance_scores=None, **kwargs):
        """Prune ``module.<name>`` with a new ``cls(*args, **kwargs)`` (combined with any
        pruning already on it) and return the method now acting as its hook."""
        if not isinstance(module, Module):
            raise TypeError(f"prune: module must be a chainrule nn.Module, got "
                            f"{type(module).__name__}")
        old_key, old = _hook_of(module, name)
        method = cls(*args, **kwargs)
        method._tensor_name = name
        if old is not None:
            container = old if isinstance(old, PruningContainer) else PruningContainer(old)
            container.add_pruning_method(method)
            method = container
            default_mask = np.array(getattr(module, name + "_mask")._array)
            current = getattr(module, name)
        else:
            param = module._parameters.get(name)
            if param is None:
                names = ", ".join(n for n, p in module._parameters.items() if p is not None)
                raise AttributeError(f"prune: {type(module).__name__} has no parameter {name!r} "
                                     f"to prune (its parameters: {names or 'none'})")
            default_mask = np.ones_like(param._array)
            current = param
        scores = _importance(importance_scores, current, name)
        # Compute the mask before touching the module, so a bad amount leaves it unchanged.
        mask = method.compute_mask(scores, default_mask=default_mask)
        if old is not None:
            del module._forward_pre_hooks[old_key]
        else:
            module.register_parameter(name + "_orig", current)
            del module._parameters[name]
        module.register_buffer(name + "_mask", Tensor(np.asarray(mask, dtype=default_mask.dtype)))
        setattr(module, name, method.apply_mask(module))
        module.register_forward_pre_hook(method)
        return method

    def prune(self, t, default_mask=None, importance_scores=None):
        """The masked copy of ``t`` (a Tensor or array), without touching any module."""
        data = t._array if isinstance(t, Tensor) else np.asarray(t)
        scores = data if importance_scores is None else _importance(importance_scores, data, "t")
        default = np.ones_like(data) if default_mask is None else np.asarray(
            default_mask._array if isinstance(default_mask, Tensor) else default_mask)
        return Tensor(data * self.compute_mask(scores, default_mask=default))

    def remove(self, module: Module) -> None:
        """Fold the mask into the parameter: ``module.<name>`` becomes a Parameter again (the
        ``<name>_orig`` object, now holding the masked values)."""
        name = self._tensor_name
        weight = self.apply_mask(module)
        module.__dict__.pop(name, None)
        orig = module._parameters[name + "_orig"]
        orig._array = weight._array
        orig._version += 1
        del module._parameters[name + "_orig"]
        del module._buffers[name + "_mask"]
        setattr(module, name, orig)


def _hook_of(module: Module, name: str):
    """(key, method) of the pruning hook on ``module.<name>``, or (None, None)."""
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            return key, hook
    return None, None


def _importance(scores, like, name: str) -> np.ndarray:
    like_data = like._array if isinstance(like, Tensor) else np.asarray(like)
    if scores is None:
        return like_data
    data = np.asarray(scores._array if isinstance(scores, Tensor) else scores)
    if data.shape != like_data.shape:
        raise ValueError(f"prune: importance_scores for {name!r} have shape {data.shape}, the "
                         f"parameter has shape {like_data.shape}; they must match")
    return data


class PruningContainer(BasePruningMethod):
    """The pruning methods applied to one parameter in turn; the newest one prunes what the
    earlier ones left (unstructured: among unpruned entries; structured: among channels
    still alive along its ``dim``)."""

    def __init__(self, *methods: BasePruningMethod):
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(methods) == 1 and not isinstance(methods[0], BasePruningMethod):
            methods = tuple(methods[0])        # PyTorch also takes one iterable of methods
        for method in methods:
            self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod) -> None:
        if not isinstance(method, BasePruningMethod):
            raise TypeError(f"PruningContainer: {type(method).__name__} is not a pruning method")
        if not self._pruning_methods:
            self._tensor_name = getattr(method, "_tensor_name", None)
        elif method._tensor_name != self._tensor_name:
            raise ValueError(f"PruningContainer: can only add methods that prune "
                             f"{self._tensor_name!r}, not {method._tensor_name!r}")
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, index):
        return self._pruning_methods[index]

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        method = self._pruning_methods[-1]
        mask = np.array(default_mask, dtype=t.dtype if t.dtype.kind == "f" else np.float32)
        if method.PRUNING_TYPE == "unstructured":
            alive = mask == 1
        elif method.PRUNING_TYPE == "structured":
            dim = _check_dim(t, method.dim)
            others = tuple(d for d in range(t.ndim) if d != dim)
            index = [slice(None)] * t.ndim
            index[dim] = mask.sum(axis=others) != 0
            alive = tuple(index)
        elif method.PRUNING_TYPE == "global":
            alive = (slice(None),) * t.ndim
        else:
            raise ValueError(f"PruningContainer: unknown PRUNING_TYPE {method.PRUNING_TYPE!r}")
        mask[alive] = method.compute_mask(t[alive], default_mask=mask[alive])
        return mask


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones (a way to reparametrise without pruning)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Prunes ``amount`` entries chosen at random (chainrule's seeded generator)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _check_amount(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        return _entries_mask(self.amount, t, default_mask,
                             lambda: default_generator().random(t.size))

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the ``amount`` entries of smallest absolute value (magnitude pruning)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _check_amount(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        return _entries_mask(self.amount, t, default_mask, lambda: np.abs(t).reshape(-1))

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` whole slices along ``dim`` (e.g. output channels: ``dim=0``),
    chosen at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim: int = -1):
        _check_amount(amount)
        self.amount, self.dim = amount, dim

    def compute_mask(self, t, default_mask):
        return _slices_mask(self.amount, self.dim, t, default_mask,
                            lambda dim: default_generator().random(t.shape[dim]))

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the ``amount`` slices along ``dim`` with the smallest L``n`` norm (``n`` as
    ``numpy.linalg.norm``'s ``ord``: 1, 2, ``inf``, ``-inf``, ...)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim: int = -1):
        _check_amount(amount)
        self.amount, self.n, self.dim = amount, n, dim

    def compute_mask(self, t, default_mask):
        def norms(dim: int) -> np.ndarray:          # the L-n norm of each slice
            slices = np.moveaxis(t, dim, 0).reshape(t.shape[dim], -1).astype(np.float64)
            return np.linalg.norm(slices, ord=self.n, axis=1)
        return _slices_mask(self.amount, self.dim, t, default_mask, norms)

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim,
                             importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Applies a mask you give (combined with any mask already in place)."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = np.asarray(mask._array if isinstance(mask, Tensor) else mask)

    def compute_mask(self, t, default_mask):
        if self.mask.shape != default_mask.shape:
            raise ValueError(f"custom_from_mask: the mask has shape {self.mask.shape}, the "
                             f"parameter has shape {default_mask.shape}")
        return default_mask * self.mask.astype(default_mask.dtype)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


# ------------------------------------------------------------------------- functions
def identity(module: Module, name: str) -> Module:
    """Reparametrise ``module.<name>`` with an all-ones mask (prunes nothing).

    Example: ``prune.identity(nn.Linear(2, 3), "bias")``
    """
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount) -> Module:
    """Prune ``amount`` entries of ``module.<name>`` at random (a fraction or a count).

    Example: ``prune.random_unstructured(model[0], "weight", amount=0.3)``
    """
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount, importance_scores=None) -> Module:
    """Prune the ``amount`` entries of ``module.<name>`` smallest in absolute value (of
    ``importance_scores`` when given).

    Example: ``prune.l1_unstructured(model[0], "weight", amount=0.9)``
    """
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount, dim: int) -> Module:
    """Prune ``amount`` random slices of ``module.<name>`` along ``dim``.

    Example: ``prune.random_structured(conv, "weight", amount=2, dim=0)`` removes 2 filters.
    """
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: Module, name: str, amount, n, dim: int, importance_scores=None) -> Module:
    """Prune the ``amount`` slices of ``module.<name>`` along ``dim`` with the smallest
    L``n`` norm.

    Example: ``prune.ln_structured(model[0], "weight", amount=0.5, n=2, dim=0)`` removes half
    the layer's output neurons.
    """
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module: Module, name: str, mask) -> Module:
    """Prune ``module.<name>`` where ``mask`` is 0.

    Example: ``prune.custom_from_mask(layer, "bias", mask=cr.tensor([0.0, 1.0, 1.0]))``
    """
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters: Iterable[tuple[Module, str]], pruning_method,
                        importance_scores: Mapping | None = None, **kwargs) -> None:
    """Prune several parameters together: the entries ranked lowest across all of them go
    (so a layer whose weights are all small may lose more than another), with an
    unstructured method such as :class:`L1Unstructured`.

    Args:
        parameters: ``(module, name)`` pairs.
        pruning_method: the method class, e.g. ``prune.L1Unstructured``.
        importance_scores: optional ``{(module, name): scores}``; default the values.
        **kwargs: the method's arguments, e.g. ``amount=0.9``.

    Example:
        >>> model = cr.nn.Sequential(cr.nn.Linear(8, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
        >>> prune.global_unstructured([(model[0], "weight"), (model[2], "weight")],
        ...                           pruning_method=prune.L1Unstructured, amount=0.5)
        >>> int((model[0].weight.data == 0).sum() + (model[2].weight.data == 0).sum())
        20
    """
    if isinstance(parameters, (str, bytes)) or not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured: parameters must be an iterable of "
                        "(module, name) pairs")
    parameters = list(parameters)
    if not parameters:
        raise ValueError("global_unstructured: no parameters given")
    scores = {} if importance_scores is None else importance_scores
    if not isinstance(scores, Mapping):
        raise TypeError("global_unstructured: importance_scores must be a dict of "
                        "{(module, name): scores}")
    method = pruning_method(**kwargs)
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f"global_unstructured: only unstructured methods can rank entries "
                        f"across parameters; {pruning_method.__name__} is {method.PRUNING_TYPE}")
    values, masks = [], []
    for module, name in parameters:
        current = getattr(module, name)
        values.append(_importance(scores.get((module, name)), current, name).reshape(-1))
        mask = getattr(module, name + "_mask", None)
        masks.append(np.ones(current._array.size, dtype=current._array.dtype) if mask is None
                     else mask._array.reshape(-1))
    method._tensor_name = "temp"
    container = PruningContainer(method)
    final = container.compute_mask(np.concatenate(values), np.concatenate(masks))
    start = 0
    for module, name in parameters:
        shape = getattr(module, name).shape
        size = int(np.prod(shape))
        custom_from_mask(module, name, final[start:start + size].reshape(shape))
        start += size


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``module.<name>`` permanent: the masked values become the
    Parameter ``<name>`` again; the hook, ``<name>_orig`` and ``<name>_mask`` are removed.

    Example: ``prune.remove(model[0], "weight")``
    """
    key, method = _hook_of(module, name)
    if method is None:
        raise ValueError(f"Parameter '{name}' of module {type(module).__name__} has to be "
                         f"pruned before pruning can be removed")
    method.remove(module)
    del module._forward_pre_hooks[key]
    return module


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or any module inside it has a parameter under pruning.

    Example: ``prune.is_pruned(model)``
    """
    return any(isinstance(hook, BasePruningMethod)
               for _, sub in module.named_modules() for hook in sub._forward_pre_hooks.values())


# ------------------------------------------------------------------ sparse storage
SPARSE_FORMAT = "chainrule.bitmask"


def sparse_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict with every floating tensor that is mostly zeros stored as a bitmask
    (one bit per entry, ``np.packbits``) plus its non-zero values, ready for ``cr.save``.

    A tensor is stored this way only where it gets smaller: with 4-byte values, when more
    than 1/32 of its entries are zero. Fold pruning masks in first (:func:`remove`), or the
    state holds both ``weight_orig`` and ``weight_mask``. :func:`dense_state_dict` undoes it.

    Example:
        >>> state = {"w": np.array([[0.0, 2.0], [0.0, 0.0]], dtype=np.float32)}
        >>> packed = sparse_state_dict(state)
        >>> packed["w"]["values"], dense_state_dict(packed)["w"].tolist()
        (array([2.], dtype=float32), [[0.0, 2.0], [0.0, 0.0]])
    """
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        array = value._array if isinstance(value, Tensor) else np.asarray(value)
        nonzero = array != 0
        kept = int(nonzero.sum())
        dense_bytes = array.nbytes
        sparse_bytes = (array.size + 7) // 8 + kept * array.itemsize
        if array.dtype.kind != "f" or array.ndim == 0 or sparse_bytes >= dense_bytes:
            out[key] = array
            continue
        out[key] = {"format": SPARSE_FORMAT, "shape": list(array.shape),
                    "mask": np.packbits(nonzero.reshape(-1)), "values": array[nonzero]}
    return out


def is_sparse_entry(value: Any) -> bool:
    """Whether a state-dict entry is a bitmask tensor of :func:`sparse_state_dict`."""
    return isinstance(value, Mapping) and value.get("format") == SPARSE_FORMAT


def sparse_entry_shape(entry: Mapping[str, Any]) -> tuple[int, ...]:
    """The dense shape of a bitmask entry, after checking that its parts agree: a
    1-dimensional uint8 mask of exactly one bit per entry (rounded up to bytes) and as many
    1-dimensional floating values as the mask keeps. Raises ValueError otherwise, so a file
    cannot make :func:`dense_state_dict` allocate more than its mask describes.

    Example:
        >>> sparse_entry_shape(sparse_state_dict({"w": np.eye(3, dtype=np.float32)})["w"])
        (3, 3)
    """
    if not is_sparse_entry(entry):
        raise ValueError(f"is not a bitmask tensor (no format={SPARSE_FORMAT!r} entry)")
    try:
        shape, mask, values = entry["shape"], entry["mask"], entry["values"]
    except KeyError as e:
        raise ValueError(f"is not a readable bitmask tensor (no {e} entry)") from None
    if not isinstance(shape, (list, tuple)) or len(shape) > 64 or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        raise ValueError(f"has a shape that is not a list of whole numbers: {shape!r:.100}")
    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"has a negative size in its shape {list(shape)}")
    if not (isinstance(mask, np.ndarray) and mask.dtype == np.uint8 and mask.ndim == 1):
        raise ValueError("has a mask that is not a 1-dimensional uint8 array")
    if not (isinstance(values, np.ndarray) and values.dtype.kind == "f" and values.ndim == 1):
        raise ValueError("has values that are not a 1-dimensional floating array")
    size = math.prod(shape)
    if mask.size != (size + 7) // 8:
        raise ValueError(f"has a mask of {mask.size * 8} bits for the {size} entries of its "
                         f"shape {list(shape)}")
    kept = int(np.unpackbits(mask, count=size).sum())
    if kept != values.size:
        raise ValueError(f"marks {kept} entries as kept but stores {values.size} values")
    return shape


def dense_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Undo :func:`sparse_state_dict`: every bitmask entry becomes a dense array again (other
    entries pass through), so ``model.load_state_dict(dense_state_dict(...))`` works.
    An entry whose parts disagree (:func:`sparse_entry_shape`) raises ValueError."""
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        if not is_sparse_entry(value):
            out[key] = value
            continue
        try:
            shape = sparse_entry_shape(value)
        except ValueError as e:
            raise ValueError(f"dense_state_dict: entry {key!r} {e}") from None
        values = value["values"]
        nonzero = np.unpackbits(value["mask"], count=math.prod(shape)).astype(bool)
        array = np.zeros(nonzero.size, dtype=values.dtype)
        array[nonzero] = values
        out[key] = array.reshape(shape)
    return out
