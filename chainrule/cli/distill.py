"""``chainrule distill --teacher RUN``: train a (smaller) student on the teacher's data with
knowledge distillation, and write a run folder like ``chainrule train`` does.

    chainrule train --model cnn --out runs/lenet
    chainrule distill --teacher runs/lenet --model mlp --hidden 64 --out runs/student

The student learns from ``alpha T^2 KL(teacher || student)`` at temperature T plus ``1 -
alpha`` of the usual cross-entropy; it sees the teacher's data, splits and preprocessing.
Its run folder is an ordinary one (``evaluate``, ``predict`` and ``--init-from`` read it);
its validation loss is the plain cross-entropy, comparable with a student trained alone.
"""
from __future__ import annotations

import argparse
import datetime
import os

import chainrule as cr
from chainrule.cli import models, train
from chainrule.cli.after_training import refuse_quantized, refuse_regression, run_data
from chainrule.cli.data import describe
from chainrule.cli.errors import UserError, check_number
from chainrule.cli.optimizers import LR_SCHEDULES, OPTIMIZERS, make_optimizer
from chainrule.cli.output import say
from chainrule.cli.run_folder import check_out_folder, claim_new_run_folder
from chainrule.cli.runs import load_run, write_json
from chainrule.train import Distiller

NAME = "distill"
HELP = "train a student model from a trained teacher (distillation)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Train a student on a trained teacher's data with knowledge distillation "
                     "and write a run folder.")
    p.add_argument("--teacher", required=True, metavar="RUN_DIR",
                   help="the trained run (or checkpoint) to learn from")
    d = p.add_argument_group("distillation")
    d.add_argument("--temperature", type=float, default=4.0, metavar="T",
                   help="softmax temperature of the soft targets (default 4)")
    d.add_argument("--alpha", type=float, default=0.9, metavar="A",
                   help="weight of the soft (teacher) term; 1 - A goes to the labels (default 0.9)")
    m = p.add_argument_group("student")
    m.add_argument("--model", choices=("mlp", "cnn"), default="mlp", help="default mlp")
    m.add_argument("--hidden", metavar="SIZES", help="mlp hidden sizes (default 64)")
    m.add_argument("--activation", choices=tuple(models.ACTIVATIONS), default=None)
    m.add_argument("--dropout", type=float, default=None, metavar="P")
    m.add_argument("--batch-norm", action="store_true", default=None)
    o = p.add_argument_group("optimisation (defaults as chainrule train)")
    o.add_argument("--optimizer", choices=OPTIMIZERS, default=None)
    o.add_argument("--lr", type=float, metavar="LR")
    o.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None)
    o.add_argument("--weight-decay", type=float, metavar="WD")
    o.add_argument("--momentum", type=float, metavar="M")
    o.add_argument("--epochs", type=int, metavar="N")
    o.add_argument("--batch-size", type=int, metavar="N")
    o.add_argument("--seed", type=int, default=None, metavar="N")
    o.add_argument("--patience", type=int, metavar="N")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<data>-distilled-<time>)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    check_number("--temperature", args.temperature, 0.0, low_open=True)
    check_number("--alpha", args.alpha, 0.0, 1.0, high_open=False)
    if args.model == "cnn" and args.hidden is not None:
        raise UserError("--hidden applies to the mlp student, not cnn")
    if args.model == "mlp" and args.hidden is None:
        args.hidden = "64"
    if args.out is not None:  # refuse someone else's folder before any work
        check_out_folder(args.out)
    teacher = load_run(args.teacher)
    refuse_quantized(teacher, "distilled from")
    refuse_regression(teacher, "distill")
    spec = {k: v for k, v in teacher.config["data"].items()
            if k not in ("class_names", "preprocessing")}
    if teacher.preprocessing["kind"] == "text":
        raise UserError("distill trains mlp or cnn students; the teacher reads character text")
    # the loss its validation scores report (the labels' term of the distillation loss)
    train_cfg = dict(train._train_config(args, spec["name"]), loss="cross_entropy")
    say(args, f"loading {describe(spec)} (the teacher's data) ...")
    data = run_data(teacher)
    model_cfg = train._model_config(args, spec["name"], data)
    train._check_model_fits(args, model_cfg)
    cr.manual_seed(train_cfg["seed"])
    student = models.build_model(model_cfg)
    optimizer = make_optimizer(train_cfg, student.parameters())
    with claim_new_run_folder(args.out, describe(spec), "distilled") as folder:
        run_dir = folder.path
        config = {"chainrule_version": cr.__version__,
                  "created": datetime.datetime.now().isoformat(timespec="seconds"),
                  "data": teacher.config["data"], "model": model_cfg, "train": train_cfg,
                  "distillation": {"teacher": os.path.abspath(teacher.ckpt_path),
                                   "teacher_model": teacher.config["model"],
                                   "temperature": args.temperature, "alpha": args.alpha}}
        write_json(os.path.join(run_dir, "config.json"), config)
        n_student = sum(p.numel() for p in student.parameters())
        n_teacher = sum(p.numel() for p in teacher.model.parameters())
        say(args, f"student {model_cfg['kind']} ({n_student:,} parameters) learns from teacher "
                  f"{teacher.config['model']['kind']} ({n_teacher:,}) at temperature "
                  f"{args.temperature:g}, alpha {args.alpha:g}; run folder {run_dir}")
        distiller = Distiller(student, teacher.model, args.temperature, args.alpha)
        return train._run(args, student, optimizer, data, config, run_dir, resume=None,
                          loss_fn=distiller)
