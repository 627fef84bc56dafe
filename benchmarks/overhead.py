"""Where a tiny training step's time goes: the `xor` case split into its parts, next to the
same arithmetic written directly in NumPy (the floor no engine on NumPy can go below).

    python3 benchmarks/overhead.py              # best of 15 x 2000 steps per part
    taskset -c 1 python3 benchmarks/overhead.py # pinned to one core: steadier figures

Every figure is the fastest of the repeats, in microseconds per call: on a shared machine the
minimum is the figure least disturbed by other work. "engine overhead" is the step minus the
NumPy floor: Python bookkeeping (recording the graph, the backward driver, module calls,
the optimiser loop).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr

from cases import CASES


def best_us(fn, calls: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def numpy_step(x, y, w1, b1, w2, b2, lr):
    """The xor step's arithmetic (forward, MSE, backward, SGD) on plain arrays, as the engine's
    own rules compute it: Linear as dot + bias, sigmoid through tanh."""
    ones = np.ones(x.shape[0], dtype=x.dtype)

    def step():
        z1 = np.dot(x, w1.T)
        z1 += b1
        a1 = np.tanh(z1 * 0.5)
        a1 += 1
        a1 *= 0.5
        z2 = np.dot(a1, w2.T)
        z2 += b2
        a2 = np.tanh(z2 * 0.5)
        a2 += 1
        a2 *= 0.5
        d = a2 - y
        loss = np.asarray(np.vdot(d, d) / d.size, dtype=d.dtype)
        d *= 2.0 / d.size                      # dJ/da2
        g2 = d * a2 * (1 - a2)                 # dJ/dz2
        ga1 = np.dot(g2, w2)
        gw2, gb2 = np.dot(g2.T, a1), np.dot(ones, g2)
        g1 = ga1 * a1 * (1 - a1)               # dJ/dz1
        gw1, gb1 = np.dot(g1.T, x), np.dot(ones, g1)
        for p, g in ((w1, gw1), (b1, gb1), (w2, gw2), (b2, gb2)):
            p += -lr * g
        return loss.item()
    return step


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    case = CASES["xor"]
    runner = case.build_chainrule()
    model, opt, loss_fn, x, y = runner.model, runner.opt, runner.loss_fn, runner.x, runner.y
    for _ in range(500):
        runner.step()
    w1, b1, w2, b2 = (np.array(p.data) for p in model.parameters())
    floor = numpy_step(x.data, y.data, w1, b1, w2, b2, 0.5)
    times = {"whole step": best_us(runner.step, args.calls, args.repeats),
             "NumPy floor (same arithmetic)": best_us(floor, args.calls, args.repeats),
             "forward (model + loss)": best_us(lambda: loss_fn(model(x), y), args.calls,
                                               args.repeats)}
    graph = loss_fn(model(x), y)
    times["backward (same graph again)"] = best_us(lambda: graph.backward(retain_graph=True),
                                                   args.calls, args.repeats)
    opt.zero_grad()                     # one step's gradients, not the repeats' sum
    loss_fn(model(x), y).backward()
    times["optimizer.step (4 parameters)"] = best_us(opt.step, args.calls, args.repeats)
    for name, us in times.items():
        print(f"{name:<32} {us:8.1f} us")
    overhead = times["whole step"] - times["NumPy floor (same arithmetic)"]
    print(f"{'engine overhead (step - floor)':<32} {overhead:8.1f} us   chainrule {cr.__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
