"""Where a step's time goes, for the cases whose targets are missed, next to the floors
that bound them.

    taskset -c 1 python3 benchmarks/breakdown.py xor         # pinned: steadier figures
    python3 benchmarks/breakdown.py xor --count-calls        # also count the Python calls
    python3 benchmarks/breakdown.py mlp_large --threads 2
    python3 benchmarks/breakdown.py mlp --threads 2          # the step against its BLAS products
    python3 benchmarks/breakdown.py ops --of lenet           # each operation's rules, in the step

``xor`` times the whole step, its forward, backward (on a fresh graph, and again on one kept
graph), the optimiser step, and the same arithmetic written directly in NumPy: the floor no
engine on NumPy can go below. "engine overhead" is the step minus that floor: recording the
graph, the backward driver, module calls, the optimiser loop.

``mlp_large`` times, in the same loop, each phase of the step next to the raw BLAS products
that phase must do, the large GEMMs at the step's shapes next to a 2048^3 product (the
peak run.py judges against), and the SGD update.

``ops`` times every operation's forward and backward rule inside a case's training step
(any case of run.py) and prints them by time per step; what is left of the step is the
engine's bookkeeping, the module calls and the optimiser.

Figures are the fastest of the repeats (xor) or the median and range (mlp_large): on a shared
machine whose speed drifts, the minimum is the figure least disturbed by other work.
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time

import numpy as np

import chainrule as cr
from chainrule.kernels import add_scaled_

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
    own rules compute it: Linear as dot + bias, sigmoid through tanh, the numbers in array
    expressions as 0-d arrays of the operands' dtype (backend.Constant)."""
    ones = np.ones(x.shape[0], dtype=x.dtype)
    half, one = np.asarray(0.5, x.dtype), np.asarray(1.0, x.dtype)
    step_size = np.asarray(-lr, x.dtype)

    def step():
        z1 = np.dot(x, w1.T)
        z1 += b1
        a1 = np.tanh(z1 * half)
        a1 *= half
        a1 += half
        z2 = np.dot(a1, w2.T)
        z2 += b2
        a2 = np.tanh(z2 * half)
        a2 *= half
        a2 += half
        d = a2 - y
        loss = np.asarray(np.vdot(d, d) / d.size, dtype=d.dtype)
        g2 = d * (2.0 / d.size)                # dJ/da2
        g2 = g2 * a2 * (one - a2)              # dJ/dz2
        ga1 = np.dot(g2, w2)
        gw2, gb2 = np.dot(g2.T, a1), np.dot(ones, g2)
        g1 = ga1 * a1 * (one - a1)             # dJ/dz1
        gw1, gb1 = np.dot(g1.T, x), np.dot(ones, g1)
        for p, g in ((w1, gw1), (b1, gb1), (w2, gw2), (b2, gb2)):
            p += g * step_size
        return loss.item()
    return step


def count_calls(fn) -> tuple[int, int]:
    """(Python function calls, builtin calls) made by one call of ``fn``."""
    calls = collections.Counter()

    def profile(frame, event, arg):
        if event in ("call", "c_call"):
            calls[event] += 1
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls["call"] - 1, calls["c_call"] - 1     # less setprofile's own exit call


def xor(args) -> None:
    runner = CASES["xor"].build_chainrule()
    model, opt, loss_fn, x, y = runner.model, runner.opt, runner.loss_fn, runner.x, runner.y
    for _ in range(500):
        runner.step()
    w1, b1, w2, b2 = (np.array(p.numpy()) for p in model.parameters())
    floor = numpy_step(x.numpy(), y.numpy(), w1, b1, w2, b2, 0.5)
    n, r = args.calls, args.repeats
    times = {"whole step": best_us(runner.step, n, r),
             "NumPy floor (same arithmetic)": best_us(floor, n, r),
             "forward (model + loss)": best_us(lambda: loss_fn(model(x), y), n, r)}

    def forward_backward():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
    times["zero_grad + forward + backward"] = best_us(forward_backward, n, r)
    graph = loss_fn(model(x), y)
    times["backward (same graph again)"] = best_us(lambda: graph.backward(retain_graph=True), n, r)
    opt.zero_grad()                     # one step's gradients, not the repeats' sum
    loss_fn(model(x), y).backward()
    times["optimizer.step (4 parameters)"] = best_us(opt.step, n, r)
    # Timed again last, the better of the two kept: the first parts run while the machine
    # may still be settling.
    times["whole step"] = min(times["whole step"], best_us(runner.step, n, r))
    for name, us in times.items():
        print(f"{name:<34} {us:8.1f} us")
    overhead = times["whole step"] - times["NumPy floor (same arithmetic)"]
    print(f"{'engine overhead (step - floor)':<34} {overhead:8.1f} us   chainrule {cr.__version__}")
    if args.count_calls:
        py, builtin = count_calls(runner.step)
        print(f"one step calls {py} Python functions and {builtin} builtins")


