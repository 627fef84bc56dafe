"""Federated learning on MNIST: the default MLP trained by FedAvg and FedProx over 10 clients
with IID and Dirichlet(0.3) non-IID shares, against centralised training with the same
optimiser (results section of docs/federated.md).

    python experiments/federated.py               # 30 rounds (about 10 CPU-minutes)
    python experiments/federated.py --quick       # a miniature run (what the tests do)

Each round half the clients (5 of 10) train one local epoch of SGD (lr 0.05, batch 32) and
the server averages their models weighted by their sample counts; FedProx adds mu/2 ||w -
w_global||^2 with mu = 0.01. The global model is scored on the test set after every round.
Finished configurations are kept in the work folder, so an interrupted run continues where
it stopped. Centralised training runs the same SGD over all the data, one epoch for every
two rounds (a round processes half the data).
"""
from __future__ import annotations

import os

import _common

import chainrule as cr
from chainrule import federated, nn
from chainrule.cli.data import prepare
from chainrule.cli.models import mlp
from chainrule.data import DataLoader, Subset, TensorDataset
from chainrule.train import History

CLIENTS, FRACTION, ALPHA, LR, BATCH, MU = 10, 0.5, 0.3, 0.05, 32, 0.01


def main(argv=None) -> dict:
    ap = _common.parser(__doc__, "federated.md")
    ap.add_argument("--rounds", type=int, default=30, help="default 30")
    args = ap.parse_args(argv)
    quick = args.quick
    rounds = 2 if quick else args.rounds
    data = prepare({"name": "mnist", "val_split": 0.1, "test_split": 0.2, "split_seed": 0})
    X, y, X_test, y_test = data.X_train, data.y_train, data.X_test, data.y_test
    if quick:
        X, y, X_test, y_test = X[:2000], y[:2000], X_test[:400], y_test[:400]
    hidden = (32,) if quick else (256, 128)
    train_set = TensorDataset(X, y)
    test = DataLoader(TensorDataset(X_test, y_test), batch_size=1000)
    splits = {"IID": federated.iid_partition(len(y), CLIENTS, seed=0),
              f"Dirichlet {ALPHA}": federated.dirichlet_partition(y, CLIENTS, ALPHA, seed=0)}
    os.makedirs(args.work, exist_ok=True)
    curves, finals = {}, {}

    def kept(label: str, train) -> History:
        """A configuration's History, from the work folder if it ran before (so an
        interrupted experiment continues where it stopped)."""
        path = os.path.join(args.work, f"federated{'-quick' if quick else ''}-{label}.json"
                            .replace(" ", "-").replace(",", "").replace("=", ""))
        if not os.path.exists(path):
            train().to_json(path)
        history = History.from_json(path)
        print(f"{label}: test accuracy {history['val_accuracy'][-1]:.4f}", flush=True)
        return history

    for split, parts in splits.items():
        clients = [Subset(train_set, p) for p in parts]
        strategies = [federated.FedAvg(FRACTION), federated.FedProx(MU, FRACTION)]
        for strategy in strategies:
            label = f"{split}, " + ("FedAvg" if strategy.name == "fedavg"
                                    else f"FedProx mu={strategy.mu:g}")

            def train(strategy=strategy, clients=clients) -> History:
                cr.manual_seed(0)
                return federated.federate(mlp(784, 10, hidden), clients, rounds, strategy,
                                          lr=LR, batch_size=BATCH, val_loader=test, seed=0,
                                          verbose=0)
            finals[label] = kept(label, train)
            curves[label] = ([r * FRACTION for r in finals[label].epoch],
                             finals[label]["val_accuracy"])
    epochs = max(1, int(rounds * FRACTION))

    def centralised() -> History:
        cr.manual_seed(0)
        model = mlp(784, 10, hidden)
        return cr.train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=LR),
                            DataLoader(train_set, batch_size=BATCH, shuffle=True), epochs,
                            val_loader=test, verbose=0)
    finals["centralised"] = kept("centralised", centralised)
    curves["centralised"] = (finals["centralised"].epoch, finals["centralised"]["val_accuracy"])

    def reached(label, level):
        xs, accs = curves[label]
        hit = [x for x, a in zip(xs, accs) if a >= level]
        return "not reached" if not hit else f"{hit[0]:g}"

    rows = []
    for label, h in finals.items():
        acc = h["val_accuracy"]
        rows.append([label, f"{acc[-1]:.2%}", f"{max(acc):.2%}", f"{h['val_loss'][-1]:.4f}",
                     reached(label, 0.95), reached(label, 0.97)])

    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, (xs, accs) in curves.items():
        style = "k--" if label == "centralised" else "-"
        ax.plot(xs, [a * 100 for a in accs], style, label=label)
    ax.set_xlabel("epochs of data processed (a round = half an epoch)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(max(0.0, min(min(a) for _, a in curves.values()) * 100 - 2), 100)
    ax.legend(fontsize=8)
    link = _common.save_figure(fig, args.docs, "federated-accuracy.png")
    counts = federated.label_counts(y, splits[f"Dirichlet {ALPHA}"])
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.imshow(counts.T, cmap="Blues", aspect="auto")
    ax.set_xlabel("client")
    ax.set_ylabel("digit")
    ax.set_title(f"samples per digit and client, Dirichlet alpha {ALPHA}")
    mix_link = _common.save_figure(fig, args.docs, "federated-clients.png")

    sizes = [len(p) for p in splits[f"Dirichlet {ALPHA}"]]
    command = "python experiments/federated.py" + (" --quick" if quick else "")
    text = "\n\n".join([
        _common.provenance(command),
        f"{CLIENTS} clients over the {len(y):,} training digits; {rounds} rounds of "
        f"{int(FRACTION * CLIENTS)} clients each, one local epoch of SGD (lr {LR}, batch "
        f"{BATCH}) per round; MLP 784-{'-'.join(map(str, hidden))}-10; accuracy and loss on "
        f"the {len(y_test):,} test digits after each round (centralised: after each epoch, "
        f"{epochs} epochs, the same data processed as the federated runs). With Dirichlet "
        f"alpha {ALPHA} the clients hold {min(sizes):,} to {max(sizes):,} digits, and a "
        f"client's commonest digit is on average "
        f"{(counts.max(1) / counts.sum(1)).mean():.0%} of its share (IID: about 10%).",
        _common.table(["training", "final accuracy", "best accuracy", "final loss",
                       "epochs of data to 95%", "to 97%"], rows),
        f"![test accuracy per round]({link})",
        f"![the non-IID split]({mix_link})",
    ])
    _common.write_results(args.docs, text)
    return {label: h["val_accuracy"] for label, h in finals.items()}


if __name__ == "__main__":
    main()
