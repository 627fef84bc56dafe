"""Data-parallel training on MPI: chainrule.distributed, DistributedDataParallel,
SyncBatchNorm, DistributedSampler, fit and the command under mpiexec, and the thread count.

Two kinds of tests. In-process ones run the same code as a group of one (no launcher):
collectives return their input, DDP is the plain module, SyncBatchNorm is BatchNorm (and
its backward passes a finite-difference check). The ones marked ``mpi`` launch this file
under ``mpiexec -n 2`` or ``-n 3`` as real jobs: each job runs the scenario functions at
the bottom (``python tests/test_distributed.py SCENARIO ...``), which assert on every rank;
a failed assertion stops the job with the rank named (the uncaught-exception hook of
init_process_group), so the test sees a non-zero exit and the message.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributed as dist
from chainrule import nn, threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.abspath(__file__)


@pytest.fixture(autouse=True)
def _no_group():
    """Every in-process test starts and ends without a process group."""
    dist.destroy_process_group()
    yield
    dist.destroy_process_group()


# ============================================================ a group of one (in process)
def test_without_a_launcher_the_group_has_one_process():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="init_process_group"):
        dist.get_rank()
    dist.init_process_group("mpi")
    assert dist.is_initialized() and (dist.get_rank(), dist.get_world_size()) == (0, 1)
    assert dist.get_backend() == "mpi"
    with pytest.raises(RuntimeError, match="already initialized"):
        dist.init_process_group("mpi")


def test_init_process_group_refuses_other_backends_and_wrong_sizes():
    with pytest.raises(ValueError, match="backend 'nccl' is not available.*backend='mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="world_size=4 was given but MPI says 1"):
        dist.init_process_group("mpi", world_size=4)


def test_a_launcher_without_mpi4py_is_an_error_not_four_lonely_runs(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "4")
    monkeypatch.setenv("PMI_RANK", "2")
    assert dist.launched_by_mpi() == (4, 2)
    monkeypatch.setattr(dist.group, "is_mpi_available", lambda: False)
    with pytest.raises(RuntimeError, match="rank 2 of 4, but mpi4py is not installed.*chainrule\\[mpi\\]"):
        dist.init_process_group("mpi")


def test_collectives_in_a_group_of_one_leave_their_data_as_it_is():
    dist.init_process_group("mpi")
    t = cr.tensor([1.0, -2.0, 3.0])
    version = t._version
    for op in dist.ReduceOp:
        assert dist.all_reduce(t, op=op) is None
    assert t.tolist() == [1.0, -2.0, 3.0] and t._version > version
    work = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
    assert work.wait() is True and work.is_completed()
    parts = [cr.zeros(3)]
    dist.all_gather(parts, t)
    assert parts[0].tolist() == t.tolist()
    out = np.zeros(3, dtype=np.float32)
    dist.reduce_scatter(out, [t])
    assert out.tolist() == t.tolist()
    box = [{"a": 1}]
    dist.broadcast_object_list(box, src=0)
    assert box == [{"a": 1}]
    dist.barrier()


def test_collectives_name_what_is_wrong():
    dist.init_process_group("mpi")
    with pytest.raises(TypeError, match="all_reduce: op must be a chainrule.distributed.ReduceOp"):
        dist.all_reduce(cr.ones(2), op="sum")
    with pytest.raises(TypeError, match="ReduceOp.AVG needs floating-point data, got dtype int64"):
        dist.all_reduce(np.arange(3), op=dist.ReduceOp.AVG)
    with pytest.raises(ValueError, match="broadcast: src must be a rank in \\[0, 1\\), got 3"):
        dist.broadcast(cr.ones(2), src=3)
    with pytest.raises(ValueError, match="tensor_list must hold world_size=1 tensors, got 2"):
        dist.all_gather([cr.ones(2), cr.ones(2)], cr.ones(2))
    with pytest.raises(ValueError, match="tensor_list\\[0\\] has shape \\(3,\\).*expected shape \\(2,\\)"):
        dist.all_gather([cr.ones(3)], cr.ones(2))
    frozen = np.ones(2)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="all_reduce: tensor is read-only"):
        dist.all_reduce(frozen)
    with pytest.raises(TypeError, match="must be a chainrule Tensor or a NumPy array, got list"):
        dist.all_reduce([1.0, 2.0])


def test_ddp_in_a_group_of_one_is_the_module():
    dist.init_process_group("mpi")
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    ddp = nn.parallel.DistributedDataParallel(model)
    x = cr.randn(5, 3)
    np.testing.assert_array_equal(ddp(x).numpy(), model(x).numpy())
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
    with ddp.no_sync():
        assert ddp.require_backward_grad_sync is False
    assert ddp.require_backward_grad_sync is True


def test_ddp_needs_a_group_and_a_module():
    with pytest.raises(ValueError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    dist.init_process_group("mpi")
    with pytest.raises(TypeError, match="module must be a chainrule.nn.Module, got int"):
        nn.parallel.DistributedDataParallel(3)
    with pytest.raises(ValueError, match="bucket_cap_mb must be > 0, got 0"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2), bucket_cap_mb=0)


def test_ddp_buckets_follow_reverse_order_and_the_cap():
    dist.init_process_group("mpi")
    model = nn.Sequential(nn.Linear(512, 512), nn.Linear(512, 512), nn.Linear(512, 10))
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1.0)
    names = {id(p): n for n, p in model.named_parameters()}
    order = [[names[id(p)] for p in b.params] for b in ddp._buckets]
    # 1 MB first bucket (fills once 2.weight, ~1 MB, is in), then 1 MB buckets.
    assert order == [["2.bias", "2.weight", "1.bias", "1.weight"], ["0.bias", "0.weight"]]


def _batchnorm_pair(dtype=np.float64, channels=3):
    bn = nn.BatchNorm2d(channels, dtype=dtype)
    sbn = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(channels, dtype=dtype))
    for m in (bn, sbn):
        m.weight.numpy()[:] = np.arange(1.0, channels + 1)
        m.bias.numpy()[:] = 0.25
    return bn, sbn


def test_sync_batch_norm_backward_passes_gradcheck():
    from chainrule.nn.sync_batchnorm import sync_batch_norm
    dist.init_process_group("mpi")
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((4, 3, 2, 2)) * 2 + 1, requires_grad=True)
    w = cr.tensor(rng.uniform(0.5, 1.5, 3), requires_grad=True)
    b = cr.tensor(rng.standard_normal(3), requires_grad=True)
    assert cr.gradcheck(lambda x, w, b: sync_batch_norm(x, None, None, w, b, 0.1, 1e-5),
                        (x, w, b))


def test_sync_batch_norm_in_one_process_is_batch_norm_with_its_running_statistics(torch):
    from chainrule.nn.sync_batchnorm import sync_batch_norm
    dist.init_process_group("mpi")
    rng = np.random.default_rng(1)
    data = rng.standard_normal((6, 3, 4, 4)) * 3 - 2
    bn, sbn = _batchnorm_pair()
    assert type(sbn) is nn.SyncBatchNorm and sbn.weight.shape == (3,)
    x1, x2 = cr.tensor(data, requires_grad=True), cr.tensor(data, requires_grad=True)
    y1 = bn(x1)
    y2 = sync_batch_norm(x2, sbn.running_mean, sbn.running_var, sbn.weight, sbn.bias, 0.1, 1e-5)
    g = rng.standard_normal(data.shape)
    (y1 * cr.tensor(g)).sum().backward()
    (y2 * cr.tensor(g)).sum().backward()
    np.testing.assert_allclose(y2.numpy(), y1.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x2.grad.numpy(), x1.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sbn.weight.grad.numpy(), bn.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(sbn.running_var.numpy(), bn.running_var.numpy(), rtol=1e-12)
    tbn = torch.nn.BatchNorm2d(3, dtype=torch.float64)
    with torch.no_grad():
        tbn.weight.copy_(torch.arange(1.0, 4.0))
        tbn.bias.fill_(0.25)
    np.testing.assert_allclose(y2.numpy(), tbn(torch.from_numpy(data)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)


def test_convert_sync_batchnorm_keeps_parameters_buffers_and_mode():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Sequential(nn.BatchNorm1d(4)))
    weight, mean = model[1].weight, model[1].running_mean
    model[2].eval()
    out = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert type(out[1]) is nn.SyncBatchNorm and type(out[2][0]) is nn.SyncBatchNorm
    assert out[1].weight is weight and out[1].running_mean is mean
    assert out[2][0].training is False and out[1].training is True
    assert type(out[0]) is nn.Conv2d


def _sampler_shares(n: int, world: int, **kw) -> list[list[int]]:
    return [list(cr.data.DistributedSampler(range(n), num_replicas=world, rank=r, **kw))
            for r in range(world)]


@pytest.mark.parametrize("n", [12, 13, 14])
@pytest.mark.parametrize("shuffle", [True, False])
def test_distributed_sampler_deals_every_index_once(n, shuffle):
    world = 3
    shares = _sampler_shares(n, world, shuffle=shuffle, seed=5)
    assert len({len(s) for s in shares}) == 1 and len(shares[0]) == -(-n // world)
    seen = sorted(i for s in shares for i in s)
    assert sorted(set(seen)) == list(range(n))          # every index at least once
    assert len(seen) - n == (-n) % world                 # and only the padding twice
    dropped = _sampler_shares(n, world, shuffle=shuffle, seed=5, drop_last=True)
    flat = [i for s in dropped for i in s]
    assert len(flat) == len(set(flat)) == n // world * world
    assert len(cr.data.DistributedSampler(range(n), world, 0, drop_last=True)) == n // world


def test_distributed_sampler_orders_by_seed_and_epoch():
    s = cr.data.DistributedSampler(range(50), num_replicas=2, rank=1, seed=3)
    first = list(s)
    assert list(s) == first                              # same epoch: same order
    s.set_epoch(1)
    assert list(s) != first
    s.set_epoch(0)
    assert list(s) == first
    with pytest.raises(ValueError, match="invalid rank 2, rank should be in the interval \\[0, 1\\]"):
        cr.data.DistributedSampler(range(5), num_replicas=2, rank=2)
    assert len(cr.data.DistributedSampler(range(5))) == 5          # no group: one replica


def test_dataloader_takes_its_fast_path_with_a_distributed_sampler():
    x = np.arange(20, dtype=np.float32)
    ds = cr.data.TensorDataset(x, x)
    sampler = cr.data.DistributedSampler(ds, num_replicas=2, rank=0, seed=1)
    loader = cr.data.DataLoader(ds, batch_size=4, sampler=sampler)
    assert loader._index_batches() is not None
    got = np.concatenate([xb for xb, _ in loader])
    np.testing.assert_array_equal(got, x[sampler.indices()])


# ------------------------------------------------------------------------------- threads
def test_cgroup_quota_is_read_from_v2_and_v1_files(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_cpu_limit(str(tmp_path)) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(str(tmp_path)) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("50000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert threads.cgroup_cpu_limit(str(v1)) == 0.5
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert threads.cgroup_cpu_limit(str(v1)) is None


def test_busy_ticks_count_only_the_given_cpus_and_not_idle_time(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  9 9 9 9 9 9 9 9 0 0\n"
                    "cpu0 10 1 5 100 7 1 1 2 0 0\n"
                    "cpu1 20 0 0 50 0 0 0 0 0 0\n"
                    "intr 12345\n")
    from chainrule.threads import _cpu_busy_ticks
    assert _cpu_busy_ticks({0}, str(stat)) == 10 + 1 + 5 + 1 + 1 + 2     # not idle, not iowait
    assert _cpu_busy_ticks({0, 1}, str(stat)) == 20 + 20


def test_usable_cpus_takes_the_smallest_limit(monkeypatch):
    monkeypatch.setattr(threads, "affinity_cpus", lambda: {0, 1, 2, 3})
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda root="": 2.5)
    assert threads.usable_cpus(busy=0.0) == 2          # quota 2.5 -> 2
    assert threads.usable_cpus(busy=0.6) == 1          # a busy core elsewhere
    assert threads.usable_cpus(busy=3.9) == 1          # never below one
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda root="": None)
    assert threads.usable_cpus(busy=0.4) == 4


def test_fit_threads_lowers_never_raises_and_respects_the_users_choice(monkeypatch):
    applied = []
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads, "_explicit", None)
    monkeypatch.setattr(threads, "_fitted", None)
    monkeypatch.setattr(threads, "_measured", False)
    monkeypatch.setattr(threads, "measured_busy", None)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 0.25)
    monkeypatch.setattr(threads, "usable_cpus", lambda busy=None: 4)
    monkeypatch.setattr(threads, "_blas_threads", lambda: 2)
    monkeypatch.setattr(threads, "_limit_blas", lambda n: applied.append(n) or True)
    assert threads.fit_threads(ranks_sharing=1) == 2 and applied == [2]   # BLAS had 2: kept
    assert threads.measured_busy == 0.25
    assert threads.fit_threads() == 2 and applied == [2]                  # measured once
    monkeypatch.setattr(threads, "_measured", False)
    assert threads.fit_threads(ranks_sharing=4) == 1 and applied[-1] == 1
    assert threads.pool_size() == 1
    monkeypatch.setattr(threads, "_measured", False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.user_chose_threads() and threads.pool_size() == 3
    threads.fit_threads()
    assert applied[-1] == 1                                               # untouched
    with pytest.raises(ValueError, match="ranks_sharing must be a positive int, got 0"):
        threads.fit_threads(ranks_sharing=0)


def test_set_num_threads_is_an_explicit_choice(monkeypatch):
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_info, threadpool_limits
    monkeypatch.setattr(threads, "_explicit", None)
    before = threadpool_info()
    try:
        cr.set_num_threads(1)
        assert cr.get_num_threads() == 1 and threads.user_chose_threads()
        assert all(lib["num_threads"] == 1 for lib in threadpool_info() if lib["user_api"] == "blas")
    finally:
        for lib in before:
            if lib["user_api"] == "blas":
                threadpool_limits(lib["num_threads"], user_api="blas")
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        cr.set_num_threads(0)


# ==================================================================== real MPI jobs
def _mpiexec() -> str | None:
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


def _job(n: int, *args: str, timeout: float = 120, cwd: str | None = None,
         module: bool = False) -> subprocess.CompletedProcess:
    """Run ``python tests/test_distributed.py ARGS`` (or ``python -m chainrule ARGS``) on
    ``n`` MPI processes, with this checkout first on the import path."""
    pytest.importorskip("mpi4py")
    launcher = _mpiexec()
    if launcher is None:
        pytest.skip("mpiexec not found (pip install 'chainrule[mpi]')")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    target = ["-m", "chainrule"] if module else [HERE]
    return subprocess.run([launcher, "-n", str(n), sys.executable, *target, *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.mpi
def test_on_three_ranks_collectives_sampler_syncbn_and_ddp_equal_their_single_process_sums():
    out = _ok(_job(3, "collectives", "sampler", "syncbn", "ddp"))
    assert out.count("collectives ok") == 3 and out.count("ddp ok") == 3


@pytest.mark.mpi
def test_on_two_ranks_ddp_trains_an_mlp_and_a_cnn_as_one_process_on_the_global_batch():
    out = _ok(_job(2, "ddp", "no_sync", "unused"))
    assert out.count("ddp ok") == 2 and out.count("unused ok") == 2


@pytest.mark.mpi
def test_a_rank_killed_with_sigkill_ends_the_job_within_30_seconds():
    t0 = time.perf_counter()
    result = _job(2, "fail", "kill", timeout=60)
    assert result.returncode != 0
    assert time.perf_counter() - t0 < 30


@pytest.mark.mpi
def test_a_rank_that_raises_ends_the_job_with_one_line_naming_it():
    result = _job(2, "fail", "raise", timeout=120)   # the timeout catches a hang, not slowness
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if "ending every rank" in ln]
    assert lines == ["chainrule.distributed: rank 1 of 2 stopped with RuntimeError: disk full "
                     "on rank 1; ending every rank"], result.stderr
    assert "Abort(" not in result.stderr          # MPICH's own line is kept out


@pytest.mark.mpi
def test_resuming_a_two_rank_run_equals_the_uninterrupted_one(tmp_path):
    _ok(_job(2, "fit", str(tmp_path / "whole"), "4", str(tmp_path / "half"), "2"))
    _ok(_job(2, "fit", str(tmp_path / "half"), "4", "resume"))
    whole = np.load(tmp_path / "whole" / "final.npy")
    resumed = np.load(tmp_path / "half" / "final.npy")
    np.testing.assert_array_equal(resumed, whole)
    history = [json.loads((tmp_path / d / "history.json").read_text()) for d in ("whole", "half")]
    assert history[0] == history[1] and len(history[0]["epoch"]) == 4
    rows = (tmp_path / "half" / "log.csv").read_text().splitlines()
    assert len(rows) == 5                         # one header, one row per epoch: rank 0 wrote


@pytest.mark.mpi
def test_the_command_trains_under_mpiexec_and_rank_0_alone_writes(tmp_path):
    out = _ok(_job(2, "train", "--data", "xor", "--epochs", "2", "--out", str(tmp_path / "run"),
                   module=True, cwd=str(tmp_path)))
    assert "data parallel: 2 processes x 16 samples = global batch 32" in out
    assert out.count("Epoch 1/2") == 1 and out.count("test set") == 1
    for name in ("best.ckpt", "last.ckpt", "history.csv", "config.json", "test_metrics.json"):
        assert (tmp_path / "run" / name).is_file()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["world_size"] == 2
    # Stopped after one epoch and resumed on two ranks: the uninterrupted run, bit for bit
    # (the checkpoint's config, world_size and rank_rng_states included, passes its schema).
    _ok(_job(2, "train", "--data", "xor", "--epochs", "1", "--out", str(tmp_path / "half"),
             "--quiet", module=True, cwd=str(tmp_path)))
    out = _ok(_job(2, "train", "--resume", str(tmp_path / "half"), "--epochs", "2",
                   module=True, cwd=str(tmp_path)))
    assert out.count("resuming") == 1 and out.count("Epoch 2/2") == 1
    whole, resumed = (cr.train.read_checkpoint(tmp_path / d / "last.ckpt") for d in ("run", "half"))
    assert len(resumed["rank_rng_states"]) == 2 and resumed["history"] == whole["history"]
    for key in whole["model"]:
        np.testing.assert_array_equal(resumed["model"][key], whole["model"][key])
    assert not (tmp_path / "half" / ".chainrule.lock").exists()
    # Resumed in one process: allowed, and said not to be bit-exact (each rank's data differs).
    one = subprocess.run([sys.executable, "-m", "chainrule", "train", "--resume",
                          str(tmp_path / "run"), "--epochs", "3"], cwd=str(tmp_path),
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert one.returncode == 0, one.stderr
    assert "trained on 2 process(es) and goes on on 1" in one.stdout, one.stdout
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["world_size"] == 1
    # Starting from the finished run's weights: what was taken is said once, not once per rank.
    out = _ok(_job(2, "train", "--data", "xor", "--epochs", "1", "--init-from",
                   str(tmp_path / "run"), "--out", str(tmp_path / "t"), "--quiet", module=True,
                   cwd=str(tmp_path)))
    assert out.count("--init-from") == 1 and "took 6 of 6 tensors" in out, out
    bad = _job(2, "train", "--data", "xor", "--batch-size", "33", "--out", str(tmp_path / "b"),
               module=True, cwd=str(tmp_path))
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "chainrule: error: rank 0 of 2: --batch-size 33 (the global batch) must split evenly "
        "over the 2 processes; use 32 or 34"]


# ================================================= the scenarios, run inside the jobs
def _per_rank(rank: int, shape, dtype, salt: int = 0) -> np.ndarray:
    """Rank ``rank``'s input: every rank can rebuild every other rank's."""
    rng = np.random.default_rng(1000 * rank + salt)
    if np.dtype(dtype).kind == "i":
        return rng.integers(-50, 50, shape).astype(dtype)
    return rng.uniform(0.5, 1.5, shape).astype(dtype)


def scenario_collectives() -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    shape = (4, 5)
    for dtype in (np.float32, np.float64, np.int64):
        everyone = np.stack([_per_rank(r, shape, dtype) for r in range(world)])
        expected = {dist.ReduceOp.SUM: everyone.sum(0), dist.ReduceOp.MAX: everyone.max(0),
                    dist.ReduceOp.MIN: everyone.min(0), dist.ReduceOp.PRODUCT: everyone.prod(0)}
        if dtype != np.int64:
            expected[dist.ReduceOp.AVG] = everyone.sum(0) / world
        for op, want in expected.items():
            for as_tensor in (False, True):
                for async_op in (False, True):
                    mine = _per_rank(rank, shape, dtype)
                    data = cr.Tensor(mine) if as_tensor else mine
                    work = dist.all_reduce(data, op=op, async_op=async_op)
                    if async_op:
                        work.wait()
                    np.testing.assert_allclose(mine, want, rtol=1e-6, err_msg=f"{op} {dtype}")
            transposed = _per_rank(rank, shape, dtype).T      # not contiguous: copied back
            dist.all_reduce(transposed, op=op)
            np.testing.assert_allclose(transposed, want.T, rtol=1e-6)
        # broadcast from the last rank
        data = cr.Tensor(_per_rank(rank, shape, dtype))
        dist.broadcast(data, src=world - 1)
        np.testing.assert_array_equal(data.numpy(), everyone[-1])
        work = dist.broadcast(mine := _per_rank(rank, shape, dtype), src=1, async_op=True)
        work.wait()
        np.testing.assert_array_equal(mine, everyone[1])
        # all_gather, list form and one tensor
        for async_op in (False, True):
            parts = [cr.zeros(*shape, dtype=dtype) for _ in range(world)]
            work = dist.all_gather(parts, cr.Tensor(_per_rank(rank, shape, dtype)), async_op=async_op)
            if async_op:
                assert work.wait()
            for r in range(world):
                np.testing.assert_array_equal(parts[r].numpy(), everyone[r])
        flat = np.zeros((world * shape[0], shape[1]), dtype=dtype)
        dist.all_gather_into_tensor(flat, _per_rank(rank, shape, dtype))
        np.testing.assert_array_equal(flat, everyone.reshape(flat.shape))
        # reduce_scatter: rank r's list element i is _per_rank(r, ..., salt=i)
        pieces = np.stack([np.stack([_per_rank(r, shape, dtype, salt=i) for i in range(world)])
                           for r in range(world)])                   # (sender, slot, ...)
        for async_op in (False, True):
            out = np.zeros(shape, dtype=dtype)
            work = dist.reduce_scatter(out, [_per_rank(rank, shape, dtype, salt=i)
                                             for i in range(world)], async_op=async_op)
            if async_op:
                work.wait()
            np.testing.assert_allclose(out, pieces[:, rank].sum(0), rtol=1e-6)
        out = cr.zeros(*shape, dtype=dtype)
        dist.reduce_scatter_tensor(out, np.ascontiguousarray(pieces[rank]), op=dist.ReduceOp.MAX)
        np.testing.assert_array_equal(out.numpy(), pieces[:, rank].max(0))
    names = [None] * world
    dist.all_gather_object(names, {"rank": rank})
    assert names == [{"rank": r} for r in range(world)]
    box = [rank, "x"] if rank == 0 else [None, None]
    dist.broadcast_object_list(box, src=0)
    assert box == [0, "x"]
    work = dist.barrier(async_op=True)
    while not work.is_completed():
        pass
    print(f"collectives ok {rank}", flush=True)


def scenario_sampler() -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    for n in (30, 31, 32):
        for drop_last in (False, True):
            sampler = cr.data.DistributedSampler(range(n), shuffle=True, seed=7, drop_last=drop_last)
            assert sampler.num_replicas == world and sampler.rank == rank
            for epoch in (1, 2):
                sampler.set_epoch(epoch)
                shares = [None] * world
                dist.all_gather_object(shares, list(sampler))
                flat = [i for s in shares for i in s]
                assert len({len(s) for s in shares}) == 1
                if drop_last:
                    assert len(flat) == len(set(flat)) == n // world * world
                else:
                    assert sorted(set(flat)) == list(range(n)) and len(flat) == -(-n // world) * world
                    if n % world == 0:
                        assert sorted(flat) == list(range(n))       # exactly once each


def scenario_syncbn() -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    sizes = [3, 5, 4, 2][:world]                        # uneven shares of the global batch
    rng = np.random.default_rng(0)
    data = rng.standard_normal((sum(sizes), 4, 3, 3)) * 2 + 1
    g = rng.standard_normal(data.shape)
    lo, hi = sum(sizes[:rank]), sum(sizes[:rank + 1])
    bn, sbn = _batchnorm_pair(channels=4)
    for step in range(2):                               # twice: running statistics too
        x = cr.tensor(data[lo:hi] + step, requires_grad=True)
        y = sbn(x)
        (y * cr.tensor(g[lo:hi])).sum().backward()
        ref_x = cr.tensor(data + step, requires_grad=True)
        ref = bn(ref_x)
        (ref * cr.tensor(g)).sum().backward()
        np.testing.assert_allclose(y.numpy(), ref.numpy()[lo:hi], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy()[lo:hi], rtol=1e-9, atol=1e-12)
        for name in ("weight", "bias"):
            total = getattr(sbn, name).grad.numpy().copy()
            dist.all_reduce(total)                      # each rank holds its share's sum
            np.testing.assert_allclose(total, getattr(bn, name).grad.numpy(), rtol=1e-10)
            setattr(getattr(sbn, name), "grad", None)
            setattr(getattr(bn, name), "grad", None)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_allclose(getattr(sbn, name).numpy(), getattr(bn, name).numpy(), rtol=1e-12)
    sbn.eval()
    bn.eval()
    np.testing.assert_allclose(sbn(cr.tensor(data[lo:hi])).numpy(), bn(cr.tensor(data[lo:hi])).numpy())


def _mlp():
    return nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 3))


def scenario_ddp() -> None:
    """20 SGD steps (momentum, weight decay) of DDP on 12 samples per step, split over the
    ranks, equal the same steps in one process on the global batch; with the gradients as
    views into the buckets too."""
    rank, world = dist.get_rank(), dist.get_world_size()
    per = 12 // world
    for (build, shape, cap), as_view in itertools.product(
            ((_mlp, (12,), 0.002), (_cnn, (1, 8, 8), None)), (False, True)):
        cr.manual_seed(100 + rank)                      # different starts: DDP broadcasts
        model = build()
        ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=cap,
                                                  gradient_as_bucket_view=as_view)
        if cap is not None:
            assert len(ddp._buckets) > 1
        cr.manual_seed(100)
        reference = build()                             # rank 0's start
        rng = np.random.default_rng(7)
        opts = [cr.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
                for m in (model, reference)]
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(20):
            x = rng.standard_normal((12,) + shape).astype(np.float32)
            y = rng.integers(0, 3, 12)
            part = slice(rank * per, (rank + 1) * per)
            for net, xs, ys, opt in ((ddp, x[part], y[part], opts[0]), (reference, x, y, opts[1])):
                opt.zero_grad()
                loss_fn(net(cr.tensor(xs)), cr.tensor(ys)).backward()
                opt.step()
        for (name, p), q in zip(model.named_parameters(), reference.parameters()):
            np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
            in_bucket = any(np.shares_memory(p.grad._array, b.flat) for b in ddp._buckets)
            assert in_bucket == as_view, name
    print(f"ddp ok {rank}", flush=True)


def scenario_no_sync() -> None:
    """Two micro-batches, the first under no_sync: the averaged gradient of their sum; also
    with the gradients as bucket views, zeroed in place (so the local sums land in the
    buckets themselves)."""
    for as_view in (False, True):
        _no_sync(as_view)


def _no_sync(as_view: bool) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    cr.manual_seed(3)
    model, reference = _mlp(), _mlp()
    reference.load_state_dict(model.state_dict())
    ddp = nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=as_view)
    rng = np.random.default_rng(11)
    batches = [(rng.standard_normal((4 * world, 12)).astype(np.float32), rng.integers(0, 3, 4 * world))
               for _ in range(2)]
    loss_fn = nn.CrossEntropyLoss()
    if as_view:                             # a first synchronised step makes .grad the views
        ddp(cr.tensor(batches[0][0][:4])).sum().backward()
        model.zero_grad(set_to_none=False)
        assert all(float(np.abs(p.grad.numpy()).max()) == 0 for p in model.parameters())
    with ddp.no_sync():
        x, y = batches[0]
        loss_fn(ddp(cr.tensor(x[4 * rank:4 * rank + 4])), cr.tensor(y[4 * rank:4 * rank + 4])).backward()
    local = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    everyone = [None] * world
    dist.all_gather_object(everyone, local)
    assert any(not np.allclose(everyone[0][n], everyone[-1][n]) for n in local)   # not averaged
    x, y = batches[1]
    loss_fn(ddp(cr.tensor(x[4 * rank:4 * rank + 4])), cr.tensor(y[4 * rank:4 * rank + 4])).backward()
    for x, y in batches:
        loss_fn(reference(cr.tensor(x)), cr.tensor(y)).backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7, err_msg=name)


class _Branches(nn.Module):
    """``shared`` always; ``left`` only on rank 0; ``right`` never."""

    def __init__(self):
        super().__init__()
        self.shared, self.left, self.right = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x, use_left: bool):
        h = self.shared(x)
        return self.left(h) if use_left else h


def scenario_unused() -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    cr.manual_seed(5)
    model = _Branches()
    ddp = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    x = cr.tensor(np.full((2, 4), rank + 1.0, dtype=np.float32))
    ddp(x, use_left=rank == 0).sum().backward()
    assert model.right.weight.grad is None                  # unused everywhere: untouched
    left = model.left.weight.grad.numpy()                      # used on rank 0 only
    mine = np.zeros_like(left)
    if rank == 0:
        probe = _Branches()
        probe.load_state_dict(model.state_dict())
        probe(x, use_left=True).sum().backward()
        mine = probe.left.weight.grad.numpy()
    total = mine.copy()
    dist.all_reduce(total)
    np.testing.assert_allclose(left, total / world, rtol=1e-6)
    strict = nn.parallel.DistributedDataParallel(_Branches())
    try:
        strict(x, use_left=False).sum().backward()
    except RuntimeError as e:
        assert "received no gradient" in str(e) and "find_unused_parameters=True" in str(e), e
    else:
        raise AssertionError("an unused parameter without find_unused_parameters must fail")
    print(f"unused ok {rank}", flush=True)


def scenario_fit(out: str, epochs: str, *rest: str) -> None:
    """Train a small MLP with dropout (per-rank random streams) through fit, with a
    checkpoint and a CSV log; ``rest``: "resume", or a second (folder, epochs) to train
    from scratch too."""
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((203, 10)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    data = cr.data.TensorDataset(x, y)
    resume = rest[:1] == ("resume",)
    cr.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(
        nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2)))
    cr.manual_seed(1 + rank)
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    loader = cr.data.DataLoader(data, batch_size=16, sampler=cr.data.DistributedSampler(data, seed=3))
    val = cr.data.DataLoader(cr.data.Subset(data, range(rank, len(data), world)), batch_size=64)
    history = cr.train.fit(
        model, nn.CrossEntropyLoss(), opt, loader, int(epochs), val_loader=val, verbose=0,
        callbacks=[cr.train.ModelCheckpoint(out, monitor="val_loss"),
                   cr.train.CSVLogger(os.path.join(out, "log.csv"), append=resume)],
        resume=os.path.join(out, "last.ckpt") if resume else None)
    if rank == 0:
        np.save(os.path.join(out, "final.npy"),
                np.concatenate([p.numpy().ravel() for p in model.parameters()]))
        history.to_json(os.path.join(out, "history.json"))
    if rest and not resume:
        scenario_fit(*rest)


def scenario_fail(how: str) -> None:
    """Rank 1 dies (SIGKILL) or raises at step 5 of a long fit; rank 0 is then waiting for
    it inside DistributedDataParallel's all-reduce."""
    rank = dist.get_rank()
    x = np.random.default_rng(0).standard_normal((4000, 10)).astype(np.float32)
    data = cr.data.TensorDataset(x, (x[:, 0] > 0).astype(np.int64))
    model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(10, 8), nn.Linear(8, 2)))

    def fail(state):
        if rank == 1 and state.global_step == 5:
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("disk full on rank 1")
    loader = cr.data.DataLoader(data, batch_size=8, sampler=cr.data.DistributedSampler(data))
    cr.train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1), loader,
                 100, verbose=0, callbacks=[cr.train.LambdaCallback(on_batch_end=fail)])


def _run_scenarios(argv: list[str]) -> None:
    dist.init_process_group("mpi")
    scenarios = {name[len("scenario_"):]: fn for name, fn in globals().items()
                 if name.startswith("scenario_")}
    if argv[0] in ("fit", "fail"):
        scenarios[argv[0]](*argv[1:])
        return
    for name in argv:
        scenarios[name]()


if __name__ == "__main__":
    _run_scenarios(sys.argv[1:])