def _gflops(flops: float, seconds: list) -> str:
    rates = sorted(flops / t / 1e9 for t in seconds)
    return f"{statistics.median(rates):4.0f} GFLOP/s (range {rates[0]:.0f}-{rates[-1]:.0f})"


def mlp_large(args) -> None:
    runner = CASES["mlp_large"].build_chainrule()
    model, opt, loss_fn, x, y = runner.model, runner.opt, runner.loss_fn, runner.x, runner.y
    runner.step()
    w, xa = model[0].weight.numpy(), x.numpy()
    rng = np.random.default_rng(0)
    h = np.maximum(xa @ w.T, 0)
    g = rng.standard_normal(h.shape).astype(np.float32)
    out = np.empty_like(w)
    square = rng.standard_normal((2048, 2048)).astype(np.float32)
    big = 2 * xa.shape[0] * w.shape[0] * w.shape[1]            # flops of one large GEMM
    kinds = {"2048^3 (the peak)": (2 * 2048 ** 3, lambda: square @ square),
             "forward x @ W.T": (big, lambda: xa @ w.T),
             "dX g @ W": (big, lambda: g @ w),
             "dW g.T @ x (out=)": (big, lambda: np.matmul(g.T, xa, out=out))}
    seconds = {k: [] for k in kinds}
    phases = collections.defaultdict(list)
    for _ in range(args.repeats):
        for name, (_, fn) in kinds.items():
            t0 = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        xa @ w.T, h @ w.T                       # the forward's two large products
        t1 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        t2 = time.perf_counter()
        np.matmul(g.T, h, out=out), g @ w, np.matmul(g.T, xa, out=out)   # backward's three
        t3 = time.perf_counter()
        loss.backward()
        t4 = time.perf_counter()
        opt.step()
        t5 = time.perf_counter()
        for key, value in (("raw forward GEMMs", t1 - t0), ("chainrule forward", t2 - t1),
                           ("raw backward GEMMs", t3 - t2), ("chainrule backward", t4 - t3),
                           ("SGD update (33.6M parameters)", t5 - t4)):
            phases[key].append(value * 1e3)
    # The update alone on the two large weights: the plain expression (a full-size
    # temporary, memory read twice), chainrule's chunked update on one thread, and on the
    # configured threads. Same arithmetic; only the weights' values drift.
    weights = [model[0].weight.numpy(), model[2].weight.numpy()]
    grads = [model[0].weight.grad.numpy(), model[2].weight.grad.numpy()]

    def plain():
        for p, g in zip(weights, grads):
            p -= 0.01 * g

    def chunked(threads: str):
        def run():
            saved = os.environ.get("OMP_NUM_THREADS")
            os.environ["OMP_NUM_THREADS"] = threads
            try:
                for p, g in zip(weights, grads):
                    add_scaled_(p, g, -0.01)
            finally:
                os.environ["OMP_NUM_THREADS"] = saved if saved is not None else ""
        return run
    updates = {"update: p -= lr * g": plain, "update: chunked, 1 thread": chunked("1"),
               f"update: chunked, {args.threads} threads": chunked(str(args.threads))}
    for _ in range(args.repeats):
        for name, fn in updates.items():
            t0 = time.perf_counter()
            fn()
            phases[name].append((time.perf_counter() - t0) * 1e3)
    for name, (flops, _) in kinds.items():
        print(f"{name:<32} {_gflops(flops, seconds[name])}")
    for name, ms in phases.items():
        print(f"{name:<32} {statistics.median(ms):6.1f} ms (range {min(ms):.1f}-{max(ms):.1f})")


