"""The figures of docs/playground.md's lesson, measured with the playground's own sessions
(the engine code the page runs), so the numbers in the lesson can be checked:

    python examples/playground_lesson.py            # about a minute on a laptop core

1. the 2-3-1 network on XOR with sigmoid hidden units: the slope sigma'(z) <= 1/4 at the
   start and after training, and the test loss over the epochs;
2. the same network with tanh and with ReLU, and ReLU with 8 hidden units;
3. six sigmoid layers: the gradient-flow verdict (vanishing) and each layer's gradient,
   against tanh and ReLU;
4. noisy XOR with every feature: no regularisation, L2 and L1 (losses and weight sizes).
"""
from __future__ import annotations

import numpy as np

from chainrule.playground.derivation import Derivation
from chainrule.playground.session import Session

XOR = {"dataset": "xor", "hidden": [3], "noise": 0.1, "lr": 0.3}
NOISY = {"dataset": "xor", "noise": 0.5, "train_ratio": 0.3, "hidden": [8, 8],
         "activation": "tanh", "optimizer": "adam", "lr": 0.03,
         "features": ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]}


def trained(settings: dict, epochs: int, report_at=()) -> tuple[Session, list]:
    session = Session()
    session.update_settings(settings)
    losses = []
    for epoch in range(1, epochs + 1):
        for _ in range(session.steps_per_epoch):
            session.train_step()
        if epoch in report_at:
            losses.append((epoch, session.data_loss(session.problem.test)))
    return session, losses


def hidden_slopes(session: Session) -> np.ndarray:
    """Mean slope f'(z) of each first-layer unit over the training points (from the trace)."""
    d = Derivation(session, session.problem.train)
    return d.by[("hidden_error", 1)].operands["fprime"].mean(axis=0)


def main(epochs: int = 300) -> dict:
    out: dict = {}
    checkpoints = tuple(e for e in (1, 10, 50, 100, 300) if e <= epochs)
    start = Session()
    start.update_settings({**XOR, "activation": "sigmoid"})
    out["sigmoid_slope_start"] = hidden_slopes(start)
    first, _ = trained({**XOR, "activation": "sigmoid"}, 1)
    out["sigmoid_flow_epoch1"] = first.frame()["flow"]
    session, losses = trained({**XOR, "activation": "sigmoid"}, epochs, checkpoints)
    out["sigmoid_slope_trained"] = hidden_slopes(session)
    out["sigmoid_losses"] = losses
    print("1. XOR, 2-3-1, sigmoid, SGD lr 0.3")
    print(f"   mean sigma'(z) per hidden unit at the start {np.round(out['sigmoid_slope_start'], 3)}, "
          f"after {epochs} epochs {np.round(out['sigmoid_slope_trained'], 3)}")
    print("   test loss " + ", ".join(f"epoch {e}: {v:.3f}" for e, v in losses))
    print("   gradient norms in epoch 1: " + ", ".join(
        f"{layer['name']} {layer['grad_norm']:.2e}" for layer in out["sigmoid_flow_epoch1"]["layers"]))
    print("2. the same with tanh and ReLU (seeds 0-3), and ReLU with 8 units")
    for name, settings in [("tanh", {**XOR, "activation": "tanh"}),
                           *[(f"relu seed {s}", {**XOR, "activation": "relu", "seed": s})
                             for s in range(4)],
                           ("relu 2-8-1", {**XOR, "activation": "relu", "hidden": [8]})]:
        session, losses = trained(settings, min(epochs, 100), (min(epochs, 100),))
        out[f"loss {name}"] = losses[-1][1]
        print(f"   {name}: test loss after {losses[-1][0]} epochs {losses[-1][1]:.3f}")
    print("3. six hidden layers of 8, one epoch: the gradient-flow verdict")
    for activation in ("sigmoid", "tanh", "relu"):
        session, _ = trained({**XOR, "activation": activation, "hidden": [8] * 6}, 1)
        flow = session.frame()["flow"]
        out[f"deep {activation}"] = flow
        norms = ", ".join(f"{layer['name']} {layer['grad_norm']:.1e}" for layer in flow["layers"])
        print(f"   {activation}: {flow['status']} ({norms})")
    print(f"4. noisy XOR, all 7 features, 8-8 tanh, Adam, {epochs} epochs")
    for reg, rate in [("none", 0.0), ("l2", 0.01), ("l1", 0.01)]:
        session, _ = trained({**NOISY, "regularization": reg, "reg_rate": rate}, epochs)
        weights = [layer.weight.numpy() for layer in session.linears]
        row = {"train": session.data_loss(session.problem.train),
               "test": session.data_loss(session.problem.test),
               "sum_abs": float(sum(np.abs(w).sum() for w in weights)),
               "max_abs": float(max(np.abs(w).max() for w in weights)),
               "near_zero": int(sum((np.abs(w) < 0.01).sum() for w in weights)),
               "count": int(sum(w.size for w in weights))}
        out[f"reg {reg}"] = row
        print(f"   {reg} {rate:g}: train loss {row['train']:.3f}, test loss {row['test']:.3f}, "
              f"sum |w| {row['sum_abs']:.1f}, largest |w| {row['max_abs']:.2f}, "
              f"{row['near_zero']} of {row['count']} weights below 0.01")
    return out


if __name__ == "__main__":
    main()
