"""Run folders are the user's data (issue 15, part 3), the campaign in miniature: two runs
into one folder, the user's own files in --out, kills during a save, a full disk, FIFOs and
devices where files belong, unreadable folders.

Kills and concurrent runs use real processes (``python -m chainrule`` and SIGKILL); a full
disk is a per-process file-size limit (``RLIMIT_FSIZE``: writes past it fail with EFBIG,
no root or mounted file system needed) plus a simulated ENOSPC.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, train
from chainrule.cli.errors import UserError
from chainrule.cli.run_folder import LOCK_NAME, RunFolder, claim_new_run_folder
from chainrule.io import CheckpointError, is_temporary, write_atomically

pytest.importorskip("safetensors")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, flock and rlimits are POSIX")


def chainrule_process(*args, cwd, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "chainrule", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)






def wait_for(condition, what: str, patience: float = 120.0) -> None:
    """Poll until ``condition()``; the generous bound only stops a broken test from
    hanging the suite (it is no timing requirement)."""
    deadline = time.monotonic() + patience
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def temporaries(folder) -> list[str]:
    return [n for n in os.listdir(folder) if is_temporary(n)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 2-epoch xor run, made in-process; tests copy it."""
    run = tmp_path_factory.mktemp("runs") / "run"
    assert cli.main(["train", "--data", "xor", "--epochs", "2", "--hidden", "4",
                     "--out", str(run), "--quiet"]) == 0
    return run


# ------------------------------------------------------------- one run per folder
@posix_only
def test_a_locked_run_folder_is_refused_and_released(tmp_path):
    first = RunFolder(str(tmp_path))
    with pytest.raises(UserError, match=rf"in use by another chainrule run \(process "
                                        rf"{os.getpid()}\)"):
        RunFolder(str(tmp_path))
    first.release()
    assert LOCK_NAME not in os.listdir(tmp_path)  # the folder is left as the run made it
    with RunFolder(str(tmp_path)):
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())


@posix_only
def test_two_concurrent_runs_into_one_folder(tmp_path, monkeypatch, command_line):
    # Run A trains for a long time; run B (and a resume) into the same folder are refused
    # at once, and A's files are never touched by B.
    a = chainrule_process("train", "--data", "xor", "--epochs", "100000", "--patience", "0",
                          "--out", "shared", "--quiet", cwd=tmp_path)
    lock = tmp_path / "shared" / LOCK_NAME
    try:
        wait_for(lambda: lock.exists() and lock.read_text().strip() == str(a.pid)
                 or a.poll() is not None, "run A to lock its folder")
        assert a.poll() is None, a.communicate()
        monkeypatch.chdir(tmp_path)
        for argv in (["train", "--data", "moons", "--hidden", "4", "--epochs", "1",
                      "--out", "shared", "--overwrite"],
                     ["train", "--resume", "shared"]):
            status, err = command_line.run(*argv)
            assert status == 1
            command_line.one_line(err, "'shared' is in use by another chainrule run",
                                  f"process {a.pid}")
        wait_for(lambda: (tmp_path / "shared" / "last.ckpt").exists(), "A's first checkpoint")
    finally:
        a.kill()
        a.wait()
    config = json.loads((tmp_path / "shared" / "config.json").read_text())
    assert config["data"]["name"] == "xor" and config["model"]["hidden"] == [16, 16]
    assert train.read_checkpoint(tmp_path / "shared" / "last.ckpt")["config"] == config
    # The killed run's lock is gone with its process: the folder can be taken over.
    assert command_line.run("train", "--data", "moons", "--hidden", "4", "--epochs", "1",
                   "--out", "shared", "--overwrite", "--quiet")[0] == 0


