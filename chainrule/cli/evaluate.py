"""``chainrule evaluate RUN``: a trained model on its own test split or on other data
(``--data``, ``--idx-images``): for a classifier the loss, accuracy, confusion matrix and
per-class report; for a regression RMSE, MAE, R^2, explained variance and max error in the
targets' units, beside a least-squares baseline on the run's own split.

    chainrule evaluate runs/mnist-mlp-20240101-120000
    chainrule evaluate runs/moons-mlp-20240101-120000/last.ckpt --data circles
    chainrule evaluate runs/mnist-mlp-20240101-120000/model.onnx   # by onnxruntime
    chainrule evaluate runs/diabetes-mlp-20240101-120000
"""
from __future__ import annotations

import argparse

from chainrule.cli.data import describe, make_spec, prepare
from chainrule.cli.errors import UserError
from chainrule.cli.export import load_onnx_run
from chainrule.cli.output import regression_report, report
from chainrule.cli.runs import load_run
from chainrule.cli.targets import run_scaling

NAME = "evaluate"
HELP = "test-set scores: accuracy or RMSE, R^2 and more"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR",
                        help="or a model.onnx written by 'chainrule export'")
    parser.add_argument("--data", default=None, metavar="NAME_OR_CSV",
                        help="evaluate on this data's test split instead of the run's own")
    parser.add_argument("--idx-images", metavar="PATH")
    parser.add_argument("--idx-labels", metavar="PATH")
    parser.add_argument("--batch-size", type=int, default=512, metavar="N")


def run(args: argparse.Namespace) -> int:
    load = load_onnx_run if args.checkpoint.lower().endswith(".onnx") else load_run
    ckpt_path, ckpt, config, model, prep, names = load(args.checkpoint)
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    own = config["data"]
    scaling = run_scaling(own, prep)
    other = args.data is not None or args.idx_images is not None
    if other:
        idx = {"images": args.idx_images, "labels": args.idx_labels}
        # Named IDX files are all test data: they are the test pair as well.
        if args.idx_images is not None:
            idx.update(test_images=args.idx_images, test_labels=args.idx_labels)
        spec = make_spec(args.data or "", own.get("split_seed", 0), 0.0,
                         own.get("test_split", 0.2), idx=idx,
                         task=own.get("task", "classification"), target=own.get("target"),
                         missing=own.get("missing", "error"))
    else:
        if "name" not in own:
            raise UserError(f"{ckpt_path!r} does not name the data it was trained on; give "
                            f"--data or --idx-images/--idx-labels")
        spec = {"val_split": 0.0, "test_split": 0.2, "split_seed": 0,
                **{k: v for k, v in own.items() if k not in ("class_names", "preprocessing")}}
    data = prepare({**spec, "val_split": 0.0}, preprocessing=prep)
    if scaling is not None:
        if data.target_names is None or len(data.target_names) != len(scaling["names"]):
            raise UserError(f"{describe(spec)} has {len(data.target_names or [])} numeric "
                            f"targets, the model predicts {len(scaling['names'])} "
                            f"({', '.join(scaling['names'])})")
    else:
        if len(data.class_names) != len(names):
            raise UserError(f"{describe(spec)} has {len(data.class_names)} classes, the model "
                            f"predicts {len(names)}")
        if data.class_names != names:
            print(f"note: the data's class names {data.class_names} differ from the model's "
                  f"{names}; classes are matched by position")
    print(f"{ckpt_path} (epoch {ckpt['epoch']}) on the {describe(spec)} test split "
          f"({len(data.y_test)} samples)")
    if scaling is None:
        report(model, data.X_test, data.y_test, names, batch_size=args.batch_size)
        return 0
    # On its own split the baseline is fitted on the rows the run trained and validated on.
    baseline = (data.X_train, data.y_train) if not other and prep["kind"] == "tabular" else None
    regression_report(model, data.X_test, data.y_test, scaling, baseline_rows=baseline,
                      batch_size=args.batch_size)
    return 0
