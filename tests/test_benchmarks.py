"""The benchmark scripts run end to end on the smallest case (their figures are not checked
here: timing belongs in benchmarks/README.md, not in a test)."""
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def _run(*args) -> str:
    out = subprocess.run([sys.executable, *args], cwd=BENCH, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_run_py_checks_agreement_and_prints_a_verdict():
    pytest.importorskip("torch")
    text = _run("run.py", "--cases", "xor", "--repeats", "2", "--warmup", "1", "--no-memory",
                "--settle", "0.01")
    row = [line for line in text.splitlines() if line.startswith("xor")]
    assert len(row) == 1
    assert "agree over 3 steps" in row[0] and "target <= 0.3:" in row[0]


def test_breakdown_splits_the_xor_step():
    text = _run("breakdown.py", "xor", "--calls", "20", "--repeats", "1", "--count-calls")
    for part in ("whole step", "NumPy floor", "forward", "backward", "optimizer.step",
                 "engine overhead"):
        assert part in text
    assert "Python functions" in text


def test_breakdown_puts_the_mlp_step_next_to_its_products():
    text = _run("breakdown.py", "mlp", "--repeats", "1", "--threads", "1")
    for part in ("BLAS products (NumPy)", "chainrule forward", "chainrule backward",
                 "chainrule optimizer.step", "chainrule step"):
        assert part in text


def test_breakdown_times_each_rule_inside_a_case_step():
    text = _run("breakdown.py", "ops", "--of", "lenet", "--steps", "1", "--threads", "1")
    for part in ("Conv2d.forward", "Conv2d.backward", "MaxPool2d.backward", "all rules",
                 "the rest (engine, modules, optimiser)"):
        assert part in text


def test_alternatives_time_the_thread_split_and_check_any_compiled_kernel():
    text = _run("alternatives.py", "--calls", "2", "--repeats", "1", "--threads", "2")
    for part in ("hand-off of an empty job", "two halves on two threads",
                 "exp of one LSTM step's gates"):
        assert part in text
    assert "numba: not installed" in text or text.count("agree)") == 2


def test_gemm_rate_counts_the_gemms_a_step_does():
    sys.path.insert(0, BENCH)
    try:
        from cases import _mlp_large_gflops
    finally:
        sys.path.remove(BENCH)
    # forward + dW on all three layers, dX on the last two: 43.03 GFLOP per step
    flops = 4 * 256 * (2 * 4096 * 4096 + 4096 * 10) + 2 * 256 * (4096 * 4096 + 4096 * 10)
    note = _mlp_large_gflops(flops / 1e9 / 100 * 1e3, 100.0)     # 100 GFLOP/s at a 100 peak
    assert note.startswith("100 GFLOP/s = 100% of the GEMM peak") and "target >= 85%: met" in note
    assert "MISSED by 5 points" in _mlp_large_gflops(flops / 1e9 / 80 * 1e3, 100.0)


def test_data_parallel_py_times_three_jobs_and_checks_the_two_rank_step():
    pytest.importorskip("torch")
    pytest.importorskip("mpi4py")
    text = _run("data_parallel.py", "--cases", "xor", "--rounds", "1", "--repeats", "1",
                "--warmup", "1", "--inner", "3", "--no-epoch")
    row = [line for line in text.splitlines() if line.startswith("xor")]
    assert len(row) == 1 and "agrees with PyTorch on the global batch over 3 steps" in row[0]
    assert "chainrule threads per rank 1" in row[0]


def test_ddp_profile_times_each_phase_on_each_rank():
    pytest.importorskip("torch")
    pytest.importorskip("mpi4py")
    text = _run("ddp_profile.py", "--cases", "xor", "--rounds", "1", "--steps", "3",
                "--warmup", "1")
    rows = {line[:22].strip(): line[22:].split() for line in text.splitlines()
            if line.startswith(("2 threads", "1 process", "2 processes", "DDP"))}
    assert set(rows) == {"2 threads, whole", "1 process, half", "2 processes, rank 0",
                         "2 processes, rank 1", "DDP, rank 0", "DDP, rank 1"}
    for rank in (0, 1):                 # every DDP phase was seen, so each timer is in place
        cells = rows[f"DDP, rank {rank}"]
        assert cells[1] == "-", text        # no buffers to broadcast in xor
        assert all(float(cell) > 0 for cell in cells[:1] + cells[2:]), text
    assert "the best any 2-rank data-parallel step can reach here" in text


def test_threads_py_compares_the_default_with_explicit_counts():
    text = _run("threads.py", "--case", "xor", "--rounds", "1", "--batches", "2")
    lines = [line for line in text.splitlines() if "default / best explicit" in line]
    assert len(lines) == 2 and lines[1].startswith("plus one busy process on the other core")


def test_opinfo_parity_runs_pytorchs_samples_and_counts_float32_rounding():
    pytest.importorskip("torch")
    pytest.importorskip("expecttest")
    text = _run("torch_opinfo_parity.py", "--ops", "matmul", "--dtypes", "float32")
    summary = [line for line in text.splitlines() if line.startswith("samples:")]
    assert len(summary) == 1 and "(100.0%)" in summary[0], text
    assert "within float32 rounding of the exact answer" in summary[0]
