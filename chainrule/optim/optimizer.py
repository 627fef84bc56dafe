"""Optimizer: the base class every optimiser builds on (PyTorch's ``torch.optim.Optimizer``).

An optimiser holds *parameter groups*: dicts with a ``"params"`` list and the
hyper-parameters for those parameters (a group's own values win; missing ones come from the
optimiser's ``defaults``). ``step()`` walks every parameter that has a gradient and hands it to
the subclass's ``_update_param``, which changes ``param._array`` in place with NumPy (no graph is
recorded) and keeps whatever running averages it needs in ``self.state[param]``.

Every in-place change bumps the parameter's ``_version``, so a backward pass that saved the old
value (``y = w * w`` before ``step()``, then ``y.backward()``) refuses instead of returning a
gradient of values that no longer exist.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from chainrule.autograd import enable_grad, zero_grad_
from chainrule.tensor import Tensor, mark_changed

__all__ = ["Optimizer", "ParamsT"]

ParamsT = Iterable[Any]


def _is_param_like(obj: Any) -> bool:
    """A Tensor, an ``nn.Parameter`` (a Tensor subclass), or anything with an ndarray
    ``._array`` and a ``.grad`` attribute."""
    return isinstance(getattr(obj, "_array", None), np.ndarray) and hasattr(obj, "grad")


def _grad_array(param: Any) -> np.ndarray | None:
    """The parameter's gradient as an ndarray (None when it has none)."""
    grad = param.grad
    if grad is None:
        return None
    data = getattr(grad, "_array", None)
    return data if type(data) is np.ndarray else np.asarray(grad)


def _copy_state_value(value: Any) -> Any:
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else copy.deepcopy(value)


class Optimizer:
    """Base class of all optimisers.

    Subclasses pass their hyper-parameter ``defaults`` to ``__init__``, check a group's values in
    ``_check_hyperparameters(group)`` and update one parameter in ``_update_param``.

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts (parameter
            groups, each with a ``"params"`` entry and optional per-group hyper-parameters).
        defaults: the hyper-parameters a group falls back to.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> b = cr.tensor([0.0], requires_grad=True)
        >>> opt = cr.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
        >>> (w * w).sum().backward(); opt.step()
        >>> w
        tensor([0.8, 1.6], requires_grad=True)
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if _is_param_like(params):
            raise TypeError(
                f"params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got a single {type(params).__name__}; wrap it in a list")
        if isinstance(params, (set, frozenset)):
            raise TypeError("params: optimizer parameters must be an ordered collection (a list), "
                            "not a set, whose order changes between runs")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones come from
        ``defaults``), e.g. to start training layers that were frozen.

        Example: ``opt.add_param_group({"params": head.parameters(), "lr": 1e-2})``
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry listing its parameters")
        group = dict(param_group)
        params = group["params"]
        if _is_param_like(params):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("param_group['params']: optimizer parameters must be an ordered "
                            "collection (a list), not a set, whose order changes between runs")
        params = list(params)

        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with or without names; "
                                 "some parameter names are missing")
            group["param_names"] = names
        for p in params:
            if not _is_param_like(p):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"a {type(p).__name__}")
            if getattr(p, "grad_fn", None) is not None:
                raise ValueError("can't optimize a non-leaf Tensor (one produced by an "
                                 "operation); optimise the leaf it was computed from")
            if p._array.dtype.kind not in "fc":
                raise TypeError(f"optimizer can only optimize floating-point tensors, but one of "
                                f"the params has dtype {p._array.dtype}")
        group["params"] = params

        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group lists the same parameter more than once; "
                             "it would be updated twice per step")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        for g in self.param_groups:
            if ("param_names" in g) != ("param_names" in group):
                raise ValueError("all optimizer param groups should be with or without names; "
                                 "cannot mix named and unnamed groups")

        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        """Raise ValueError naming the argument and its value when a group's setting is invalid."""
        _check_at_least("lr", group["lr"], 0.0)

    # -------------------------------------------------------------------- step
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: drop it (``set_to_none=True``, the default, which
        also lets ``step`` skip parameters that got no gradient) or fill it with zeros.

        A dropped gradient of 32 MiB or more that nothing else refers to is kept out of sight
        (``p.grad`` is None) for the next backward to write into, saving the page faults of a
        fresh array; it is released with the parameter, or when ``requires_grad`` is turned
        off."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    zero_grad_(p, set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return what ``closure`` returned.

        ``closure`` (optional) clears the gradients, recomputes the loss, calls ``backward`` and
        returns the loss; it runs first, with gradient recording on.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        state, update = self.state, self._update_param
        changed = []
        try:
            for group in self.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    grad = grad._array if type(grad) is Tensor else _grad_array(p)
                    data = p._array
                    if grad.shape != data.shape:
                        raise ValueError(f"{type(self).__name__}.step: a parameter of shape "
                                         f"{data.shape} has a gradient of shape {grad.shape}")
                    update(data, grad, state[p], group)
                    changed.append(p)
        finally:
            mark_changed(changed)        # each changed in place: a new version (even if a
            # later parameter failed, so a backward through the changed ones still refuses)
        return loss

    def _update_param(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                      group: dict[str, Any]) -> None:
        """Change ``param`` in place from ``grad`` (never modified) and this parameter's
        ``state``, with the hyper-parameters in ``group``. Each optimiser defines it."""
        raise TypeError(f"{type(self).__name__} does not define an update rule; subclass "
                        f"Optimizer and implement _update_param")

    # ------------------------------------------------------------- save / load
    def state_dict(self) -> dict[str, Any]:
        """A snapshot to resume training from, in PyTorch's layout::

            {"state": {index: {"step": 3, "exp_avg": ndarray, ...}},
             "param_groups": [{"lr": 0.1, ..., "params": [0, 1]}, ...]}

        Parameters are numbered across groups in order; arrays are copies (later steps don't
        change a saved snapshot).
        """
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index_of[id(p)]] = {k: _copy_state_value(v)
                                              for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a snapshot from ``state_dict()`` (hyper-parameters and per-parameter state,
        copied), so training continues exactly where it stopped. The groups must match this
        optimiser's: same number, same number of parameters in each."""
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups' "
                             "entries, as returned by Optimizer.state_dict()")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has a different number of parameter groups: it has "
                f"{len(saved_groups)}, this optimizer has {len(self.param_groups)}")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group that doesn't match the size "
                    f"of optimizer's group: group {i} has {len(saved['params'])} parameters "
                    f"saved, {len(group['params'])} here")

        param_of = {}
        for group, saved in zip(self.param_groups, saved_groups):
            for index, p in zip(saved["params"], group["params"]):
                param_of[int(index)] = p

        new_state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for index, entries in state_dict["state"].items():
            index = int(index)
            if index not in param_of:
                raise ValueError(f"load_state_dict: state is saved for parameter {index}, "
                                 f"which no parameter group lists")
            p = param_of[index]
            new_state[p] = {k: self._restore_state_value(p, index, k, v)
                            for k, v in entries.items()}

        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            restored = {k: copy.deepcopy(v) for k, v in saved.items()
                        if k not in ("params", "param_names")}
            restored["params"] = group["params"]
            if "param_names" in group:
                restored["param_names"] = group["param_names"]
            for name, default in self.defaults.items():
                restored.setdefault(name, default)
            self._check_hyperparameters(restored)
            new_groups.append(restored)
        self.state = new_state
        self.param_groups = new_groups

    @staticmethod
    def _restore_state_value(param: Any, index: int, key: str, value: Any) -> Any:
        """A copy of one saved state entry; arrays of the parameter's size take its dtype."""
        if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and key != "step"):
            arr = np.array(value, copy=True)
            if arr.ndim > 0:
                if arr.shape != param._array.shape:
                    raise ValueError(
                        f"load_state_dict: state[{index}][{key!r}] has shape {arr.shape}, but "
                        f"parameter {index} has shape {param._array.shape}")
                if arr.dtype.kind == "f":
                    arr = arr.astype(param._array.dtype, copy=False)
            return arr
        return copy.deepcopy(value)

    # ------------------------------------------------------------------- misc
    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# ------------------------------------------------------------- shared helpers
