"""Two ways to use the second core that chainrule does not take, measured.

With 2 threads only chainrule's BLAS products use the second core; PyTorch also runs its
convolutions, recurrent cells and elementwise kernels on both (see benchmarks/README.md,
"What bounds the misses"). This script measures the two ways that could change that, each
next to what chainrule does now, on the shapes of the lenet and lstm cases:

``threads``: split one NumPy pass across two Python threads. NumPy releases the GIL inside
    a pass, so a second thread can run the other half. The hand-off is a persistent worker
    and two locks, the cheapest Python has (``kernels.run_split``, built on a thread pool's
    futures, costs more; its empty hand-off is printed too).
``numba``: compile the per-element work (the issue names numba for a compiled path). The
    LSTM forward with each step's gate arithmetic fused into one parallel kernel, and conv2's
    input gradient with the col2im sum done in one gather pass instead of kh*kw passes. Each
    result is first checked against chainrule's own. Each kernel runs compiled twice: on
    one thread, and split across numba's threads. Skipped when numba is not installed.
    A parallel kernel that starts right after a BLAS product shares the cores with
    OpenBLAS's still-spinning workers; ``--blas-threads 1`` measures it without them.

    python3 benchmarks/alternatives.py                 # both parts, 2 threads
    python3 benchmarks/alternatives.py threads --threads 1
    python3 benchmarks/alternatives.py numba --blas-threads 1    # numba's 2 threads alone

Figures are medians of alternating repeats after a pause (see run.py's ``--settle``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

import numpy as np

from run import _set_threads


def median_ms(variants: dict, calls: int, repeats: int, settle: float = 0.05) -> dict:
    """Median time per call of each variant, repeats alternating between them."""
    for fn in variants.values():
        fn()
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            time.sleep(settle)
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - t0) / calls * 1e3)
    return {name: statistics.median(ts) for name, ts in times.items()}


def report(title: str, ms: dict) -> None:
    base = next(iter(ms.values()))
    print(title)
    for name, value in ms.items():
        print(f"  {name:44s} {value:9.4f} ms   {value / base:5.2f}x")


class _Ctx:
    """What LSTMSequence's forward and backward need of their graph node."""

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays


def _lstm_inputs(rng):
    """The lstm case's recurrence: 32 steps, batch 32, hidden 128 (xproj, h0, c0, W_hh, b_hh)."""
    steps, batch, hid = 32, 32, 128
    xproj = rng.standard_normal((steps, batch, 4 * hid), dtype=np.float32)
    h0, c0 = np.zeros((batch, hid), np.float32), np.zeros((batch, hid), np.float32)
    w_hh = (rng.standard_normal((4 * hid, hid)) / np.sqrt(hid)).astype(np.float32)
    return xproj, h0, c0, w_hh, rng.standard_normal(4 * hid).astype(np.float32)