# ---------------------------------------------------- nothing of the user's is lost
def test_a_folder_of_the_users_own_files_is_refused(tmp_path, monkeypatch, command_line):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    (mine / "history.csv").write_text("day,weight\n1,70\n")
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--overwrite"]):
        status, err = command_line.run("train", "--data", "xor", "--epochs", "1", "--out",
                              "mine", *extra)
        assert status == 1
        command_line.one_line(err, "--out 'mine' is not empty and is not a chainrule run folder",
                 "config.json, history.csv")
    assert sorted(os.listdir(mine)) == ["config.json", "history.csv"]
    assert (mine / "config.json").read_text() == '{"my": "settings"}'


def test_a_finished_run_is_kept_unless_overwrite_is_given(finished_run, tmp_path, monkeypatch,
                                                          command_line):
    shutil.copytree(finished_run, tmp_path / "run")
    (tmp_path / "run" / "notes.txt").write_text("my notes")
    before = (tmp_path / "run" / "last.ckpt").read_bytes()
    monkeypatch.chdir(tmp_path)
    status, err = command_line.run("train", "--data", "xor", "--epochs", "1", "--out", "run")
    assert status == 1
    command_line.one_line(err, "holds a finished run", "--resume run --epochs N", "--overwrite")
    assert (tmp_path / "run" / "last.ckpt").read_bytes() == before
    assert command_line.run("train", "--data", "moons", "--hidden", "3", "--epochs", "1",
                   "--out", "run", "--overwrite", "--quiet")[0] == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["name"] == "moons" and config["model"]["hidden"] == [3]
    assert (tmp_path / "run" / "notes.txt").read_text() == "my notes"
    status, err = command_line.run("train", "--resume", "run", "--overwrite")
    assert status == 1 and "cannot be combined with --resume" in err


def test_an_unfinished_run_is_kept_unless_overwrite_is_given(finished_run, tmp_path, monkeypatch,
                                                             command_line):
    shutil.copytree(finished_run, tmp_path / "run")
    os.unlink(tmp_path / "run" / "test_metrics.json")
    monkeypatch.chdir(tmp_path)
    status, err = command_line.run("train", "--data", "xor", "--epochs", "1", "--out", "run")
    assert status == 1
    command_line.one_line(err, "holds a run that did not finish", "chainrule train --resume run")


def test_out_may_be_new_or_empty(tmp_path, monkeypatch, command_line):
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    for out in ("empty", "new/nested"):
        assert command_line.run("train", "--data", "xor", "--hidden", "2", "--epochs", "1",
                       "--out", out, "--quiet")[0] == 0
        assert "test_metrics.json" in os.listdir(out) and LOCK_NAME not in os.listdir(out)


# --------------------------------------------------------------- atomic writes
def test_concurrent_atomic_writes_never_tear_a_file(tmp_path):
    # The campaign saw 710 torn reads of config.json when two writers shared one fixed
    # temporary name. Two writers and a reader here: every read is one whole version.
    target = tmp_path / "config.json"
    versions = {json.dumps({"writer": w, "pad": "x" * 20000}) for w in ("a", "b")}
    write_atomically(target, next(iter(versions)).encode())
    stop, torn, reads = threading.Event(), [], [0]

    def writer(text: str) -> None:
        for _ in range(150):
            write_atomically(target, text.encode())

    def reader() -> None:
        while not stop.is_set():
            text = target.read_text()
            reads[0] += 1
            if text not in versions:
                torn.append(len(text))

    threads = [threading.Thread(target=writer, args=(v,)) for v in versions]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert torn == [] and reads[0] > 0
    assert os.listdir(tmp_path) == ["config.json"]


_KILLED_SAVE = """
import os, sys, time
os.fsync = lambda fd: time.sleep(3600)  # the machine dies between the write and the rename
from chainrule.io import write_atomically
write_atomically(sys.argv[1], b"x" * 100000)
"""


