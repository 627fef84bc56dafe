"""chainrule vs PyTorch on the CPU, side by side in one process.

For each case both frameworks get the same model, shapes, initial weights, data, dtype
(float32) and thread count. Before timing, a few steps of each are run from the same start
and their losses and parameters compared, so a fast but wrong step cannot pass. Timing
interleaves the two (ours, theirs, ours, ...) and reports the median of the repeats after a
warm-up. Before each timed block the process pauses (``--settle``, 0.5 s) until the other
framework's idle worker threads have gone to sleep: OpenBLAS's spin for about 0.1 s after
their last call, and on a 2-core machine a spinning thread takes a core from whatever runs
next (without the pause, right after chainrule's block, PyTorch's step read 7.7-9.0 ms
instead of 4.9-5.4 ms for mlp and 25-27 ms instead of 10.1-10.5 ms for lenet; with 2
threads every PyTorch figure taken before this pause was inflated so). Each case is timed
in a fresh process (both frameworks in it), so no case inherits
another's heap state or spinning BLAS threads (``--same-process`` to time them all here).
Peak memory is measured in a fresh subprocess per framework and case (growth of the peak
resident set size over the process's baseline after imports and data set-up).

    python benchmarks/run.py                       # every case
    python benchmarks/run.py --cases xor,mlp --repeats 30
    python benchmarks/run.py --cases lenet,cnn32 --threads 1 --no-memory

Cases (benchmarks/cases.py): xor, mlp, mlp_large (with GFLOP/s against the GEMM peak, a
2048^3 product timed after every repeat so that it sees the same machine state), lenet, lstm, gru, cnn32, and mnist_epoch (one epoch of the default `chainrule train`
run, data loading and validation included, against the equivalent PyTorch loop). Each row
ends with issue 7's target for the case, met or missed by how much.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cases import CASES  # noqa: E402


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)
    except ImportError:
        pass


def _torch():
    try:
        import torch
        return torch
    except ImportError:
        return None


def gemm_peak(n: int = 2048, repeats: int = 10, with_torch: bool = True,
              settle: float = 0.0) -> tuple[float, float]:
    """Measured float32 GEMM GFLOP/s of NumPy's BLAS and of torch (the ceiling for mlp_large):
    the best of ``repeats`` products."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.copy()
    def best(fn):
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 2 * n ** 3 / min(times) / 1e9
    ours = best(lambda: a @ b)
    torch = _torch() if with_torch else None
    theirs = float("nan")
    if torch:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        time.sleep(settle)              # NumPy's BLAS workers asleep before torch's turn
        theirs = best(lambda: ta @ tb)
    return ours, theirs


def check_agreement(case, torch) -> str:
    """Train both from the same start on the same batches; fail loudly when losses or
    parameters drift apart.

    Losses must agree to float32 rounding at every step, and so must every parameter after
    SGD. Adam divides each gradient by its own running magnitude, so for a gradient that is
    nearly zero it turns float32 rounding noise into a step of up to ``lr``: after Adam a
    few elements may differ, so it allows 0.1% of each tensor to differ by less than
    ``lr`` per step (and reports how many did)."""
    ours = case.build_chainrule()
    theirs = case.build_torch(ours)
    batches = zip(ours.check_batches(), theirs.check_batches())
    for s, ((xo, yo), (xt, yt)) in enumerate(batches):
        lo, lt = ours.train_step(xo, yo), theirs.train_step(xt, yt)
        if not np.isclose(lo, lt, rtol=1e-4, atol=1e-5):
            raise SystemExit(f"{case.name}: step {s} loss differs: chainrule {lo:.7g} vs "
                             f"torch {lt:.7g}")
    steps = s + 1
    kind, lr = case.optimizer
    theirs_params = theirs.named_parameters()
    loose = []
    for name, po in ours.named_parameters().items():
        pt = theirs_params[name]
        off = ~np.isclose(po, pt, rtol=1e-3, atol=1e-5)
        err = float(np.max(np.abs(po - pt)))
        if not off.any():
            continue
        if kind == "sgd" or off.mean() > 1e-3 or err >= lr * steps:
            raise SystemExit(f"{case.name}: parameter {name} differs after {steps} steps "
                             f"({int(off.sum())} of {off.size} values, max {err:.3g})")
        loose.append(f"{name}: {int(off.sum())}/{off.size} within {err:.1e}")
    note = f"agree over {steps} steps (last loss {lo:.6g})"
    return note + (f" [Adam-amplified rounding: {'; '.join(loose)}]" if loose else "")


