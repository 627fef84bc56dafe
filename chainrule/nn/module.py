"""Module: the base of every layer and model.

A Module keeps three ordered registries, filled by plain attribute assignment:

* ``_parameters``  Parameters (learnable; what an optimiser updates)
* ``_buffers``     Tensors that are state but not learned (BatchNorm's running mean)
* ``_modules``     child Modules

Each registry also mirrors its entries into the module's ``__dict__``, so ``self.weight``
in a forward pass is a plain attribute lookup (0.1 us) rather than a failed one followed by
``__getattr__`` (1.7 us, paid by every layer on every call).

Names follow PyTorch's, so ``state_dict()`` keys of a chainrule model and of the same
PyTorch model agree one to one (``"0.weight"``, ``"encoder.norm.running_var"``).
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from chainrule import backend
from chainrule.autograd import no_grad, zero_grad_
from chainrule.hooks import RemovableHandle
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class _Registry(OrderedDict):
    """An ordered registry (the source of truth) that keeps a copy of each entry in its
    module's ``__dict__``, however it is changed: through the module or directly, as
    PyTorch-style code does with ``module._parameters[name] = ...``."""

    _mirror: dict | None = None     # the owning module's __dict__

    def __init__(self, mirror: dict | None = None):
        super().__init__()
        self._mirror = mirror

    def __setitem__(self, name, value) -> None:
        super().__setitem__(name, value)
        if self._mirror is not None:
            self._mirror[name] = value

    def __delitem__(self, name) -> None:
        super().__delitem__(name)
        if self._mirror is not None:
            self._mirror.pop(name, None)

    def pop(self, name, *default):
        if name in self and self._mirror is not None:
            self._mirror.pop(name, None)
        return super().pop(name, *default)

    def popitem(self, last: bool = True):
        name, value = super().popitem(last)
        if self._mirror is not None:
            self._mirror.pop(name, None)
        return name, value

    def clear(self) -> None:
        if self._mirror is not None:
            for name in self:
                self._mirror.pop(name, None)
        super().clear()

    def setdefault(self, name, default=None):
        if name not in self:
            self[name] = default
        return self[name]

    def update(self, *args, **kwargs) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def __reduce__(self):
        # A copy or pickle of a registry is a plain OrderedDict: the mirror belongs to the
        # module (whose __setstate__ makes registries of its own again).
        return OrderedDict, (list(self.items()),)


def _parse_to_dtype(args: tuple, kwargs: dict):
    """The dtype asked for by ``module.to(...)``: floating only, since parameters must stay
    differentiable."""
    dt = backend.parse_to(args, kwargs)
    if dt is not None and dt.kind != "f":
        raise TypeError(f"to: module parameters must stay floating point, got dtype {dt}")
    return dt


class Module:
    """Base class for layers and models: subclass it, assign layers and Parameters in
    ``__init__``, and compute the output in ``forward``.

    Example:
        >>> class TwoLayer(cr.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = cr.nn.Linear(4, 8)
        ...         self.out = cr.nn.Linear(8, 1)
        ...     def forward(self, x):
        ...         return self.out(cr.relu(self.hidden(x)))
        >>> model = TwoLayer()
        >>> [name for name, _ in model.named_parameters()]
        ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    """

    training: bool

    def __init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "training", True)
        d = self.__dict__
        set_(self, "_parameters", _Registry(d))
        set_(self, "_buffers", _Registry(d))
        set_(self, "_non_persistent_buffers", set())
        set_(self, "_modules", _Registry(d))
        set_(self, "_forward_pre_hooks", OrderedDict())
        set_(self, "_forward_hooks", OrderedDict())

    # ------------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} has no forward(); define "
                        f"forward(self, ...) in your Module subclass")

    def forward_macs(self, inputs: tuple, output) -> int | None:
        """The multiply-adds (one ``a * b + c`` each) of one forward call that received the
        positional ``inputs`` and returned ``output``: what ``cr.explain.summary`` reports for
        this layer. None (the default) means the layer does not say, shown as '?'.

        Every layer in ``chainrule.nn`` overrides it (a test checks that); a layer of your own
        may too. Matrix products count one per product term, normalisations two per element,
        averages one per averaged element; elementwise activations, comparisons, copies and
        lookups count 0.

        Example:
            >>> import chainrule as cr
            >>> layer = cr.nn.Linear(3, 2)
            >>> x = cr.zeros(4, 3)
            >>> layer.forward_macs((x,), layer(x))      # 4 x 2 outputs, 3 terms each
            24
        """
        return None

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                changed = hook(self, args)
                if changed is not None:
                    args = changed if isinstance(changed, tuple) else (changed,)
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:   # checked first: most modules have none, and calls are hot
            for hook in list(self._forward_hooks.values()):
                changed = hook(self, args, out)
                if changed is not None:
                    out = changed
        return out

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args)`` before each forward; a non-None result replaces args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward; a non-None result
        replaces the output. Example: record activations for a gradient-flow plot."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------- registration
    def _check_name(self, name: str, kind: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__})")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{kind} name {name!r} must be non-empty and contain no '.'")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a Parameter (or None, a declared but absent one, like ``bias=False``)."""
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} object to parameter {name!r} "
                            f"(chainrule.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add state that is not learned (saved in ``state_dict`` unless ``persistent=False``).

        Example: ``self.register_buffer("running_mean", cr.zeros(num_features))``
        """
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} object to buffer {name!r} "
                            f"(a chainrule Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Add a child module under ``name`` (what ``self.name = module`` does)."""
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if isinstance(value, Parameter):
            self._check_name(name, "parameter")
            self._forget(name, keep="_parameters")
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._check_name(name, "module")
            self._forget(name, keep="_modules")
            self._modules[name] = value
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                f"(chainrule.nn.Parameter or None expected)")
            d["_parameters"][name] = None
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                f"(a Module or None expected)")
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                f"(a chainrule Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Remove ``name`` from every registry but ``keep`` and from the plain attributes."""
        for reg in ("_parameters", "_buffers", "_modules"):
            if reg != keep:
                self.__dict__[reg].pop(name, None)
        self.__dict__.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __setstate__(self, state: dict) -> None:
        # Unpickling and deepcopy rebuild __dict__ as a new dict: point the registries'
        # mirrors at it (and upgrade plain registries from older pickles).
        self.__dict__.update(state)
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            entries = d.get(reg)
            if entries is not None:
                registry = _Registry(d)
                registry.update(entries)
                d[reg] = registry

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails (registered names are mirrored into
        # __dict__, so this is the path of registries from before that, e.g. unpickled).
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            if reg in d and name in d[reg]:
                return d[reg][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for reg in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(reg, ()):
                del self.__dict__[reg][name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    # ----------------------------------------------------------------- walking
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """(name, module) for this module and every descendant, depth first; a module
        reachable twice is listed once unless ``remove_duplicate=False``."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            sub = f"{prefix}.{name}" if prefix else name
            yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator["Module"]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True, persistent_only: bool = False):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in getattr(mod, registry).items():
                if value is None or (persistent_only and name in mod._non_persistent_buffers):
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs; a parameter shared by two layers is listed once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter of this module (and its descendants when ``recurse``)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The descendant named by a dotted path, e.g. ``model.get_submodule("encoder.0")``."""
        mod = self
        if target == "":
            return mod
        for part in target.split("."):
            if part not in mod._modules or mod._modules[part] is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            mod = mod._modules[part]
        return mod

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every descendant and then on this module (e.g. custom init)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "Module":
        """Training mode (Dropout drops, BatchNorm uses batch statistics), recursively."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {type(mode).__name__}")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze (True) every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset gradients: drop them (default) or fill them with zeros.

        As with ``Optimizer.zero_grad``, a dropped gradient of 32 MiB or more is kept out of
        sight for the next backward to write into (no page faults on a fresh array); it is
        released with the parameter, or when ``requires_grad`` is turned off."""
        for p in self.parameters():
            zero_grad_(p, set_to_none)

    # ------------------------------------------------------------------ dtypes
    def _convert(self, dtype: np.dtype) -> "Module":
        """Cast every floating parameter, gradient and buffer to ``dtype``, in place (the
        Parameter objects stay the same, so an optimiser holding them still works)."""
        for mod in self.modules():
            for p in mod._parameters.values():
                if p is not None and p.dtype.kind == "f" and p.dtype != dtype:
                    p.data = p.data.astype(dtype)
                    p._version += 1
                    if p.grad is not None:
                        p.grad = Tensor(p.grad.data.astype(dtype))
            for name, b in mod._buffers.items():
                if b is not None and b.dtype.kind == "f" and b.dtype != dtype:
                    b.data = b.data.astype(dtype)
                    b._version += 1
        return self

    def to(self, *args, **kwargs) -> "Module":
        """``to(dtype)``, ``to("cpu")`` or ``to(tensor)``: cast floating parameters and buffers.

        Example: ``model.to(cr.float64)``
        """
        dtype = _parse_to_dtype(args, dict(kwargs))
        return self if dtype is None else self._convert(dtype)

    def float(self) -> "Module":
        """Cast floating parameters and buffers to float32."""
        return self._convert(np.dtype(np.float32))

    def double(self) -> "Module":
        """Cast floating parameters and buffers to float64."""
        return self._convert(np.dtype(np.float64))

    def cpu(self) -> "Module":
        return self

    # -------------------------------------------------------------- state dict
    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Every parameter and persistent buffer by dotted name.

        The values share memory with the module's (as PyTorch's do): save or copy them
        before changing the model if you need a snapshot. ``keep_vars=True`` returns the
        Parameter objects themselves.

        Example:
            >>> list(cr.nn.Linear(2, 3).state_dict())
            ['weight', 'bias']
        """
        out = OrderedDict() if destination is None else destination
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            for reg, persistent_only in (("_parameters", False), ("_buffers", True)):
                for name, value in getattr(mod, reg).items():
                    if value is None or (persistent_only and name in mod._non_persistent_buffers):
                        continue
                    key = f"{mod_prefix}.{name}" if mod_prefix else name
                    out[key] = value if keep_vars else Tensor(value.data)
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into this module's parameters and buffers, by name.

        Values may be chainrule Tensors, NumPy arrays, or anything ``np.asarray`` accepts
        (a PyTorch state dict loads directly). Floating values are cast to the parameter's
        dtype. Every problem is reported in ONE error naming the keys: missing keys,
        unexpected keys and shape mismatches. Nothing is copied unless the whole load is
        valid. With ``strict=False`` missing and unexpected keys are allowed and returned
        as ``(missing_keys, unexpected_keys)``; shape mismatches are always errors.

        Example:
            >>> model.load_state_dict(torch_model.state_dict())
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a mapping of name -> tensor, got "
                            f"{type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems, values = [], {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            try:
                value = _as_numpy(state_dict[key])
            except (TypeError, ValueError) as e:
                problems.append(f"value for {key!r} cannot be read as an array ({e})")
                continue
            if value.shape != target.shape:
                problems.append(f"size mismatch for {key}: copying a param with shape "
                                f"{value.shape} from checkpoint, the shape in current model "
                                f"is {target.shape}")
                continue
            if value.dtype.kind not in "biuf":
                problems.append(f"value for {key!r} has non-numeric dtype {value.dtype}")
                continue
            values[key] = value
        header = []
        if strict and missing:
            header.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if strict and unexpected:
            header.append("Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected) + ".")
        problems = header + problems
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(problems))
        with no_grad():
            for key, value in values.items():
                target = own[key]
                np.copyto(target.data, value, casting="unsafe")
                target._version += 1
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (override in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def _child_lines(self) -> list[str]:
        lines = []
        for name, child in self._modules.items():
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        return lines

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = self._child_lines()
        if not extra_lines and not child_lines:
            return self._get_name() + "()"
        if len(extra_lines) == 1 and not child_lines:
            return f"{self._get_name()}({extra_lines[0]})"
        body = "\n  ".join(extra_lines + child_lines)
        return f"{self._get_name()}(\n  {body}\n)"

    def _repr_html_(self) -> str:
        """Jupyter's display: the layer table (one row per layer that has parameters or no
        children: its name, type, arguments, parameter shapes and count) and the totals."""
        from chainrule._html import table
        rows = []
        for name, m in self.named_modules():
            own = list(m._parameters.items())
            if not own and m._modules:
                continue          # a container: its layers have their own rows
            shapes = ", ".join(f"{n} {tuple(p.shape)}" for n, p in own if p is not None)
            count = sum(p.numel() for _, p in own if p is not None)
            frozen = any(p is not None and not p.requires_grad for _, p in own)
            rows.append([name or "(root)", m._get_name(), m.extra_repr().replace("\n", " "),
                         shapes or "-", f"{count:,}" + (" (frozen)" if frozen else "")])
        params = list(self.parameters())
        total = sum(p.numel() for p in params)
        trainable = sum(p.numel() for p in params if p.requires_grad)
        caption = (f"{self._get_name()}: {total:,} parameters ({trainable:,} trainable), "
                   f"{'training' if self.training else 'eval'} mode")
        return table(["layer", "type", "arguments", "parameter shapes", "parameters"], rows,
                     right=[4], caption=caption)


def _as_numpy(value) -> np.ndarray:
    """A state-dict value as an ndarray: chainrule Tensors, arrays, and foreign tensors
    (PyTorch's, via ``detach().cpu().numpy()`` when they have it)."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        return np.asarray(value.numpy())
    return np.asarray(value)