@posix_only
def test_temporaries_of_a_killed_save_are_removed_at_the_next_start(finished_run, tmp_path,
                                                                    monkeypatch, capsys):
    shutil.copytree(finished_run, tmp_path / "run")
    last = (tmp_path / "run" / "last.ckpt").read_bytes()
    env = dict(os.environ, PYTHONPATH=ROOT)
    for round_ in range(1, 3):
        saver = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE,
                                  str(tmp_path / "run" / "last.ckpt")], env=env)
        try:
            wait_for(lambda: sum(os.path.getsize(tmp_path / "run" / n) == 100000
                                 for n in temporaries(tmp_path / "run")) == round_,
                     "a half-done save")
        finally:
            saver.send_signal(signal.SIGKILL)
            saver.wait()
    assert len(temporaries(tmp_path / "run")) == 2
    assert (tmp_path / "run" / "last.ckpt").read_bytes() == last  # the old file is intact
    monkeypatch.chdir(tmp_path)
    status = cli.main(["train", "--resume", "run", "--epochs", "3"])
    out = capsys.readouterr().out
    assert status == 0 and "removed 2 temporary file(s)" in out
    assert temporaries(tmp_path / "run") == []
    assert train.read_checkpoint(tmp_path / "run" / "last.ckpt")["epoch"] == 3


@posix_only
def test_kill_during_training_loses_no_file_and_resume_finishes(tmp_path):
    # SIGKILL a training run at random moments (often mid-save: it saves every epoch),
    # then check what is on disk and resume; twice.
    rng = np.random.default_rng(15)
    args = ("train", "--data", "circles", "--hidden", "32,32", "--epochs", "20",
            "--patience", "0", "--out", "run")
    process = chainrule_process(*args, cwd=tmp_path)
    for round_ in range(2):
        epochs_seen = 0
        for line in process.stdout:
            epochs_seen += line.startswith("Epoch ")
            if epochs_seen >= rng.integers(2, 4):
                break
        time.sleep(float(rng.uniform(0, 0.05)))
        process.send_signal(signal.SIGKILL)
        process.wait()
        run = tmp_path / "run"
        for name in ("best.ckpt", "last.ckpt"):
            train.read_checkpoint(run / name)  # whole, never torn
        json.loads((run / "config.json").read_text())
        process = chainrule_process("train", "--resume", "run", cwd=tmp_path)
    out, err = process.communicate()
    assert process.returncode == 0, err
    assert temporaries(tmp_path / "run") == []
    assert train.read_checkpoint(tmp_path / "run" / "last.ckpt")["epoch"] == 20


# ------------------------------------------------------------------ a full disk
def test_a_failed_write_names_the_file_and_leaves_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    target.write_bytes(b"old")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="cannot write 1,000 bytes") as caught:
        write_atomically(target, b"x" * 1000)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert os.listdir(tmp_path) == ["last.ckpt"] and target.read_bytes() == b"old"


