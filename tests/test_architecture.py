"""The package's dependency graph, as .importlinter declares it (and docs/ARCHITECTURE.md
draws it): imports only point down the layers."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_contracts_are_kept():
    pytest.importorskip("importlinter")
    exe = shutil.which("lint-imports") or os.path.join(os.path.dirname(sys.executable), "lint-imports")
    run = subprocess.run([exe, os.path.join(ROOT, ".importlinter")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " 0 broken" in run.stdout
