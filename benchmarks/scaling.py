"""Past this machine, on paper: the all-reduce cost model fitted to measurements on 2 and 3
ranks here, checked against measured data-parallel steps, and the step time and efficiency
it predicts for 8-256 ranks for the MNIST MLP (the default `chainrule train` model,
784-256-128-10) and LeNet (benchmarks/cases.py).

    python3 benchmarks/scaling.py                               # measure here, then predict
    python3 benchmarks/scaling.py --alpha-us 25 --beta-gbs 1.1  # predict for another network

The model (MPICH's all-reduce for large messages, Rabenseifner: a reduce-scatter then an
all-gather, each log2(p) rounds; the recursive doubling it uses for small messages costs
the same number of latencies):

    t_allreduce(p, n) = 2 ceil(log2 p) alpha + 2 (p - 1) / p * n / beta

alpha: the latency of one message round, beta: the bandwidth at which a rank's gradient
bytes are sent and summed. On 2 ranks this is 2 alpha + n / beta: a straight line in the
message size n, fitted by least squares on relative errors to the fastest of the repeats
of MPI_Allreduce (float32, in place) at 2^0 .. 2^22 values. The 3-rank measurements are then compared with
what the 2-rank fit predicts for 3 ranks.

A data-parallel step on p ranks with b samples each is then predicted as

    T(p, b) = T_compute(b) + T_copy(n) + t_allreduce(p, n)

T_compute(b): the single-process step (1 BLAS thread) at batch b, fitted as c0 + c1 b from
measurements; T_copy(n): DistributedDataParallel's two passes over the gradients (into the
buckets, and back divided by p), measured. No overlap of communication with the backward
is assumed (on shared memory the ranks' own cores do the summing, so there is none to
gain; across a network some of t_allreduce would hide behind the backward). The model is
checked against measured 2- and 3-rank steps before it predicts.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from data_parallel import mpiexec  # noqa: E402

MODELS = ("mnist_mlp", "lenet")
INPUT = {"mnist_mlp": (1, 28, 28), "lenet": (1, 28, 28)}
BATCHES = (8, 16, 32, 64, 128, 256)
RANKS = (8, 16, 32, 64, 128, 256)


def _build(name: str, nn):
    from cases import lenet, mnist_mlp
    return {"mnist_mlp": mnist_mlp, "lenet": lenet}[name](nn)


def _fastest_step(model, x, y, repeats: int, inner: int) -> float:
    """Seconds of the fastest of ``repeats`` blocks of ``inner`` SGD steps."""
    import chainrule as cr
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = cr.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    for _ in range(3):
        step()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            step()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def _batch(name: str, b: int, seed: int = 0):
    import chainrule as cr
    rng = np.random.default_rng(seed)
    return (cr.Tensor(rng.standard_normal((b,) + INPUT[name]).astype(np.float32)),
            cr.Tensor(rng.integers(0, 10, b)))


# ------------------------------------------------------------------------------ workers
def worker_allreduce(args) -> None:
    """Fastest and median time of MPI_Allreduce (float32, in place) per message size."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    sizes, fastest, median = [], [], []
    for k in range(0, 23):
        n = 1 << k
        buf = np.ones(n, dtype=np.float32)
        reps = max(30, min(400, (1 << 24) // max(n, 1) // 8))
        for _ in range(3):
            comm.Allreduce(MPI.IN_PLACE, buf)
        times = []
        for _ in range(reps):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf)
            times.append(time.perf_counter() - t0)
        worst = comm.allreduce(min(times), op=MPI.MAX)     # a collective ends on the slowest
        sizes.append(4 * n)
        fastest.append(worst)
        median.append(comm.allreduce(float(np.median(times)), op=MPI.MAX))
    if comm.rank == 0:
        print(json.dumps({"bytes": sizes, "fastest": fastest, "median": median}))


def worker_ddp_step(args) -> None:
    """The fastest data-parallel step of each model at per-rank batch ``args.batch``."""
    import chainrule as cr
    import chainrule.distributed as dist
    dist.init_process_group("mpi")
    out = {}
    for name in MODELS:
        cr.manual_seed(0)
        model = cr.nn.parallel.DistributedDataParallel(_build(name, cr.nn))
        x, y = _batch(name, args.batch, seed=dist.get_rank())
        everyone = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, _fastest_step(model, x, y, args.repeats, 10))
        out[name] = max(everyone)       # the ranks wait for each other: the slowest counts
    if dist.get_rank() == 0:
        print(json.dumps(out))