def mlp(args) -> None:
    """The mlp step's phases next to its BLAS products alone, in NumPy and (when importable)
    in PyTorch, alternating, on the configured threads."""
    runner = CASES["mlp"].build_chainrule()
    model, opt, loss_fn, x, y = runner.model, runner.opt, runner.loss_fn, runner.x, runner.y
    for _ in range(10):
        runner.step()
    layers = [m for m in model if hasattr(m, "weight")]
    rng = np.random.default_rng(0)
    inputs, h = [], x.numpy()
    for layer in layers:                        # each layer's input, as the step sees it
        inputs.append(h)
        h = np.maximum(h @ layer.weight.numpy().T, 0)
    grads = [rng.standard_normal((x.shape[0], m.out_features)).astype(np.float32) for m in layers]
    weights = [m.weight.numpy() for m in layers]

    def products(mm, xs, ws, gs):
        def run():
            for a, w, g in zip(xs, ws, gs):    # forward and dW of every layer
                mm(a, w.T), mm(g.T, a)
            for w, g in zip(ws[1:], gs[1:]):    # dX of all but the first
                mm(g, w)
        return run
    kinds = {"BLAS products (NumPy)": products(np.matmul, inputs, weights, grads)}
    try:
        import torch
        torch.set_num_threads(args.threads)
        as_t = lambda arrays: [torch.from_numpy(a) for a in arrays]
        kinds["BLAS products (PyTorch)"] = products(torch.matmul, as_t(inputs), as_t(weights),
                                                    as_t(grads))
    except ImportError:
        pass
    times = collections.defaultdict(list)
    for _ in range(args.repeats):
        # Each in a block of 10 after a pause: the other library's idle BLAS threads spin
        # for ~0.1 s and would take a core from the next block (see run.py's --settle).
        for name, fn in kinds.items():
            time.sleep(0.5)
            for _ in range(10):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        time.sleep(0.5)
        for _ in range(10):
            t0 = time.perf_counter()
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            for key, value in (("chainrule forward", t1 - t0), ("chainrule backward", t2 - t1),
                               ("chainrule optimizer.step", t3 - t2), ("chainrule step", t3 - t0)):
                times[key].append(value)
    for name, seconds in times.items():
        ms = [t * 1e3 for t in seconds]
        print(f"{name:<32} {statistics.median(ms):6.3f} ms (range {min(ms):.3f}-{max(ms):.3f})")


def ops(args) -> None:
    """Each Function's forward and backward, timed (wall clock, inclusive) inside the step."""
    from chainrule.autograd import Function
    spent, calls = collections.Counter(), collections.Counter()

    def timed(cls, name: str) -> None:
        rule = cls.__dict__[name]
        fn = rule.__func__ if isinstance(rule, staticmethod) else rule
        key = f"{cls.__name__}.{name}"

        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t0
                calls[key] += 1
        setattr(cls, name, staticmethod(run))

    runner = CASES[args.of].build_chainrule()     # builds the model: every Function defined
    pending, seen = [Function], set()
    while pending:
        cls = pending.pop()
        if cls not in seen:
            seen.add(cls)
            pending.extend(cls.__subclasses__())
            for name in ("forward", "backward"):
                if cls is not Function and name in cls.__dict__:
                    timed(cls, name)
    for _ in range(10):
        runner.step()
    spent.clear()
    calls.clear()
    time.sleep(0.5)             # let BLAS workers from the warm-up go idle
    t0 = time.perf_counter()
    for _ in range(args.steps):
        runner.step()
    step = (time.perf_counter() - t0) / args.steps * 1e3
    print(f"{args.of}: {step:.3f} ms per step ({args.steps} steps, {args.threads} BLAS thread(s))")
    total = 0.0
    for key, seconds in spent.most_common():
        ms = seconds / args.steps * 1e3
        total += ms
        print(f"  {key:<40} {ms:8.3f} ms  {100 * ms / step:5.1f}%  x{calls[key] // args.steps}")
    print(f"  {'all rules':<40} {total:8.3f} ms  {100 * total / step:5.1f}%")
    print(f"  {'the rest (engine, modules, optimiser)':<40} {step - total:8.3f} ms  "
          f"{100 * (step - total) / step:5.1f}%")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", choices=["xor", "mlp", "mlp_large", "ops"])
    ap.add_argument("--of", choices=sorted(CASES), default="lenet", help="ops: which case")
    ap.add_argument("--steps", type=int, default=40, help="ops: steps timed")
    ap.add_argument("--calls", type=int, default=2000, help="xor: steps per repeat")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2, help="mlp, mlp_large, ops: BLAS threads")
    ap.add_argument("--count-calls", action="store_true", help="xor: count a step's calls")
    args = ap.parse_args(argv)
    for name in ("calls", "repeats", "threads", "steps"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.case == "xor":
        xor(args)
    else:
        from run import _set_threads
        _set_threads(args.threads)
        {"mlp": mlp, "mlp_large": mlp_large, "ops": ops}[args.case](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
