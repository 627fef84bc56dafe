"""``chainrule evaluate RUN``: test-set loss, accuracy, confusion matrix and per-class report
of a trained model, on its own test split or on other data (``--data``, ``--idx-images``).

    chainrule evaluate runs/mnist-mlp-20240101-120000
    chainrule evaluate runs/moons-mlp-20240101-120000/last.ckpt --data circles
    chainrule evaluate runs/mnist-mlp-20240101-120000/model.onnx   # by onnxruntime
"""
from __future__ import annotations

import argparse

from chainrule.cli.data import describe, make_spec, prepare
from chainrule.cli.errors import UserError
from chainrule.cli.export import load_onnx_run
from chainrule.cli.output import report, report_regression
from chainrule.cli.runs import load_run

NAME = "evaluate"
HELP = "test-set loss, accuracy, confusion matrix, report"


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
    if args.data is not None or args.idx_images is not None:
        own = config["data"]
        idx = {"images": args.idx_images, "labels": args.idx_labels}
        # Named IDX files are all test data: they are the test pair as well.
        if args.idx_images is not None:
            idx.update(test_images=args.idx_images, test_labels=args.idx_labels)
        spec = make_spec(args.data or "", own.get("split_seed", 0), 0.0,
                         own.get("test_split", 0.2), idx=idx)
    else:
        if "name" not in config["data"]:
            raise UserError(f"{ckpt_path!r} does not name the data it was trained on; give "
                            f"--data or --idx-images/--idx-labels")
        spec = {"val_split": 0.0, "test_split": 0.2, "split_seed": 0,
                **{k: v for k, v in config["data"].items()
                   if k not in ("class_names", "preprocessing")}}
    data = prepare({**spec, "val_split": 0.0}, preprocessing=prep)
    if len(data.class_names) != len(names):
        raise UserError(f"{describe(spec)} has {len(data.class_names)} classes, the model "
                        f"predicts {len(names)}")
    if data.class_names != names:
        print(f"note: the data's class names {data.class_names} differ from the model's "
              f"{names}; classes are matched by position")
    print(f"{ckpt_path} (epoch {ckpt['epoch']}) on the {describe(spec)} test split "
          f"({len(data.y_test)} samples)")
    if spec.get("task") == "regression":   # the playground's regression networks
        report_regression(model, data.X_test, data.y_test, batch_size=args.batch_size)
    else:
        report(model, data.X_test, data.y_test, names, batch_size=args.batch_size)
    return 0
