"""Train a 2-3-1 sigmoid network on XOR with nothing but the autograd engine.

Run: python examples/xor_engine.py
"""
import numpy as np

import chainrule as cr


def main(steps: int = 2000, lr: float = 2.0, seed: int = 0) -> float:
    cr.manual_seed(seed)
    x = cr.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = cr.tensor([[0.0], [1.0], [1.0], [0.0]])
    w1 = (cr.randn(2, 3) * 1.0).requires_grad_()
    b1 = cr.zeros(3, requires_grad=True)
    w2 = (cr.randn(3, 1) * 1.0).requires_grad_()
    b2 = cr.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]
    for step in range(steps + 1):
        hidden = (x @ w1 + b1).sigmoid()
        pred = (hidden @ w2 + b2).sigmoid()
        loss = ((pred - y) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with cr.no_grad():
            for p in params:
                p -= lr * p.grad
        if step % 250 == 0:
            print(f"step {step:5d}  loss {loss.item():.6f}")
    print("predictions:", np.round(pred.numpy().ravel(), 3), "targets:", y.numpy().ravel())
    return loss.item()


if __name__ == "__main__":
    main()
