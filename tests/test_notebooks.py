"""The course in examples/notebooks: every notebook runs, top to bottom, in a real Jupyter
kernel (nbclient + ipykernel), and fails the test on any error, a failed ``assert`` in a
notebook included (the notebooks assert the figures they claim). The committed notebooks
carry no outputs, so nothing stored can go stale.

Each notebook runs its short default settings (well under a minute on two cores); the
setting a learner raises for the full result is named in the notebook.
"""
from __future__ import annotations

import json
import os
import re

import pytest

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "examples", "notebooks")
NAMES = sorted(f for f in os.listdir(NOTEBOOKS) if f.endswith(".ipynb"))


def test_the_course_is_there():
    numbers = [int(re.match(r"(\d+)_", name).group(1)) for name in NAMES]
    assert numbers == list(range(1, len(NAMES) + 1)), NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_stripped_and_has_exercises(name):
    with open(os.path.join(NOTEBOOKS, name), encoding="utf-8") as f:
        nb = json.load(f)
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb["metadata"], f"{name}: widget state is stored; strip it"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{name}: cell {i} has stored outputs; strip them"
            assert cell["execution_count"] is None, f"{name}: cell {i} has an execution count"
        assert not cell.get("attachments"), f"{name}: cell {i} has attachments"
    headings = [line.strip() for cell in nb["cells"] if cell["cell_type"] == "markdown"
                for line in "".join(cell["source"]).splitlines() if line.startswith("#")]
    assert "## Exercises" in headings and "## Solutions" in headings, name
    assert headings.index("## Exercises") < headings.index("## Solutions"), name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_a_jupyter_kernel(name, run_notebook):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("matplotlib")
    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    run_notebook(nb)
    errors = [o for cell in nb.cells for o in cell.get("outputs", [])
              if o["output_type"] == "error"]
    assert not errors, errors
    for i, cell in enumerate(nb.cells):   # the README's picture (make_readme_picture.py)
        if "readme-picture" in cell.metadata.get("tags", []):
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), (name, i)