def _launch(n: int, *extra: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([mpiexec(), "-n", str(n), sys.executable, __file__, *extra],
                         capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"{n}-rank job failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------- model
def fit_line(x, y) -> tuple[float, float]:
    """Intercept and slope of a line through (x, y) by least squares on the *relative*
    errors (so the small sizes, which fix the intercept, weigh as much as the large ones,
    which fix the slope); both kept >= 0."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    design = np.stack([1 / y, x / y], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    if intercept < 0:           # a line through the origin
        intercept, slope = 0.0, float(np.sum(x * y / y ** 2) / np.sum(x * x / y ** 2))
    return float(intercept), float(max(slope, 0.0))


def t_allreduce(p: int, n_bytes: float, alpha: float, beta: float) -> float:
    if p == 1:
        return 0.0
    return 2 * math.ceil(math.log2(p)) * alpha + 2 * (p - 1) / p * n_bytes / beta


def copy_seconds(n_values: int, repeats: int = 20) -> float:
    """DDP's two passes over the gradients: copy into the bucket, divide back."""
    grad = np.ones(n_values, dtype=np.float32)
    bucket = np.empty_like(grad)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(bucket, grad)
        np.divide(bucket, 2, out=grad)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alpha-us", type=float, help="predict with this latency (us) instead "
                    "of measuring the all-reduce here")
    ap.add_argument("--beta-gbs", type=float, help="and this bandwidth (GB/s)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--global-batch", type=int, default=2048,
                    help="the global batch of the strong-scaling table")
    ap.add_argument("--worker", choices=("allreduce", "ddp-step"), help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker == "allreduce":
        worker_allreduce(args)
        return 0
    if args.worker == "ddp-step":
        worker_ddp_step(args)
        return 0
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    import chainrule as cr
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {os.cpu_count()} cores  load average "
          f"{os.getloadavg()[0]:.2f}")
    if args.alpha_us is None:
        runs = {p: _launch(p, "--worker", "allreduce") for p in (2, 3)}
        two = runs[2]
        a, slope = fit_line(two["bytes"], two["fastest"])
        alpha, beta = a / 2, 1 / slope
        print(f"all-reduce fit on 2 ranks (fastest of the repeats, 4 B .. 16 MB): "
              f"t = {a * 1e6:.1f} us + n / {1 / slope / 1e9:.2f} GB/s  ->  alpha = "
              f"{alpha * 1e6:.1f} us, beta = {beta / 1e9:.2f} GB/s")
        print(f"{'bytes':>10} {'2 ranks us':>11} {'fit':>8} {'3 ranks us':>11} {'model':>8}")
        for i, n in enumerate(two["bytes"]):
            if i % 2 == 0 or n >= 1 << 20:
                print(f"{n:>10} {two['fastest'][i] * 1e6:>11.1f} "
                      f"{t_allreduce(2, n, alpha, beta) * 1e6:>8.1f} "
                      f"{runs[3]['fastest'][i] * 1e6:>11.1f} "
                      f"{t_allreduce(3, n, alpha, beta) * 1e6:>8.1f}")
    else:
        if args.beta_gbs is None:
            ap.error("--alpha-us needs --beta-gbs")
        alpha, beta = args.alpha_us * 1e-6, args.beta_gbs * 1e9
        print(f"given: alpha = {args.alpha_us} us, beta = {args.beta_gbs} GB/s")
    compute = {}
    for name in MODELS:
        cr.manual_seed(0)
        model = _build(name, cr.nn)
        n_params = sum(p.numel() for p in model.parameters())
        times = [_fastest_step(model, *_batch(name, b), args.repeats, 5) for b in BATCHES]
        c0, c1 = fit_line(BATCHES, times)
        compute[name] = (c0, c1, n_params, copy_seconds(n_params))
        print(f"{name}: {n_params:,} parameters ({4 * n_params / 2 ** 20:.2f} MiB of gradients); "
              f"1-thread step = {c0 * 1e3:.2f} ms + {c1 * 1e6:.1f} us x batch (measured "
              + ", ".join(f"{b}: {t * 1e3:.2f}" for b, t in zip(BATCHES, times))
              + f" ms); gradient copies {compute[name][3] * 1e3:.3f} ms")

    def predict(name, p, b):
        c0, c1, n, copies = compute[name]
        comm = t_allreduce(p, 4 * n, alpha, beta) + (copies if p > 1 else 0.0)
        return c0 + c1 * b + comm

    if args.alpha_us is None:
        for p in (2, 3):
            measured = _launch(p, "--worker", "ddp-step", "--batch", "64")
            print(f"check, {p} ranks x 64 samples: measured " + ", ".join(
                f"{name} {measured[name] * 1e3:.2f} ms (model {predict(name, p, 64) * 1e3:.2f})"
                for name in MODELS))
    for name in MODELS:
        b = 64
        print(f"\n{name}, weak scaling ({b} samples per rank): step ms / efficiency "
              f"(samples/s per rank against one process at batch {b})")
        base = predict(name, 1, b)
        print("  " + "  ".join(f"{p:>4}: {predict(name, p, b) * 1e3:6.2f} ms {base / predict(name, p, b):4.0%}"
                               for p in RANKS))
        B = args.global_batch
        print(f"{name}, strong scaling (global batch {B}): step ms / speed-up / efficiency")
        one = predict(name, 1, B)
        print("  " + "  ".join(
            f"{p:>4}: {predict(name, p, B / p) * 1e3:6.2f} ms {one / predict(name, p, B / p):5.1f}x "
            f"{one / predict(name, p, B / p) / p:4.0%}" for p in RANKS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