# ------------------------------------------------------------------------------ threads
class Halves:
    """Run ``fn(lo, hi)`` over [0, n) in two halves: the second on a waiting worker thread,
    handed over through two locks."""

    def __init__(self):
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._job, self._error = None, None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            self._go.acquire()
            fn, lo, hi = self._job
            try:
                fn(lo, hi)
            except BaseException as exc:        # handed back to the caller, not lost here
                self._error = exc
            finally:
                self._done.release()

    def __call__(self, fn, n: int) -> None:
        half = n // 2
        self._job = (fn, half, n)
        self._go.release()
        try:
            fn(0, half)
        finally:
            self._done.acquire()                # the worker's half has finished either way
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def threads_part(args) -> None:
    from chainrule import kernels
    halves = Halves()
    rng = np.random.default_rng(0)
    zero = np.float32(0)
    cases = {   # what: (input shape, a maker of the pass over rows lo:hi of x into y)
        "ReLU of lenet's conv1 output (64x6x28x28), memory-bound":
            ((64, 6, 28, 28), lambda x, y: lambda lo, hi: np.maximum(x[lo:hi], zero, out=y[lo:hi])),
        "exp of one LSTM step's gates (32x512)":
            ((32, 512), lambda x, y: lambda lo, hi: np.exp(x[lo:hi], out=y[lo:hi])),
        "exp over lenet's conv1 output (64x6x28x28)":
            ((64, 6, 28, 28), lambda x, y: lambda lo, hi: np.exp(x[lo:hi], out=y[lo:hi])),
    }
    nothing = lambda lo, hi: None  # noqa: E731
    report("hand-off of an empty job", median_ms({
        "none (the call alone)": lambda: nothing(0, 2),
        "two halves, worker and locks": lambda: halves(nothing, 2),
        "kernels.run_split (thread pool futures)": lambda: kernels.run_split(nothing, 2, 1),
    }, calls=args.calls * 10, repeats=args.repeats))
    for title, (shape, make) in cases.items():
        x = rng.standard_normal(shape, dtype=np.float32)
        y = np.empty_like(x)
        fn = make(x, y)
        n = shape[0]
        report(title, median_ms({"one thread": lambda: fn(0, n),
                                 "two halves on two threads": lambda: halves(fn, n)},
                                calls=args.calls, repeats=args.repeats))
    # A whole recurrence in batch halves: each thread runs all 32 steps (forward and
    # backward) on 16 of the 32 sequences, so the threads only meet at the end.
    from chainrule.ops.recurrent import LSTMSequence
    xproj, h0, c0, w_hh, b_hh = _lstm_inputs(rng)
    g = np.zeros((2,) + xproj.shape[:2] + h0.shape[1:], dtype=np.float32)
    g[0, -1] = 1.0                              # a head on the last step, as in the lstm case

    def recurrence(lo, hi):
        ctx = _Ctx()
        LSTMSequence.forward(ctx, xproj[:, lo:hi], h0[lo:hi], c0[lo:hi], w_hh, b_hh)
        LSTMSequence.backward(ctx, g[:, :, lo:hi])
    batch = h0.shape[0]
    report("LSTM forward and backward, lstm case's shapes", median_ms({
        "one thread": lambda: recurrence(0, batch),
        "batch halves on two threads": lambda: halves(recurrence, batch),
    }, calls=max(args.calls // 20, 1), repeats=args.repeats))


# -------------------------------------------------------------------------------- numba
def numba_part(args) -> None:
    try:
        import numba
    except ImportError:
        print("numba: not installed (pip install numba), part skipped")
        return
    numba.set_num_threads(args.threads)
    print(f"numba {numba.__version__}, {numba.get_num_threads()} thread(s), "
          f"SVML {'on' if numba.config.USING_SVML else 'off'}")
    _lstm_forward(numba, args)
    _conv_input_grad(numba, args)


def _compiled(numba, fn) -> dict:
    """``fn`` compiled twice: its ``prange`` loop on one thread, and split across numba's."""
    return {"1 thread": numba.njit(fn), "parallel": numba.njit(parallel=True)(fn)}


def _lstm_forward(numba, args) -> None:
    from chainrule.ops.recurrent import LSTMSequence

    def lstm_cell(pre, c, acts, c_new, h_new, tanh_c):
        """Gates i, f, g, o from the pre-activations; c' = f c + i g, h' = o tanh(c')."""
        batch, hid = c.shape
        for b in numba.prange(batch):
            for k in range(hid):
                i = 1.0 / (1.0 + np.exp(-pre[b, k]))
                f = 1.0 / (1.0 + np.exp(-pre[b, hid + k]))
                g = np.tanh(pre[b, 2 * hid + k])
                o = 1.0 / (1.0 + np.exp(-pre[b, 3 * hid + k]))
                cn = f * c[b, k] + i * g
                tc = np.tanh(cn)
                acts[b, k], acts[b, hid + k], acts[b, 2 * hid + k], acts[b, 3 * hid + k] = i, f, g, o
                c_new[b, k], tanh_c[b, k], h_new[b, k] = cn, tc, o * tc

    def compiled_forward(xproj, h0, c0, w_hh, b_hh, cell):
        steps, batch, four_h = xproj.shape
        hid = four_h // 4
        w_t = np.ascontiguousarray(w_hh.T)
        xs = xproj + b_hh
        states = np.empty((2, steps, batch, hid), dtype=xproj.dtype)
        acts = np.empty_like(xproj)
        tanh_c = np.empty((steps, batch, hid), dtype=xproj.dtype)
        pre = np.empty((batch, four_h), dtype=xproj.dtype)
        h, c = h0, c0
        for t in range(steps):
            np.matmul(h, w_t, out=pre)
            pre += xs[t]
            cell(pre, c, acts[t], states[1, t], states[0, t], tanh_c[t])
            h, c = states[0, t], states[1, t]
        return states

    xproj, h0, c0, w_hh, b_hh = _lstm_inputs(np.random.default_rng(0))
    ours = LSTMSequence.forward(_Ctx(), xproj, h0, c0, w_hh, b_hh)
    variants = {"chainrule (NumPy passes per step)":
                lambda: LSTMSequence.forward(_Ctx(), xproj, h0, c0, w_hh, b_hh)}
    for name, cell in _compiled(numba, lstm_cell).items():
        np.testing.assert_allclose(compiled_forward(xproj, h0, c0, w_hh, b_hh, cell), ours,
                                   rtol=1e-4, atol=1e-5)
        variants[f"gates in one numba kernel per step, {name}"] = (
            lambda cell=cell: compiled_forward(xproj, h0, c0, w_hh, b_hh, cell))
    report("LSTM forward, 32 steps of batch 32, hidden 128 (states agree)",
           median_ms(variants, calls=max(args.calls // 20, 1), repeats=args.repeats))


def _conv_input_grad(numba, args) -> None:
    from chainrule.ops import conv

    def col2im(dcols, gxp, wp):
        """gxp[c, n, i wp + j + t] += dcols[c, i, j, n, t]: one pass per (channel, sample)."""
        channels, kh, kw, batch, run = dcols.shape
        for cn in numba.prange(channels * batch):
            c, n = cn // batch, cn % batch
            out = gxp[c, n]
            for i in range(kh):
                for j in range(kw):
                    src = dcols[c, i, j, n]
                    start = i * wp + j
                    for t in range(run):
                        out[start + t] += src[t]

    rng = np.random.default_rng(0)
    batch, channels, size, out_ch, k = 64, 6, 14, 16, 5         # lenet's conv2
    geom = conv.ConvGeometry((1, 1), (1, 1), (0, 0, 0, 0), 1)
    out_hw = (size - k + 1, size - k + 1)
    w = rng.standard_normal((out_ch, channels, k, k), dtype=np.float32)
    gy = rng.standard_normal((batch, out_ch) + out_hw, dtype=np.float32)
    gmat = conv._grad_matrix(gy, geom, (size, size))

    def compiled(add_back):
        dcols = w.reshape(out_ch, -1).T @ gmat
        gxp = np.zeros((channels, batch, size * size + k - 1), dtype=np.float32)
        add_back(dcols.reshape(channels, k, k, batch, out_hw[0] * size), gxp, size)
        return np.ascontiguousarray(
            gxp[:, :, :size * size].reshape(channels, batch, size, size).transpose(1, 0, 2, 3))

    def ours():
        return conv._input_grad_from_matrix(gmat, w, geom, batch, (size, size), out_hw)

    variants = {"chainrule (product, then 25 strided adds)": ours}
    for name, add_back in _compiled(numba, col2im).items():
        np.testing.assert_allclose(compiled(add_back), ours(), rtol=1e-4, atol=1e-4)
        variants[f"product, then one numba pass, {name}"] = lambda f=add_back: compiled(f)
    report("lenet conv2's input gradient, 64x6x14x14 (results agree)",
           median_ms(variants, calls=max(args.calls // 4, 1), repeats=args.repeats))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", nargs="?", choices=["threads", "numba", "all"], default="all")
    ap.add_argument("--threads", type=int, default=2, help="BLAS and numba threads")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="BLAS threads, when they should differ from --threads")
    ap.add_argument("--calls", type=int, default=200, help="calls per timed block")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    if args.blas_threads is None:
        args.blas_threads = args.threads
    for name, value in (("threads", args.threads), ("blas-threads", args.blas_threads),
                        ("calls", args.calls), ("repeats", args.repeats)):
        if value < 1:
            ap.error(f"--{name} must be at least 1, got {value}")
    _set_threads(args.blas_threads)
    print(f"{args.blas_threads} BLAS thread(s)")
    if args.part in ("threads", "all"):
        threads_part(args)
    if args.part in ("numba", "all"):
        numba_part(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
