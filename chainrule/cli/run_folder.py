"""Run folders are the user's data: ``chainrule train`` writes into one only when it may,
and only one run writes into it at a time.

* **One run per folder.** A run holds an exclusive lock on its folder (``flock`` on the
  file ``.chainrule.lock`` inside it) from before its first write to its end; a second run
  into the same folder, started with ``--out`` or ``--resume``, is refused at once. The
  operating system drops the lock when the process ends, however it ends (``kill -9``
  too), so a crash never leaves the folder locked.
* **Nothing of the user's is overwritten.** ``--out`` may name a new folder, an empty one,
  or a chainrule run folder; a folder holding anything else (the user's own
  ``config.json``, say) is refused. A chainrule run already there is refused too: continue
  it with ``--resume``, or replace it with ``--overwrite`` (which deletes only the files
  chainrule writes).
* **No debris.** A save killed mid-write leaves a temporary file (``.NAME.<hex>.tmp``);
  claiming the folder removes them, under the lock, so no live write is touched.

    >>> import tempfile
    >>> with claim_run_folder(os.path.join(tempfile.mkdtemp(), "run")) as folder:
    ...     _ = open(os.path.join(folder.path, "config.json"), "w").write("{}")
"""
from __future__ import annotations

import datetime
import json
import os

from chainrule.cli.errors import UserError
from chainrule.io import is_temporary, remove_stale_temporaries

__all__ = ["LOCK_NAME", "RUN_FILES", "RunFolder", "check_out_folder", "claim_run_folder",
           "claim_new_run_folder", "describe_removed"]

LOCK_NAME = ".chainrule.lock"
# Every file ``chainrule train`` (or prune, distill, federate) writes into a run folder
# (--overwrite deletes these only).
RUN_FILES = ("config.json", "best.ckpt", "last.ckpt", "history.csv", "history.json",
             "curves.png", "test_metrics.json", "error.log", "prune_metrics.json")
_MAX_CONFIG_BYTES = 64 * 2 ** 20


# ------------------------------------------------------------------------- the lock
def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on the open file without waiting; False if another holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: lock the file's first byte instead
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _holder(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            pid = f.read(32).strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


class RunFolder:
    """A run folder this process holds the lock of; use it as a context manager (or call
    :meth:`release`). An exception leaving the ``with`` block carries the folder in its
    ``run_folder`` attribute, so the command line can leave the details there."""

    def __init__(self, path: str):
        self.path = path
        self.lock_path = os.path.join(path, LOCK_NAME)
        self.removed_temporaries: list[str] = []
        self._fd: int | None = None
        while self._fd is None:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                         0o644)
            if not _try_lock(fd):
                os.close(fd)
                raise UserError(f"run folder {path!r} is in use by another chainrule run "
                                f"({_holder(self.lock_path)}); wait for it to finish or "
                                f"choose another folder")
            # A run that releases the lock deletes the file first: if the name now leads
            # to another file, we locked a deleted one and must try again.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            self._fd = fd

    def release(self) -> None:
        """Give the folder up (the lock file goes: the folder is left as the run made it)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None and getattr(exc, "run_folder", None) is None:
            try:
                exc.run_folder = self.path
            except AttributeError:  # an exception type without a __dict__
                pass
        self.release()


# ------------------------------------------------------------------- what is in it
def _listing(path: str, option: str) -> list[str]:
    """The entries of a folder that are the user's or a run's (not our lock or temporaries)."""
    try:
        names = os.listdir(path)
    except PermissionError:
        raise UserError(f"cannot read {option} folder {path!r}: permission denied") from None
    return sorted(n for n in names if n != LOCK_NAME and not is_temporary(n))


# The sections that the commands working after training add to a run's config; such a run
# keeps no state that ``chainrule train --resume`` can continue.
_NOT_RESUMABLE = {"federated": "federate", "distillation": "distill", "pruning": "prune",
                  "quantization": "quantize"}


def _run_kind(path: str) -> str | None:
    """The command that made the run whose config.json ``path`` is ("train", "federate",
    "distill", "prune" or "quantize"), or None when it is not a chainrule run's config."""
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > _MAX_CONFIG_BYTES:
            return None
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError, RecursionError):
        return None
    if not (isinstance(config, dict) and "chainrule_version" in config
            and all(isinstance(config.get(k), dict) for k in ("data", "model"))):
        return None
    made_by = next((c for k, c in _NOT_RESUMABLE.items() if isinstance(config.get(k), dict)),
                   None)
    # a federated run has its "federated" section instead of "train"
    return made_by or ("train" if isinstance(config.get("train"), dict) else None)


