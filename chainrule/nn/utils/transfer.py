"""Transfer learning helpers: start a model from another one's weights where they fit, and
freeze parameters by name.

The PyTorch way works as is (``model.load_state_dict(state, strict=False)``,
``model[:-1].requires_grad_(False)``, a new head by assignment, parameter groups with their
own ``lr``); these two functions add what a command line needs: loading only the entries
whose name *and* shape match (a head for 10 classes does not fit one for 5), with a report
of what was taken, and freezing by name patterns.

    >>> import chainrule as cr
    >>> source = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 10))
    >>> target = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 5))
    >>> report = load_matching(target, source.state_dict())
    >>> report.loaded, report.mismatched
    (['0.weight', '0.bias'], ['2.weight', '2.bias'])
    >>> freeze(target, ["0.*"])
    ['0.weight', '0.bias']
"""
from __future__ import annotations

import fnmatch
from typing import Iterable, Mapping, NamedTuple

from chainrule.nn.module import Module, _as_numpy

__all__ = ["TransferReport", "load_matching", "freeze"]


class TransferReport(NamedTuple):
    """What :func:`load_matching` did, by state-dict key."""
    loaded: list[str]           # copied: same name, same shape
    mismatched: list[str]       # same name, another shape (or integer into float): left as is
    missing: list[str]          # in the model only
    unexpected: list[str]       # in the source only


def load_matching(model: Module, state_dict: Mapping) -> TransferReport:
    """Copy into ``model`` every entry of ``state_dict`` whose name and shape match one of
    the model's parameters or buffers; leave everything else as it is, and say what
    happened.

    Raises ValueError when nothing at all matches (most likely the wrong source).
    """
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"load_matching: expected a mapping of name -> tensor, got "
                        f"{type(state_dict).__name__}")
    own = model.state_dict()
    take, mismatch = {}, []
    for key, target in own.items():
        if key not in state_dict:
            continue
        value = _as_numpy(state_dict[key])
        # int8 codes of a quantised model are not weights: a float entry takes floats only
        if value.shape == target.shape and (value.dtype.kind == "f") == (target.dtype.kind == "f"):
            take[key] = value
        else:
            mismatch.append(key)
    if not take:
        raise ValueError(f"load_matching: no entry of the source matches the model by name and "
                         f"shape (model: {', '.join(list(own)[:6])}{', ...' if len(own) > 6 else ''}; "
                         f"source: {', '.join(list(state_dict)[:6])}"
                         f"{', ...' if len(state_dict) > 6 else ''})")
    model.load_state_dict(take, strict=False)
    return TransferReport(list(take), mismatch, [k for k in own if k not in state_dict],
                          [k for k in state_dict if k not in own])


def freeze(model: Module, patterns: Iterable[str]) -> list[str]:
    """Turn off ``requires_grad`` for every parameter whose name matches one of the
    shell-style ``patterns`` (``"0.*"``, ``"features.*"``, ``"*.bias"``) and return their
    names. Each pattern must match something, so a typo is an error, not a silent no-op.
    """
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    named = list(model.named_parameters())
    frozen: list[str] = []
    for pattern in patterns:
        hits = [name for name, _ in named if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise ValueError(f"freeze: pattern {pattern!r} matches no parameter; the model's "
                             f"parameters are {', '.join(name for name, _ in named)}")
        frozen += [h for h in hits if h not in frozen]
    for name, p in named:
        if name in frozen:
            p.requires_grad_(False)
    return [name for name, _ in named if name in frozen]