def time_steps(runner, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        runner.step()
    return (time.perf_counter() - t0) / n * 1e3


def measure(case, torch, repeats: int, warmup: int, settle: float = 0.5):
    if case.max_repeats:
        repeats, warmup = min(repeats, case.max_repeats), min(warmup, 1)
    ours = case.build_chainrule()
    theirs = case.build_torch(ours) if torch else None
    inner = case.inner
    for _ in range(warmup):
        ours.step()
        if theirs:
            theirs.step()
    t_ours, t_theirs, peaks = [], [], []
    for _ in range(repeats):
        time.sleep(settle)      # (each pause: the other side's worker threads fall asleep)
        t_ours.append(time_steps(ours, inner))
        if theirs:
            time.sleep(settle)
            t_theirs.append(time_steps(theirs, inner))
        if case.extra:
            # The GEMM peak of this moment, next to the steps it judges: on a shared (virtual)
            # machine both drift by up to 30% within a minute.
            time.sleep(settle)
            peaks.append(gemm_peak(repeats=3, with_torch=False)[0])
    med_o = statistics.median(t_ours)
    med_t = statistics.median(t_theirs) if t_theirs else float("nan")
    peak = statistics.median(peaks) if peaks else float("nan")
    return med_o, med_t, peak


def peak_memory(case_name: str, framework: str, threads: int) -> float:
    """Peak RSS growth (MiB) of training steps, in a fresh process (see _memory_probe)."""
    out = subprocess.run([sys.executable, __file__, "--memory-probe", case_name, framework,
                          "--threads", str(threads)], capture_output=True, text=True)
    if out.returncode != 0:
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


def _cpu_model() -> str:
    """The CPU's model name (what ``lscpu`` prints), or the architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _verdict(case, ratio: float, mem_o: float, mem_t: float) -> str:
    """Issue 7's targets for this case: met, or missed by how much."""
    out = []
    if case.target is not None and ratio == ratio:
        if ratio <= case.target:
            out.append(f"target <= {case.target:g}: met")
        else:
            out.append(f"target <= {case.target:g}: MISSED by {ratio / case.target - 1:.0%}")
    if case.memory_target and mem_o == mem_o and mem_t == mem_t:
        out.append("memory <= torch: " + ("met" if mem_o <= mem_t else
                                          f"MISSED by {mem_o / mem_t - 1:.0%}"))
    return "; ".join(out)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _memory_probe(case_name: str, framework: str) -> None:
    """Peak resident memory of training (parameters, gradients, optimiser state and the
    step's activations) over the process's size just before the model is built. The kernel's
    high-water mark is reset after the warm-up step (``/proc/self/clear_refs``), so the peak
    of imports and set-up does not hide the peak of the steps."""
    case = CASES[case_name]
    # Run-time set-up (thread pools, kernels loaded on first use) is not training memory:
    # pay it on a throwaway tiny model first.
    tiny = CASES["xor"].build_chainrule()
    (tiny if framework == "chainrule" else CASES["xor"].build_torch(tiny)).step()
    del tiny
    case.data()
    before = _status_kib("VmRSS")
    ours = case.build_chainrule()
    runner = ours if framework == "chainrule" else case.build_torch(ours)
    if framework != "chainrule":
        ours = None
    runner.step()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(case.memory_steps):
        runner.step()
    print((_status_kib("VmHWM") - before) / 1024.0)


def _timing_probe(case_name: str, repeats: int, warmup: int, settle: float) -> None:
    """Agreement check and timing of one case, printed as JSON (run in a fresh process)."""
    torch = _torch()
    case = CASES[case_name]
    note = check_agreement(case, torch) if torch else "torch absent: not checked"
    ms_o, ms_t, peak = measure(case, torch, repeats, warmup, settle)
    print(json.dumps(dict(note=note, ms_o=ms_o, ms_t=ms_t, peak=peak)))


def time_case(name: str, torch, args) -> tuple[str, float, float, float]:
    """(agreement note, our ms, torch ms, NumPy's GEMM peak measured between the repeats or
    nan). By default in a fresh process per case: what one
    case leaves behind (the heap's malloc thresholds, BLAS threads still spinning) changes
    the next one's time by up to 30%, so a case is timed as a user's program would run it."""
    if args.same_process:
        note = check_agreement(CASES[name], torch) if torch else "torch absent: not checked"
        return (note,) + measure(CASES[name], torch, args.repeats, args.warmup, args.settle)
    out = subprocess.run([sys.executable, __file__, "--timing-probe", name,
                          "--threads", str(args.threads), "--repeats", str(args.repeats),
                          "--warmup", str(args.warmup), "--settle", str(args.settle)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stdout + out.stderr)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["note"], res["ms_o"], res["ms_t"], res["peak"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ",".join(CASES))
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds to pause before each timed block (0: none), so the other "
                         "framework's worker threads have stopped spinning")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--same-process", action="store_true",
                    help="time every case in this process (default: a fresh one per case)")
    ap.add_argument("--memory-probe", nargs=2, metavar=("CASE", "FRAMEWORK"), help=argparse.SUPPRESS)
    ap.add_argument("--timing-probe", metavar="CASE", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.settle < 0:
        ap.error(f"--settle must be >= 0 seconds, got {args.settle}")
    _set_threads(args.threads)
    torch = _torch()
    if torch:
        torch.set_num_threads(args.threads)
    if args.memory_probe:
        _memory_probe(*args.memory_probe)
        return 0
    if args.timing_probe:
        _timing_probe(args.timing_probe, args.repeats, args.warmup, args.settle)
        return 0
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {_cpu_model()}, {os.cpu_count()} cores  "
          f"threads={args.threads}  settle={args.settle:g}s  numpy {np.__version__}  "
          f"torch {torch.__version__ if torch else 'not installed'}  "
          f"load average {os.getloadavg()[0]:.2f}")
    g_np = float("nan")
    if any(CASES[n].extra for n in names):
        g_np, g_t = gemm_peak(settle=args.settle)
        print(f"# float32 GEMM peak (2048^3): numpy {g_np:.0f} GFLOP/s, torch {g_t:.0f} GFLOP/s")
    header = (f"{'case':<12} {'chainrule ms':>13} {'torch ms':>10} {'ratio':>7} "
              f"{'mem MiB (ours/torch)':>22}  notes")
    print(header)
    print("-" * len(header))
    rows = []
    for name in names:
        case = CASES[name]
        note, ms_o, ms_t, peak = time_case(name, torch, args)
        mem_o = mem_t = float("nan")
        if not args.no_memory:
            mem_o = peak_memory(name, "chainrule", args.threads)
            mem_t = peak_memory(name, "torch", args.threads) if torch else float("nan")
        extra = case.extra(ms_o, peak) if case.extra else ""
        ratio = ms_o / ms_t if torch else float("nan")
        extra = "; ".join(x for x in (extra, _verdict(case, ratio, mem_o, mem_t)) if x)
        print(f"{name:<12} {ms_o:>13.3f} {ms_t:>10.3f} {ratio:>7.2f} {mem_o:>10.1f}/{mem_t:<10.1f}  "
              f"{note}{'; ' + extra if extra else ''}", flush=True)
        rows.append(dict(case=name, chainrule_ms=ms_o, torch_ms=ms_t, ratio=ratio,
                         chainrule_mem_mib=mem_o, torch_mem_mib=mem_t, note=note, extra=extra))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