def _check_at_least(name: str, value: Any, low: float) -> None:
    """``value >= low`` or a ValueError that names the argument and the value."""
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool) \
            or not value >= low:
        raise ValueError(f"Invalid {name} value: {name}={value!r} (expected a number >= {low:g})")


def _check_betas(betas: Any) -> None:
    """Adam's ``betas``: a pair of numbers, each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas value: betas={betas!r} (expected a pair (beta1, beta2))")
    for i, b in enumerate(betas):
        if not isinstance(b, (int, float, np.floating)) or isinstance(b, bool) \
                or not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: betas[{i}]={b!r} "
                             f"(expected 0 <= beta < 1)")


def _check_adam_hyperparameters(group: dict[str, Any]) -> None:
    """What the Adam family (Adam, AdamW, Adamax, NAdam, RAdam) asks of lr, eps, betas and
    weight_decay, as PyTorch checks them."""
    _check_at_least("lr", group["lr"], 0.0)
    _check_at_least("eps", group["eps"], 0.0)
    _check_betas(group["betas"])
    _check_at_least("weight_decay", group["weight_decay"], 0.0)


def _directed_grad(param: np.ndarray, grad: np.ndarray, weight_decay: float,
                   maximize: bool) -> np.ndarray:
    """The gradient the update follows: ``-grad`` when maximising, plus ``weight_decay * param``
    (L2 penalty folded into the gradient). Returns ``grad`` itself when nothing changes it
    (callers must then not write into it), otherwise a fresh array."""
    if weight_decay == 0:
        return np.negative(grad) if maximize else grad
    out = np.multiply(param, weight_decay)
    if maximize:
        out -= grad
    else:
        out += grad
    return out


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """``start += weight * (end - start)`` in place (a running average), evaluated from
    whichever end is nearer, as ``torch.lerp`` does, for the smaller rounding error."""
    np.subtract(end, start, out=scratch)
    if weight < 0.5:
        scratch *= weight
        start += scratch
    else:
        scratch *= 1.0 - weight
        np.subtract(end, scratch, out=start)