_FILE_SIZE_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (16000, 16000))
from chainrule.cli import main
sys.exit(main(sys.argv[1:]))
"""


@posix_only
def test_a_full_disk_during_training_names_the_file(tmp_path, command_line):
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", _FILE_SIZE_LIMITED, "train", "--data", "moons",
                             "--hidden", "64,64", "--epochs", "2", "--out", "run", "--quiet"],
                            cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    # the first file past the limit: the checkpoint of the state before the first step
    line = command_line.one_line(result.stderr, "File too large", os.path.join("run", "last.ckpt"))
    assert line.startswith("chainrule: error: cannot write ")
    assert temporaries(tmp_path / "run") == []
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["hidden"] == [64, 64]


# ------------------------------------------------------- FIFOs, devices, folders
def returns_promptly(call, patience: float = 120.0):
    """``call()``'s result or exception, run in a thread so that a read that blocks for
    ever fails the test instead of hanging the suite."""
    box: dict = {}

    def target():
        try:
            box["value"] = call()
        except BaseException as e:  # noqa: BLE001 (handed back to the test)
            box["error"] = e
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(patience)
    assert not thread.is_alive(), "the call blocked"
    if "error" in box:
        raise box["error"]
    return box["value"]


@posix_only
def test_fifos_and_devices_are_refused_up_front(finished_run, tmp_path, monkeypatch, command_line):
    from chainrule.cli.images import image_to_mnist
    from chainrule.data import read_idx
    for name in ("x.ckpt", "x.csv", "x.json", "x.idx", "x.png"):
        os.mkfifo(tmp_path / name)
    with pytest.raises(CheckpointError, match=r"is a named pipe \(FIFO\), not a regular file"):
        returns_promptly(lambda: cr.load(tmp_path / "x.ckpt"))
    with pytest.raises(CheckpointError, match="is a character device"):
        returns_promptly(lambda: cr.load("/dev/zero"))
    with pytest.raises(ValueError, match="named pipe"):
        returns_promptly(lambda: read_idx(tmp_path / "x.idx"))
    with pytest.raises(ValueError, match="named pipe"):
        returns_promptly(lambda: image_to_mnist(str(tmp_path / "x.png")))
    shutil.copytree(finished_run, tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    cases = [
        (["evaluate", "x.ckpt"], "named pipe (FIFO)"),
        (["evaluate", "/dev/zero"], "character device"),
        (["predict", "run", "x.csv"], "input file 'x.csv' is a named pipe (FIFO)"),
        (["predict", "run", "/dev/urandom"], "input file '/dev/urandom' is a character device"),
        (["train", "--data", "x.csv"], "data file 'x.csv' is a named pipe (FIFO)"),
        (["train", "--idx-images", "x.idx", "--idx-labels", "x.idx"], "IDX file 'x.idx' is a"),
        (["summary", "--file", "x.json"], "--file 'x.json' is a named pipe (FIFO)"),
        (["explain", "--layers", "2,1", "--weights", "x.json"], "--weights 'x.json' is a named"),
    ]
    for argv, fragment in cases:
        status, err = returns_promptly(lambda: command_line.run(*argv))
        assert status in (1, 2), argv
        assert len(err.strip().splitlines()) == 1 and fragment in err, (argv, err)
    os.unlink(tmp_path / "run" / "best.ckpt")
    os.unlink(tmp_path / "run" / "last.ckpt")
    os.mkfifo(tmp_path / "run" / "best.ckpt")
    status, err = returns_promptly(lambda: command_line.run("evaluate", "run"))
    assert status == 1 and "named pipe" in err


def test_an_unreadable_run_folder_says_cannot_read(finished_run, tmp_path, monkeypatch,
                                                   command_line):
    # Simulated, so that it runs as root too (root reads any folder).
    shutil.copytree(finished_run, tmp_path / "run")
    real_listdir = os.listdir

    def denied(path="."):
        if os.path.basename(os.fspath(path)) == "run":
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_listdir(path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "listdir", denied)
    for argv, fragment in ((["evaluate", "run"], "cannot read run folder 'run'"),
                           (["predict", "run", "x.csv"], "cannot read run folder 'run'"),
                           (["train", "--resume", "run"], "cannot read --resume folder 'run'"),
                           (["train", "--data", "xor", "--out", "run"],
                            "cannot read --out folder 'run'")):
        status, err = command_line.run(*argv)
        assert status == 1
        command_line.one_line(err, fragment, "permission denied")


@posix_only
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads every folder; the simulated test above covers it")
def test_an_unreadable_run_folder_for_real(finished_run, tmp_path, monkeypatch, command_line):
    shutil.copytree(finished_run, tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    os.chmod(tmp_path / "run", 0)
    try:
        status, err = command_line.run("evaluate", "run")
        assert status == 1
        command_line.one_line(err, "cannot read run folder 'run'")
    finally:
        os.chmod(tmp_path / "run", 0o755)


def test_claiming_a_new_default_folder_never_reuses_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with claim_new_run_folder(None, "xor", "mlp") as a, \
            claim_new_run_folder(None, "xor", "mlp") as b:
        assert a.path != b.path and os.path.isdir(a.path) and os.path.isdir(b.path)
