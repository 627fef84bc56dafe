"""chainrule's default thread count against its best explicit setting, with and without one
busy process on the other core (issue 13, item 8).

    python3 benchmarks/threads.py                        # mlp, idle and with a busy core
    python3 benchmarks/threads.py --case lenet --batches 20

Each configuration runs in a fresh process that trains the case (benchmarks/cases.py) for
one epoch of ``--batches`` copies of its batch through ``cr.train.fit`` (no metrics, no
display), so the default is exactly what a user of ``fit`` or of the ``chainrule`` command
gets: with no thread variable set, the first ``fit`` measures the cores the process may
really use and lowers the BLAS thread count to them (``cr.threads.fit_threads``). The
explicit settings set ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS``
to 1 or to the CPU count. The figure is the epoch's milliseconds per batch, the median over
``--rounds`` fresh processes per configuration (configurations interleaved).

"One busy process on the other core": a Python busy loop pinned to the last CPU of this
process's affinity mask, started before the configurations run and stopped after.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def worker(case_name: str, batches: int) -> None:
    import numpy as np
    import chainrule as cr
    from cases import CASES
    case = CASES[case_name]
    x, y = case.data()[:2]
    if x.ndim == 3:
        raise SystemExit("threads.py times cases whose batch is the first axis")
    data = cr.data.TensorDataset(np.concatenate([x] * batches), np.concatenate([y] * batches))
    loader = cr.data.DataLoader(data, batch_size=len(y))
    runner = case.build_chainrule()
    warm = cr.data.DataLoader(cr.data.TensorDataset(x, y), batch_size=len(y))
    cr.train.fit(runner.model, runner.loss_fn, runner.opt, warm, 1, metrics=(), verbose=0)
    t0 = time.perf_counter()
    cr.train.fit(runner.model, runner.loss_fn, runner.opt, loader, 1, metrics=(), verbose=0)
    ms = (time.perf_counter() - t0) / batches * 1e3
    print(json.dumps({"ms": ms, "threads": cr.get_num_threads()}))


def run(case: str, batches: int, threads: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _VARS}
    if threads is not None:
        env.update({var: str(threads) for var in _VARS})
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--worker", case, "--batches", str(batches)],
                         capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        raise SystemExit(out.stdout + out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def busy_process() -> subprocess.Popen:
    other = max(os.sched_getaffinity(0))
    return subprocess.Popen([sys.executable, "-c",
                             f"import os; os.sched_setaffinity(0, {{{other}}})\nwhile True: pass"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default="mlp")
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.batches)
        return 0
    cpus = len(os.sched_getaffinity(0))
    settings = [("default", None), ("1 thread", 1)] + ([(f"{cpus} threads", cpus)] if cpus > 1 else [])
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {cpus} CPUs  case {args.case}  load average "
          f"{os.getloadavg()[0]:.2f}")
    for load in ("the machine as it is", "plus one busy process on the other core"):
        busy = busy_process() if load.startswith("plus") else None
        try:
            time.sleep(0.5 if busy else 0)
            results = {name: [] for name, _ in settings}
            chosen = []
            for r in range(args.rounds):
                for name, n in (settings if r % 2 == 0 else settings[::-1]):
                    res = run(args.case, args.batches, n)
                    results[name].append(res["ms"])
                    if n is None:
                        chosen.append(res["threads"])
        finally:
            if busy:
                busy.kill()
                busy.wait()
        med = {name: statistics.median(v) for name, v in results.items()}
        best = min((v, name) for name, v in med.items() if name != "default")
        print(f"{load}: " + ", ".join(f"{name} {v:.2f} ms" for name, v in med.items())
              + f"; default chose {chosen} threads; default / best explicit ({best[1]}) = "
              f"{med['default'] / best[0]:.2f} (target <= 1.2); runs "
              + json.dumps({k: [round(x, 2) for x in v] for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
