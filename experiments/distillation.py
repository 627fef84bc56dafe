"""Knowledge distillation on MNIST: an MLP with one hidden layer of 64 units trained alone
against the same MLP distilled from LeNet-5 (results section of docs/distillation.md).

    python experiments/distillation.py            # trains LeNet-5 first if needed
    python experiments/distillation.py --quick    # a miniature run (what the tests do)

The teacher is ``chainrule train --model cnn --epochs 3``; the student alone is
``chainrule train --hidden 64``; the distilled student is ``chainrule distill --teacher
LENET --model mlp --hidden 64`` (temperature 4, alpha 0.9). Both students get the same
data, splits, epochs, optimiser and seed.
"""
from __future__ import annotations

import json
import os

import _common
from _common import chainrule

from chainrule.train import History


def main(argv=None) -> dict:
    args = _common.parser(__doc__, "distillation.md").parse_args(argv)
    quick = args.quick
    teacher = _common.base_run(args.work, "lenet",
                               ["--model", "cnn", "--epochs", 1 if quick else 3], quick)
    epochs = 2 if quick else 20
    common = ["--hidden", 64, "--epochs", epochs, "--seed", 0, "--quiet"]
    alone = os.path.join(args.work, "mlp64-alone")
    distilled = os.path.join(args.work, "mlp64-distilled")
    if not os.path.exists(os.path.join(alone, "test_metrics.json")):
        data = _common.idx_subset(args.work, 1200, 400) if quick else []
        chainrule("train", *data, *common, "--out", alone)
    if not os.path.exists(os.path.join(distilled, "test_metrics.json")):
        chainrule("distill", "--teacher", teacher, "--model", "mlp", *common, "--out", distilled)
    runs = {"LeNet-5 (teacher)": teacher, "MLP 784-64-10 alone": alone,
            "MLP 784-64-10 distilled": distilled}
    rows, histories = [], {}
    for label, folder in runs.items():
        with open(os.path.join(folder, "test_metrics.json")) as f:
            m = json.load(f)
        run, _ = _common.loaded(folder)
        history = History.from_json(os.path.join(folder, "history.json"))
        histories[label] = history
        best_epoch, _ = history.best("val_loss")
        rows.append([label, f"{sum(p.numel() for p in run.model.parameters()):,}",
                     f"{m['accuracy']:.2%}", f"{m['loss']:.4f}",
                     f"{len(history)} (best {best_epoch})"])

    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for label in list(runs)[1:]:
        h = histories[label]
        axes[0].plot(h.epoch, [v * 100 for v in h["val_accuracy"]], "o-", label=label)
        axes[1].plot(h.epoch, h["val_loss"], "o-", label=label)
    axes[0].set_ylabel("validation accuracy (%)")
    axes[1].set_ylabel("validation cross-entropy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
    link = _common.save_figure(fig, args.docs, "distillation-curves.png")

    command = "python experiments/distillation.py" + (" --quick" if quick else "")
    text = "\n\n".join([
        _common.provenance(command),
        f"Test accuracy and loss on the {m['samples']:,} test digits of the checkpoint with the "
        f"lowest validation loss; both students: Adam at lr 1e-3, batch 128, up to {epochs} "
        f"epochs with early stopping (patience 3), seed 0. The distilled one learns from "
        f"0.9 x 4^2 x KL(teacher || student) at temperature 4 plus 0.1 x the cross-entropy with "
        f"the labels; its validation loss is the plain cross-entropy, as the other's.",
        _common.table(["model", "parameters", "test accuracy", "test loss", "epochs"], rows),
        f"![validation curves of the two students]({link})",
    ])
    _common.write_results(args.docs, text)
    return {"rows": rows}


if __name__ == "__main__":
    main()
