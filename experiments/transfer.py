"""Transfer learning on MNIST: LeNet-5 trained on digits 0-4, transferred to digits 5-9 with
10, 50 and 200 labels per class, against LeNet-5 trained from scratch on the same labels
(results section of docs/transfer.md).

    python experiments/transfer.py            # about 2 CPU-minutes on one core
    python experiments/transfer.py --quick    # a miniature run (what the tests do)

Three ways to use the few labels, each with the same seed, data and number of steps:

* scratch:   a fresh LeNet-5, every layer trained (Adam, lr 1e-3);
* frozen:    the digits-0-4 network with a new head; everything but the head frozen
             (``requires_grad_(False)``), so only the last Linear (84 -> 5) learns, at lr
             1e-2 (at 1e-3 a head on these features learns too slowly for a few steps);
* fine-tune: the digits-0-4 network with a new head; every layer trains, the taken layers
             at lr 1e-3 and the head at 1e-2 (two parameter groups).
"""
from __future__ import annotations

import json
import os

import numpy as np

import _common

import chainrule as cr
from chainrule import nn
from chainrule.cli.data import prepare
from chainrule.cli.models import cnn
from chainrule.data import DataLoader, TensorDataset
from chainrule.nn.utils import load_matching

LABELS_PER_CLASS = (10, 50, 200)
EPOCHS = {10: 40, 50: 25, 200: 15}       # 80, 200 and 480 steps of 32 digits
METHODS = ("scratch", "frozen", "fine-tune")


def mnist_digits(quick: bool):
    """The MNIST splits as ``chainrule train`` prepares them (standardised, (N, 1, 28, 28))."""
    data = prepare({"name": "mnist", "val_split": 0.0, "test_split": 0.2, "split_seed": 0})
    if quick:
        return data.X_train[:3000], data.y_train[:3000], data.X_test[:600], data.y_test[:600]
    return data.X_train, data.y_train, data.X_test, data.y_test


def pretrain(X, y, epochs: int, path: str) -> dict:
    """LeNet-5 on digits 0-4 (kept in ``path`` for the next run)."""
    if os.path.exists(path):
        return cr.load(path)
    keep = y < 5
    cr.manual_seed(0)
    model = cnn(num_classes=5)
    loader = DataLoader(TensorDataset(X[keep], y[keep]), batch_size=128, shuffle=True)
    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * len(loader)
    cr.train.fit(model, nn.CrossEntropyLoss(), opt, loader, epochs, verbose=0,
                 scheduler=cr.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps),
                 scheduler_interval="batch")
    state = {k: v.data for k, v in model.state_dict().items()}
    cr.save(state, path)
    return state


