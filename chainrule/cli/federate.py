"""``chainrule federate``: federated learning over simulated clients (FedAvg or FedProx) on an
IID or Dirichlet non-IID split of a data set's training part; writes a run folder.

    chainrule federate --clients 10 --alpha 0.3 --rounds 50
    chainrule federate --clients 10 --iid --rounds 50 --algorithm fedprox --mu 0.01
    mpiexec -n 2 chainrule federate --clients 10 --alpha 0.3 --rounds 50

Each round a ``--fraction`` of the clients trains the global model for ``--local-epochs``
epochs of SGD on its own share and the server averages their models, weighted by their
numbers of samples. The global model is scored on the validation split after every round;
``best.ckpt`` keeps the round with the lowest validation loss, and the test split is
reported at the end.

Under ``mpiexec -n N`` the clients run on the N ranks (client ``c`` on rank ``c mod N``,
:class:`~chainrule.federated.DistributedClients`) and the run ends with the same model as
the same command in one process; rank 0 alone scores the rounds, prints and writes the run
folder.
"""
from __future__ import annotations

import argparse
import datetime
import os

import numpy as np

import chainrule as cr
from chainrule import federated
from chainrule.cli import distributed, models, train
from chainrule.cli.data import NAMES, REGRESSION, describe, make_spec, prepare
from chainrule.cli.errors import UserError, check_number
from chainrule.cli.output import report, say
from chainrule.cli.run_folder import check_out_folder, claim_new_run_folder, describe_removed
from chainrule.cli.runs import save_history, write_json
from chainrule.data import DataLoader, Subset, TensorDataset
from chainrule.train import load_checkpoint
from chainrule.train.checkpoint import make_checkpoint

NAME = "federate"
HELP = "federated learning (FedAvg, FedProx) over simulated clients"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Federated learning over simulated clients holding IID or Dirichlet "
                     "non-IID shares of a data set; writes a run folder.")
    f = p.add_argument_group("federation")
    f.add_argument("--clients", type=int, default=10, metavar="K", help="number of clients (default 10)")
    split = f.add_mutually_exclusive_group()
    split.add_argument("--alpha", type=float, metavar="A",
                       help="Dirichlet concentration of the clients' label mixes: 0.1 very "
                            "skewed, 100 nearly IID (default 0.3)")
    split.add_argument("--iid", action="store_true", help="equal random shares instead")
    f.add_argument("--rounds", type=int, default=50, metavar="N", help="default 50")
    f.add_argument("--fraction", type=float, default=0.5, metavar="F",
                   help="share of clients drawn each round (default 0.5)")
    f.add_argument("--local-epochs", type=int, default=1, metavar="E", help="default 1")
    f.add_argument("--algorithm", choices=("fedavg", "fedprox"), default="fedavg")
    f.add_argument("--mu", type=float, default=0.01, metavar="MU",
                   help="FedProx's proximal weight (default 0.01)")
    o = p.add_argument_group("model and local training")
    o.add_argument("--data", default="mnist", metavar="NAME_OR_CSV",
                   help=f"{', '.join(n for n in NAMES if n not in ('shakespeare', *REGRESSION))}, "
                        f"or a CSV file of classes")
    o.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    o.add_argument("--hidden", metavar="SIZES", help="mlp hidden sizes (default: as chainrule train)")
    o.add_argument("--lr", type=float, default=0.05, metavar="LR", help="client SGD rate (default 0.05)")
    o.add_argument("--momentum", type=float, default=0.0, metavar="M", help="default 0")
    o.add_argument("--batch-size", type=int, default=32, metavar="N", help="default 32")
    o.add_argument("--val-split", type=float, default=0.1, metavar="F",
                   help="share of the training data held out to score each round (default 0.1)")
    o.add_argument("--seed", type=int, default=0, metavar="N")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<data>-federated-<time>)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _check(args) -> None:
    for name, value in (("--clients", args.clients), ("--rounds", args.rounds),
                        ("--local-epochs", args.local_epochs), ("--batch-size", args.batch_size)):
        if value < 1:
            raise UserError(f"{name} must be >= 1, got {value}")
    check_number("--fraction", args.fraction, 0.0, 1.0, low_open=True, high_open=False)
    check_number("--lr", args.lr, 0.0, low_open=True)
    check_number("--momentum", args.momentum, 0.0, 1.0)
    check_number("--mu", args.mu, 0.0)
    if args.alpha is not None:
        check_number("--alpha", args.alpha, 0.0, low_open=True)
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    if args.model == "cnn" and args.hidden is not None:
        raise UserError("--hidden applies to the mlp model, not cnn")


