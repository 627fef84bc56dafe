"""Pruning the default MNIST MLP: accuracy at 50/80/90/95% sparsity before and after
fine-tuning, and the size of the sparse checkpoint (results section of docs/pruning.md).

    python experiments/pruning.py            # trains the default MLP first if needed
    python experiments/pruning.py --quick    # a miniature run (what the tests do)

Every pruned model comes from ``chainrule prune``; the dense model is ``chainrule train``'s
default run.
"""
from __future__ import annotations

import json
import os

import _common
from _common import chainrule, kib_text

AMOUNTS = (0.5, 0.8, 0.9, 0.95)
STRUCTURED = (0.5, 0.8)
# Fine-tuning is extra training: the dense model fine-tuned the same way is the fair baseline.
CONTROL = 0.0


def main(argv=None) -> dict:
    args = _common.parser(__doc__, "pruning.md").parse_args(argv)
    quick = args.quick
    epochs = 1 if quick else 2
    base = _common.base_run(args.work, "mlp", ["--epochs", 1, "--hidden", "32"] if quick else [],
                            quick)
    rows, results = [], {}
    for structured, amounts in ((False, (CONTROL,) + AMOUNTS), (True, STRUCTURED)):
        for amount in amounts:
            out = os.path.join(args.work, f"mlp-pruned-{amount:g}" + ("-s" if structured else ""))
            metrics_file = os.path.join(out, "prune_metrics.json")
            if not os.path.exists(metrics_file):
                chainrule("prune", base, "--amount", amount, "--finetune-epochs", epochs,
                          *(["--structured"] if structured else []), "--out", out, "--quiet")
            with open(metrics_file) as f:
                m = json.load(f)
            results[(structured, amount)] = m
    dense = results[(False, CONTROL)]["dense_accuracy"]
    control = results[(False, CONTROL)]["finetuned_accuracy"]
    for (structured, amount), m in results.items():
        label = "0% (dense)" if amount == CONTROL else f"{amount:.0%}"
        rows.append([("structured, " if structured else "") + label,
                     f"{m['sparsity']:.1%}", f"{m['pruned_accuracy']:.2%}",
                     f"{m['finetuned_accuracy']:.2%}",
                     f"{(m['finetuned_accuracy'] - dense) * 100:+.2f}",
                     kib_text(m["sparse_weights_bytes"]),
                     f"{m['dense_weights_bytes'] / m['sparse_weights_bytes']:.1f}x"])

    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    xs = [a * 100 for a in AMOUNTS]
    ax.axhline(dense * 100, color="grey", ls="--", label="dense")
    ax.axhline(control * 100, color="grey", ls=":", label=f"dense, {epochs} more epochs")
    ax.plot(xs, [results[(False, a)]["pruned_accuracy"] * 100 for a in AMOUNTS], "o-",
            label="pruned, before fine-tuning")
    ax.plot(xs, [results[(False, a)]["finetuned_accuracy"] * 100 for a in AMOUNTS], "s-",
            label=f"after {epochs} epochs of fine-tuning")
    ax.set_xlabel("weights removed (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("MNIST MLP 784-256-128-10, global magnitude pruning")
    ax.legend()
    link = _common.save_figure(fig, args.docs, "pruning-accuracy.png")

    first = results[(False, CONTROL)]
    command = "python experiments/pruning.py" + (" --quick" if quick else "")
    text = "\n\n".join([
        _common.provenance(command),
        f"Dense model: {'a miniature MLP (1,200 digits, one epoch)' if quick else '`chainrule train`, the default MLP 784-256-128-10'} "
        f"({first['weights']:,} weights in its Linear layers), test accuracy **{dense:.2%}**, weights saved dense: "
        f"{kib_text(first['dense_weights_bytes'])}. Each row is `chainrule prune RUN --amount A "
        f"--finetune-epochs {epochs}` (global L1 magnitude pruning; \"structured\" rows: "
        f"`--structured`, the hidden neurons with the smallest L2 norm, with their biases). "
        f"Fine-tuning is more training, so the first row is the fair baseline: the dense model "
        f"given the same {epochs} epochs (`--amount 0`).",
        _common.table(["pruned", "zero weights", "accuracy, pruned", "after fine-tuning",
                       "vs dense (points)", "sparse weights", "smaller by"], rows),
        f"![accuracy against sparsity]({link})",
    ])
    _common.write_results(args.docs, text)
    return {"dense": dense, "results": {f"{'s' if s else 'u'}{a}": m
                                        for (s, a), m in results.items()}}


if __name__ == "__main__":
    main()