def few_labels(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` random indices of each of the digits 5-9."""
    rng = np.random.default_rng([seed, per_class])
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == d), per_class, replace=False)
                                   for d in range(5, 10)]))


def build(method: str, source: dict, seed: int):
    """(model, optimiser) for one method."""
    cr.manual_seed(seed)
    model = cnn(num_classes=5)
    if method == "scratch":
        return model, cr.optim.Adam(model.parameters(), lr=1e-3)
    load_matching(model, source)
    model[-1] = nn.Linear(84, 5)                       # a new head for the new classes
    head = list(model[-1].parameters())
    if method == "frozen":
        model[:-1].requires_grad_(False)
        return model, cr.optim.Adam(head, lr=1e-2)
    backbone = list(model[:-1].parameters())
    return model, cr.optim.Adam([{"params": backbone, "lr": 1e-3}, {"params": head}], lr=1e-2)


def main(argv=None) -> dict:
    ap = _common.parser(__doc__, "transfer.md")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    args = ap.parse_args(argv)
    quick = args.quick
    seeds = [int(s) for s in args.seeds.split(",")][:1 if quick else None]
    X, y, X_test, y_test = mnist_digits(quick)
    os.makedirs(args.work, exist_ok=True)
    source = pretrain(X, y, 1, os.path.join(args.work, "lenet-digits-0-4.ckpt"))
    source_model = cnn(num_classes=5)
    source_model.load_state_dict(source)
    seen = y_test < 5
    source_acc = float((cr.train.predict(source_model, X_test[seen]).argmax(1) == y_test[seen]).mean())
    target_test = y_test >= 5
    Xt, yt = X_test[target_test], y_test[target_test] - 5
    curve = DataLoader(TensorDataset(Xt[:500], yt[:500]), batch_size=500)
    # Each finished run is kept, so an interrupted experiment continues where it stopped.
    done_file = os.path.join(args.work, f"transfer-runs{'-quick' if quick else ''}.json")
    done = {}
    if os.path.exists(done_file):
        with open(done_file) as f:
            done = json.load(f)
    results: dict = {}
    for seed in seeds:
        for n in LABELS_PER_CLASS:
            chosen = few_labels(y, n if not quick else min(n, 20), seed)
            loader = DataLoader(TensorDataset(X[chosen], y[chosen] - 5), batch_size=32,
                                shuffle=True, generator=np.random.default_rng(seed))
            for method in METHODS:
                key = f"{seed}/{n}/{method}"
                if key not in done:
                    model, opt = build(method, source, seed)
                    epochs = 2 if quick else EPOCHS[n]
                    history = cr.train.fit(model, nn.CrossEntropyLoss(), opt, loader, epochs,
                                           val_loader=curve, verbose=0)
                    acc = float((cr.train.predict(model, Xt).argmax(1) == yt).mean())
                    done[key] = [acc, history["val_accuracy"]]
                    with open(done_file, "w") as f:
                        json.dump(done, f)
                    print(f"seed {seed}, {n} labels per class, {method}: {acc:.4f}", flush=True)
                results[(seed, n, method)] = tuple(done[key])

    def cell(n, method):
        accs = [results[(s, n, method)][0] for s in seeds]
        spread = f" ({', '.join(f'{a:.1%}' for a in accs)})" if len(accs) > 1 else ""
        return f"{np.mean(accs):.1%}{spread}"

    rows = [[f"{n} ({5 * n} images)"] + [cell(n, m) for m in METHODS] for n in LABELS_PER_CLASS]
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for ax, n in zip(axes, LABELS_PER_CLASS):
        for method in METHODS:
            curve_acc = results[(seeds[0], n, method)][1]
            ax.plot(range(1, len(curve_acc) + 1), [a * 100 for a in curve_acc], label=method)
        ax.set_title(f"{n} labels per class")
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("accuracy on 500 test digits 5-9 (%)")
    axes[0].legend()
    link = _common.save_figure(fig, args.docs, "transfer-curves.png")

    command = "python experiments/transfer.py" + (" --quick" if quick else "")
    text = "\n\n".join([
        _common.provenance(command),
        f"Source network: LeNet-5 trained one epoch on the {int((y < 5).sum()):,} training digits "
        f"0-4 (Adam, one-cycle schedule to lr 1e-3; {source_acc:.2%} on the test digits 0-4). Target: the digits 5-9 (labels 0-4), "
        f"trained with batches of 32 for {', '.join(f'{EPOCHS[n]} epochs at {n}' for n in LABELS_PER_CLASS)}"
        f" labels per class; test accuracy on all {len(yt):,} test digits 5-9, the mean over seeds "
        f"{', '.join(map(str, seeds))} (each seed's value in brackets: another draw of the labelled "
        f"digits and another initialisation).",
        _common.table(["labels per class", "scratch (lr 1e-3)", "frozen (head only, lr 1e-2)",
                       "fine-tune (backbone 1e-3, head 1e-2)"], rows),
        f"![accuracy during training, seed {seeds[0]}]({link})",
    ])
    _common.write_results(args.docs, text)
    return {"results": {f"{s}-{n}-{m}": v[0] for (s, n, m), v in results.items()}}


if __name__ == "__main__":
    main()