def run(args: argparse.Namespace) -> int:
    distributed.start()             # under mpiexec: join the other ranks
    lead = distributed.rank() == 0
    if not lead:
        args.quiet = True           # rank 0 alone prints
    _check(args)
    if args.out is not None and lead:  # refuse someone else's folder before any work
        check_out_folder(args.out)
    alpha = None if args.iid else (0.3 if args.alpha is None else args.alpha)
    spec = make_spec(args.data, args.seed, args.val_split)
    if spec["name"] in ("shakespeare", "idx"):
        raise UserError(f"federate trains classifiers of images or tables; {spec['name']} is not "
                        f"supported here")
    say(args, f"loading {describe(spec)} ...")
    data = prepare(spec)
    model_args = argparse.Namespace(model=args.model, hidden=args.hidden, activation=None,
                                    dropout=None, batch_norm=None)
    if data.task == "regression":
        raise UserError(f"federate trains classifiers; {describe(spec)} has numeric targets "
                        f"(regression)")
    model_cfg = train._model_config(model_args, spec["name"], data)
    train._check_model_fits(model_args, model_cfg)
    if args.clients > len(data.y_train):
        raise UserError(f"--clients {args.clients} is more than the {len(data.y_train)} "
                        f"training samples")
    try:
        parts = (federated.iid_partition(len(data.y_train), args.clients, args.seed)
                 if alpha is None else
                 federated.dirichlet_partition(data.y_train, args.clients, alpha, args.seed,
                                               min_size=min(10, len(data.y_train) // args.clients)))
    except ValueError as e:
        raise UserError(str(e)) from None
    strategy = (federated.FedProx(args.mu, args.fraction) if args.algorithm == "fedprox"
                else federated.FedAvg(args.fraction))
    cr.manual_seed(args.seed)
    model = models.build_model(model_cfg)
    if not lead:  # rank 0 claims (and locks) the folder the ranks share
        return _federate(args, spec, data, model_cfg, model, parts, alpha, strategy,
                         distributed.share_run_dir(None))
    with claim_new_run_folder(args.out, describe(spec), "federated") as folder:
        run_dir = distributed.share_run_dir(folder.path)
        note = describe_removed(folder)
        if note:
            say(args, f"note: {note}")
        return _federate(args, spec, data, model_cfg, model, parts, alpha, strategy, run_dir)


def _federate(args, spec: dict, data, model_cfg: dict, model, parts, alpha, strategy,
              run_dir: str) -> int:
    """The rounds, with the run folder (``run_dir``, held by rank 0) chosen; rank 0 alone
    writes into it."""
    lead = distributed.rank() == 0
    sizes = [len(p) for p in parts]
    counts = federated.label_counts(data.y_train, parts)
    config = {"chainrule_version": cr.__version__,
              "created": datetime.datetime.now().isoformat(timespec="seconds"),
              "data": {**spec, "class_names": data.class_names,
                       "preprocessing": data.preprocessing},
              "model": model_cfg,
              "federated": {"clients": args.clients, "split": "iid" if alpha is None else "dirichlet",
                            "alpha": alpha, "rounds": args.rounds, "fraction": args.fraction,
                            "local_epochs": args.local_epochs, "algorithm": args.algorithm,
                            "mu": args.mu if args.algorithm == "fedprox" else None,
                            "lr": args.lr, "momentum": args.momentum,
                            "batch_size": args.batch_size, "seed": args.seed,
                            "world_size": distributed.world_size(),
                            "client_sizes": sizes, "client_label_counts": counts.tolist()}}
    if lead:
        write_json(os.path.join(run_dir, "config.json"), config)
    share = counts.max(axis=1) / counts.sum(axis=1)
    say(args, f"{args.clients} clients ({'IID' if alpha is None else f'Dirichlet alpha {alpha:g}'}): "
              f"{min(sizes)}-{max(sizes)} samples each, the largest class holds "
              f"{share.mean():.0%} of a client's samples on average; {strategy}; run folder {run_dir}")
    runner = None
    if distributed.world_size() > 1:
        runner = federated.DistributedClients()
        say(args, f"clients on {runner.world_size} processes: client c on rank c mod "
                  f"{runner.world_size}; rank 0 scores the rounds and writes the run folder")

    train_set = TensorDataset(data.X_train, data.y_train)
    clients = [Subset(train_set, p) for p in parts]
    val = None
    if data.X_val is not None and lead:     # rank 0 alone scores the rounds
        val = DataLoader(TensorDataset(data.X_val, data.y_val), batch_size=512)
    best = {"loss": np.inf}

    def keep_best(round_, history, global_model) -> None:
        save_history(history, run_dir, plot=False)
        loss = history["val_loss"][-1] if "val_loss" in history else history["loss"][-1]
        if loss < best["loss"]:
            best["loss"] = loss
            cr.save(make_checkpoint(global_model, epoch=round_, history=history, config=config),
                    os.path.join(run_dir, "best.ckpt"))

    history = federated.federate(model, clients, args.rounds, strategy, lr=args.lr,
                                 momentum=args.momentum, local_epochs=args.local_epochs,
                                 batch_size=args.batch_size, val_loader=val, seed=args.seed,
                                 runner=runner, verbose=0 if args.quiet else 1,
                                 on_round_end=keep_best if lead else None)
    if not lead:
        distributed.finish()        # rank 0 tests the model and writes the rest
        return 0
    save_history(history, run_dir, plot=True)
    ckpt = load_checkpoint(os.path.join(run_dir, "best.ckpt"), model, restore_rng=False)
    print(f"\ntest set (global model after round {ckpt['epoch']}, the lowest validation loss): ",
          end="")
    result = report(model, data.X_test, data.y_test, data.class_names)
    write_json(os.path.join(run_dir, "test_metrics.json"), result)
    print(f"\nrun saved in {run_dir}")
    distributed.finish()
    return 0
