"""Where a data-parallel step's time goes, rank by rank, next to what bounds it.

    python3 benchmarks/ddp_profile.py                          # mlp and the MNIST MLP (Adam)
    python3 benchmarks/ddp_profile.py --cases lenet,lstm --steps 100 --rounds 3

For each case (benchmarks/cases.py; its batch is the global batch) five jobs run one after
the other, in ``--rounds`` rounds whose order alternates:

* ``torch 2 threads``: PyTorch in one process on the whole batch (issue 13's yardstick);
* ``whole batch``: chainrule in one process with 2 BLAS threads on the whole batch (what
  ``mpiexec -n 2`` has to beat for the command's epoch to be faster);
* ``1 process``: chainrule, one process, one BLAS thread, on half the batch: what a rank
  computes, on a machine to itself;
* ``2 processes``: the same half-batch step in two processes at once under ``mpiexec``,
  with no communication: what a rank computes while the other core is busy too (they share
  memory bandwidth and caches). Its step over torch's is the best ratio any 2-rank
  data-parallel design could reach here, communication free;
* ``DDP``: ``DistributedDataParallel`` on 2 ranks, each phase timed on each rank: forward,
  the broadcast of rank 0's buffers that DDP's forward starts with (BatchNorm's running
  statistics; it also waits for the other rank), the backward's own work, the gradient hooks (copying each gradient into its bucket and
  starting the bucket's all-reduce), the wait for the all-reduce at the end of backward
  (which includes waiting for the slower rank), averaging (sum / world into ``.grad``) and
  the optimiser step.

Every figure is the median over rounds of a job's median (``--steps`` timed steps after
``--warmup``), phase by phase: so a row's phases need not add up to its step exactly.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cases import CASES  # noqa: E402
from data_parallel import _env, _half, chosen_cases, mpiexec, print_header  # noqa: E402

JOBS = ("torch 2 threads", "whole batch", "1 process", "2 processes", "DDP")
PHASES = ("forward", "buffer broadcast", "backward work", "hooks: copy + start",
          "all-reduce wait", "averaging", "optimizer", "step")


# ------------------------------------------------------------------------------ workers
def _batch(case, rank: int, world: int, halve: bool):
    x, y = case.data()[:2]
    if case.epoch:                  # an epoch case: its step is one batch of the loader's size
        x, y = x[:case.batch_size], y[:case.batch_size]
    if not halve:
        return x, y
    sequences = case.name in ("lstm", "gru")
    return _half(x, rank, 2, sequences), _half(y, rank, 2, False)


def worker_torch(case, args) -> dict:
    import torch
    torch.set_num_threads(2)
    runner = case.build_torch(case.build_chainrule())       # chainrule's starting weights
    x, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in _batch(case, 0, 1, False))
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        runner.train_step(x, y)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    return {"step": 1e3 * statistics.median(times)}


class _Clock:
    """Seconds spent in each phase of the current step, summed over the calls."""

    def __init__(self):
        self.now = dict.fromkeys(PHASES, 0.0)

    def wrap(self, obj, name: str, phase: str):
        original = getattr(obj, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                self.now[phase] += time.perf_counter() - t0
        setattr(obj, name, timed)


class _TimedRequests:
    """The mpi4py module as DDP sees it, with ``Request.Waitall`` and ``Testall`` timed."""

    def __init__(self, mpi, clock: _Clock):
        self._mpi, self._clock = mpi, clock
        outer = self

        class Request:
            @staticmethod
            def Waitall(requests, *a):
                t0 = time.perf_counter()
                try:
                    return mpi.Request.Waitall(requests, *a)
                finally:
                    spent = time.perf_counter() - t0
                    outer._clock.now["all-reduce wait"] += spent
                    outer._clock.now["averaging"] -= spent

            @staticmethod
            def Testall(requests, *a):          # called by the hooks while buckets are under way
                t0 = time.perf_counter()
                try:
                    return mpi.Request.Testall(requests, *a)
                finally:
                    outer._clock.now["hooks: copy + start"] += time.perf_counter() - t0
        self.Request = Request

    def __getattr__(self, name):
        return getattr(self._mpi, name)


def worker_chainrule(case, args, job: str) -> dict:
    import chainrule as cr
    import chainrule.distributed as dist
    from cases import ChainruleRunner
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    cr.manual_seed(0)
    model = case.model(cr.nn)
    clock = _Clock()
    if job == "DDP":
        model = cr.nn.parallel.DistributedDataParallel(model)
        # (the hooks were registered as bound methods: time what they call)
        clock.wrap(model, "_fill", "hooks: copy + start")
        clock.wrap(model, "_start_ready_buckets", "hooks: copy + start")
        clock.wrap(model, "_finish_pass", "averaging")
        clock.wrap(model, "_broadcast_states", "buffer broadcast")
        model._mpi = _TimedRequests(model._mpi, clock)
    runner = ChainruleRunner(case, model)
    x, y = (cr.Tensor(np.ascontiguousarray(a))
            for a in _batch(case, rank, world, job != "whole batch"))
    rows = []
    if world > 1:
        dist.barrier()
    for i in range(args.warmup + args.steps):
        clock.now = dict.fromkeys(PHASES, 0.0)
        t0 = time.perf_counter()
        runner.opt.zero_grad()
        loss = runner.loss_fn(runner.model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        runner.opt.step()
        loss.item()
        t3 = time.perf_counter()
        now = clock.now
        now["forward"] = (t1 - t0) - now["buffer broadcast"]
        now["optimizer"], now["step"] = t3 - t2, t3 - t0
        now["backward work"] = (t2 - t1) - now["hooks: copy + start"] - now["averaging"] \
            - now["all-reduce wait"]
        if i >= args.warmup:
            rows.append(dict(now))
    med = {p: 1e3 * statistics.median(r[p] for r in rows) for p in PHASES}
    mine = {"rank": rank, "phases": med}
    everyone = [None] * world
    dist.all_gather_object(everyone, mine)
    return {"ranks": everyone} if rank == 0 else {}


# ---------------------------------------------------------------------------------- main
def run_job(job: str, case: str, args) -> dict:
    common = [__file__, "--worker", job, "--cases", case, "--steps", str(args.steps),
              "--warmup", str(args.warmup)]
    if job == "torch 2 threads":
        cmd, env = [sys.executable] + common, _env(2)
    elif job in ("1 process", "whole batch"):
        cmd, env = [sys.executable] + common, _env(1 if job == "1 process" else 2)
    else:
        cmd, env = [mpiexec(), "-n", "2", sys.executable] + common, _env(1)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if out.returncode != 0:
        raise SystemExit(f"{job} {case} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median_phases(results: list[dict], rank: int) -> dict:
    return {p: statistics.median(r["ranks"][rank]["phases"][p] for r in results)
            for p in PHASES}


def report(case: str, results: dict[str, list[dict]]) -> dict:
    torch_ms = statistics.median(r["step"] for r in results["torch 2 threads"])
    one = _median_phases(results["1 process"], 0)
    whole = _median_phases(results["whole batch"], 0)
    two = [_median_phases(results["2 processes"], r) for r in (0, 1)]
    ddp = [_median_phases(results["DDP"], r) for r in (0, 1)]
    c = CASES[case]
    print(f"\n{case}: global batch split in two, {c.optimizer[0]} lr {c.optimizer[1]:g}; "
          f"PyTorch 2 threads, whole batch: {torch_ms:.3f} ms per step")
    head = f"{'ms per step':<22}" + "".join(f"{p:>21}" for p in PHASES)
    print(head)
    print("-" * len(head))
    lines = [("2 threads, whole", whole), ("1 process, half", one)]
    lines += [(f"2 processes, rank {r}", two[r]) for r in (0, 1)]
    lines += [(f"DDP, rank {r}", ddp[r]) for r in (0, 1)]
    for name, ph in lines:
        cells = "".join(f"{ph[p]:>21.3f}" if ph[p] or p == "step" or p == "forward"
                        else f"{'-':>21}" for p in PHASES)
        print(f"{name:<22}{cells}")
    floor = max(two[r]["step"] for r in (0, 1))
    step = ddp[0]["step"]
    added = {p: statistics.mean(ddp[r][p] for r in (0, 1))
             for p in ("buffer broadcast", "hooks: copy + start", "all-reduce wait", "averaging")}
    print(f"ratios to PyTorch 2 threads: DDP step {step / torch_ms:.2f}; the slower rank of two "
          f"processes without communication {floor / torch_ms:.2f} (the best any 2-rank "
          f"data-parallel step can reach here); one process on half the batch "
          f"{one['step'] / torch_ms:.2f}")
    print(f"against chainrule's own step on the whole batch with 2 threads: DDP step "
          f"{step / whole['step']:.2f}, two processes without communication "
          f"{floor / whole['step']:.2f}")
    print("what DDP adds per step (mean of the ranks): " + "; ".join(
        f"{p} {v:.3f} ms" for p, v in added.items()))
    return dict(case=case, torch_ms=torch_ms, whole=whole, one=one, two=two, ddp=ddp,
                ratio=step / torch_ms, floor_ratio=floor / torch_ms)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="mlp,mnist_epoch")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--worker", choices=JOBS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        case = CASES[args.cases]
        result = (worker_torch(case, args) if args.worker == "torch 2 threads"
                  else worker_chainrule(case, args, args.worker))
        if result:
            print(json.dumps(result), flush=True)
        return 0
    names = chosen_cases(ap, args.cases)
    print_header(f"rounds={args.rounds} steps={args.steps}")
    rows = []
    for name in names:
        results: dict[str, list[dict]] = {job: [] for job in JOBS}
        for r in range(args.rounds):
            for job in (JOBS if r % 2 == 0 else tuple(reversed(JOBS))):
                results[job].append(run_job(job, name, args))
        rows.append(report(name, results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