def _refusal(out: str, names: list[str], overwrite: bool) -> str | None:
    """Why ``--out out`` (holding ``names``) may not be written into, or None."""
    if not names:
        return None
    kind = _run_kind(os.path.join(out, "config.json"))
    if kind is None:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return (f"--out {out!r} is not empty and is not a chainrule run folder (it holds "
                f"{shown}); chainrule will not write into it: choose a new or empty folder")
    if overwrite:
        return None
    if kind != "train":
        return (f"--out {out!r} holds a run of 'chainrule {kind}', which cannot be resumed; "
                f"choose a new folder, or replace it with --overwrite")
    if "test_metrics.json" in names:
        return (f"--out {out!r} holds a finished run; continue it with 'chainrule train "
                f"--resume {out} --epochs N', or replace it with --overwrite")
    return (f"--out {out!r} holds a run that did not finish; continue it with 'chainrule train "
            f"--resume {out}', or replace it with --overwrite")


def check_out_folder(out: str, overwrite: bool = False) -> None:
    """Refuse, before any work, an ``--out`` that :func:`claim_new_run_folder` would refuse
    (it checks again under the lock)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out!r} is a file; give a folder")
    if os.path.isdir(out):
        problem = _refusal(out, _listing(out, "--out"), overwrite)
        if problem:
            raise UserError(problem)


# ------------------------------------------------------------------------- claiming
def claim_run_folder(path: str, option: str = "--out") -> RunFolder:
    """Lock the run folder ``path`` (made if missing) and clear a killed save's temporary
    files; for a folder the caller has already judged fit (``--resume``)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{option} {path!r} is a file; give a folder")
    os.makedirs(path, exist_ok=True)
    _listing(path, option)  # unreadable: say so before taking the lock
    folder = RunFolder(path)
    try:
        folder.removed_temporaries = remove_stale_temporaries(path)
    except BaseException:
        folder.release()
        raise
    return folder


def claim_new_run_folder(out: str | None, data_name: str, model_kind: str,
                         overwrite: bool = False) -> RunFolder:
    """The folder of a new run, locked: ``out`` (new, empty, or -- with ``overwrite`` -- a
    chainrule run, whose files are deleted), or a new ``runs/<data>-<model>-<time>``."""
    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = os.path.join("runs", f"{data_name}-{model_kind}-{stamp}")
        path, n = base, 1
        while True:
            try:
                os.makedirs(path)
                break
            except FileExistsError:
                n += 1
                path = f"{base}-{n}"
        return claim_run_folder(path)
    folder = claim_run_folder(out)
    try:
        names = _listing(out, "--out")
        problem = _refusal(out, names, overwrite)
        if problem:
            raise UserError(problem)
        for name in RUN_FILES if names else ():  # --overwrite of a chainrule run
            try:
                os.unlink(os.path.join(out, name))
            except FileNotFoundError:
                pass
    except BaseException:
        folder.release()
        raise
    return folder


def describe_removed(folder: RunFolder) -> str | None:
    """A note on the temporary files a claim removed, or None."""
    if not folder.removed_temporaries:
        return None
    return (f"removed {len(folder.removed_temporaries)} temporary file(s) left in "
            f"{folder.path} by an interrupted save")
