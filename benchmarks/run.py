"""chainrule vs PyTorch on the CPU, side by side in one process.

For each case both frameworks get the same model, shapes, initial weights, data, dtype
(float32) and thread count. Before timing, a few steps of each are run from the same start
and their losses and parameters compared, so a fast but wrong step cannot pass. Timing
interleaves the two (ours, theirs, ours, ...) and reports the median of the repeats after a
warm-up. Peak memory is measured in a fresh subprocess per framework and case (growth of the
peak resident set size over the process's baseline after imports and data set-up).

    python benchmarks/run.py                       # every case
    python benchmarks/run.py --cases xor,mlp --repeats 30
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


def gemm_peak(n: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """Measured float32 GEMM GFLOP/s of NumPy's BLAS and of torch (the ceiling for mlp_large)."""
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
    torch = _torch()
    theirs = float("nan")
    if torch:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        theirs = best(lambda: ta @ tb)
    return ours, theirs


def check_agreement(case, torch, steps: int = 3) -> str:
    """Run both from the same start; fail loudly when losses or parameters drift apart."""
    ours = case.build_chainrule()
    theirs = case.build_torch(ours)
    for s in range(steps):
        lo, lt = ours.step(), theirs.step()
        if not np.isclose(lo, lt, rtol=1e-4, atol=1e-5):
            raise SystemExit(f"{case.name}: step {s} loss differs: chainrule {lo:.7g} vs torch {lt:.7g}")
    for (name, po), pt in zip(ours.named_parameters(), theirs.parameters()):
        if not np.allclose(po, pt, rtol=1e-3, atol=1e-5):
            err = float(np.max(np.abs(po - pt)))
            raise SystemExit(f"{case.name}: parameter {name} differs after {steps} steps (max {err:.3g})")
    return f"agree over {steps} steps (last loss {lo:.6g})"


def time_steps(runner, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        runner.step()
    return (time.perf_counter() - t0) / n * 1e3


def measure(case, torch, repeats: int, warmup: int):
    ours = case.build_chainrule()
    theirs = case.build_torch(ours) if torch else None
    inner = case.inner
    for _ in range(warmup):
        ours.step()
        if theirs:
            theirs.step()
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        t_ours.append(time_steps(ours, inner))
        if theirs:
            t_theirs.append(time_steps(theirs, inner))
    med_o = statistics.median(t_ours)
    med_t = statistics.median(t_theirs) if t_theirs else float("nan")
    return med_o, med_t


def peak_memory(case_name: str, framework: str, threads: int) -> float:
    """Peak RSS growth (MiB) of training steps, in a fresh process (see _memory_probe)."""
    out = subprocess.run([sys.executable, __file__, "--memory-probe", case_name, framework,
                          "--threads", str(threads)], capture_output=True, text=True)
    if out.returncode != 0:
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


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
    for _ in range(3):
        runner.step()
    print((_status_kib("VmHWM") - before) / 1024.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ",".join(CASES))
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--memory-probe", nargs=2, metavar=("CASE", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    _set_threads(args.threads)
    if args.memory_probe:
        _memory_probe(*args.memory_probe)
        return 0
    torch = _torch()
    if torch:
        torch.set_num_threads(args.threads)
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    print(f"# {time.strftime('%Y-%m-%d')}  {platform.processor() or platform.machine()}  "
          f"threads={args.threads}  numpy {np.__version__}  "
          f"torch {torch.__version__ if torch else 'not installed'}")
    if "mlp_large" in names:
        g_np, g_t = gemm_peak()
        print(f"# float32 GEMM peak (2048^3): numpy {g_np:.0f} GFLOP/s, torch {g_t:.0f} GFLOP/s")
    header = f"{'case':<10} {'chainrule ms':>13} {'torch ms':>10} {'ratio':>7} {'mem MiB (ours/torch)':>22}  notes"
    print(header)
    print("-" * len(header))
    rows = []
    for name in names:
        case = CASES[name]
        note = check_agreement(case, torch) if torch else "torch absent: not checked"
        ms_o, ms_t = measure(case, torch, args.repeats, args.warmup)
        mem_o = mem_t = float("nan")
        if not args.no_memory:
            mem_o = peak_memory(name, "chainrule", args.threads)
            mem_t = peak_memory(name, "torch", args.threads) if torch else float("nan")
        extra = case.extra(ms_o) if case.extra else ""
        ratio = ms_o / ms_t if torch else float("nan")
        print(f"{name:<10} {ms_o:>13.3f} {ms_t:>10.3f} {ratio:>7.2f} {mem_o:>10.1f}/{mem_t:<10.1f}  "
              f"{note}{'; ' + extra if extra else ''}", flush=True)
        rows.append(dict(case=name, chainrule_ms=ms_o, torch_ms=ms_t, ratio=ratio,
                         chainrule_mem_mib=mem_o, torch_mem_mib=mem_t, note=note, extra=extra))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
