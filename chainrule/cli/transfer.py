"""Transfer learning for ``chainrule train``: ``--init-from RUN_DIR`` starts the new model from
a trained run's weights wherever name and shape match (and says which it took), ``--freeze
PATTERNS`` keeps the matching parameters fixed, and ``--backbone-lr LR`` trains the taken
weights at their own (usually smaller) rate in a parameter group of their own.

    chainrule train --data mydigits.csv --init-from runs/mnist-cnn-... --freeze '0.*,3.*'
    chainrule train --init-from runs/mnist-mlp-... --backbone-lr 1e-4 --lr 1e-3

The run's config records what was taken, frozen and grouped, so ``--resume`` rebuilds the
same optimiser.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from chainrule import nn
from chainrule.cli import distributed
from chainrule.cli.errors import UserError, check_number
from chainrule.cli.runs import resolve_checkpoint
from chainrule.nn.utils import freeze, load_matching, prune
from chainrule.train import read_checkpoint

__all__ = ["add_arguments", "check", "apply", "resume_parameters"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    t = parser.add_argument_group("transfer")
    t.add_argument("--init-from", metavar="RUN_DIR", help="start from this run's (or "
                   "checkpoint's) weights wherever name and shape match")
    t.add_argument("--freeze", metavar="PATTERNS", help="with --init-from: comma-separated "
                   "name patterns of parameters to keep fixed, e.g. '0.*,3.*'")
    t.add_argument("--backbone-lr", type=float, metavar="LR", help="with --init-from: "
                   "learning rate of the weights taken from it (default --lr)")


def check(args: argparse.Namespace) -> None:
    """Cheap checks before any data is loaded."""
    if args.init_from is None:
        for flag, value in (("--freeze", args.freeze), ("--backbone-lr", args.backbone_lr)):
            if value is not None:
                raise UserError(f"{flag} applies to weights taken with --init-from RUN_DIR")
        return
    if args.backbone_lr is not None:
        check_number("--backbone-lr", args.backbone_lr, 0.0)
    if args.freeze is not None and not _patterns(args.freeze):
        raise UserError(f"--freeze needs at least one name pattern, got {args.freeze!r}")


def _patterns(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _groups(model: nn.Module, backbone: list[str], backbone_lr: float | None):
    """The trainable parameters: one list, or two groups when the backbone has its own rate."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise UserError("--freeze froze every parameter: nothing is left to train")
    if backbone_lr is None:
        return [p for _, p in trainable]
    taken = set(backbone)
    groups = [{"params": [p for n, p in trainable if n in taken], "lr": backbone_lr},
              {"params": [p for n, p in trainable if n not in taken]}]
    return [g for g in groups if g["params"]]


def apply(args: argparse.Namespace, model: nn.Module) -> tuple[Any, dict | None]:
    """Load, freeze and group as the options say; returns (what the optimiser takes, the
    config section to record, or None without --init-from)."""
    if args.init_from is None:
        return model.parameters(), None
    path = resolve_checkpoint(args.init_from)
    ckpt = read_checkpoint(path)
    if isinstance(ckpt.get("config"), dict) and "quantization" in ckpt["config"]:
        raise UserError(f"--init-from {path!r} is an int8 (quantised) model; start from the "
                        f"float run it was made from")
    try:
        report = load_matching(model, prune.dense_state_dict(ckpt["model"]))
    except ValueError as e:
        raise UserError(f"--init-from {path!r}: {e}") from None
    loaded = report.loaded
    tell = print if distributed.rank() == 0 else (lambda *_: None)   # once per job, not per rank
    total = len(loaded) + len(report.mismatched) + len(report.missing)
    tell(f"--init-from {path}: took {len(loaded)} of {total} tensors ({', '.join(loaded)})")
    if report.mismatched:
        tell(f"  kept as initialised (the shape differs): {', '.join(report.mismatched)}")
    if report.missing:
        tell(f"  kept as initialised (not in the source): {', '.join(report.missing)}")
    frozen: list[str] = []
    if args.freeze is not None:
        try:
            frozen = freeze(model, _patterns(args.freeze))
        except ValueError as e:
            raise UserError(f"--freeze: {str(e).removeprefix('freeze: ')}") from None
        tell(f"  frozen: {', '.join(frozen)}")
    params = _groups(model, loaded, args.backbone_lr)
    if args.backbone_lr is not None:
        tell(f"  learning rate {args.backbone_lr:g} for the weights taken and not frozen")
    section = {"init_from": os.path.abspath(path), "loaded": loaded, "frozen": frozen,
               "backbone_lr": args.backbone_lr}
    return params, section


def resume_parameters(model: nn.Module, config: dict) -> Any:
    """The optimiser's parameters for a resumed run: frozen and grouped as it began."""
    section = config.get("transfer")
    if not section:
        return model.parameters()
    names = dict(model.named_parameters())
    unknown = [n for n in section.get("frozen", []) if n not in names]
    if unknown:
        raise UserError(f"the run's config.transfer.frozen names {unknown[0]!r}, which is not a "
                        f"parameter of its model")
    for name in section.get("frozen", []):
        names[name].requires_grad_(False)
    return _groups(model, section.get("loaded", []), section.get("backbone_lr"))
