"""Draws the README's picture of the course from the course itself: runs notebook 3 in a
Jupyter kernel and saves the figure of its cell tagged ``readme-picture`` (the loss surface
of two weights with the paths of SGD, momentum and Adam), so the picture is exactly what a
learner sees when running the notebook.

    python3 -m pip install -e '.[notebook]' nbclient
    PYTHONPATH=$PWD python3 examples/notebooks/make_readme_picture.py
    # writes docs/images/course-loss-surface.png
"""
from __future__ import annotations

import argparse
import base64
import os

import nbclient
import nbformat

from chainrule.io import write_atomically

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def tagged_figure(notebook: str, tag: str = "readme-picture", timeout: int = 600) -> bytes:
    """The PNG that the cell tagged ``tag`` of ``notebook`` shows, after running the whole
    notebook top to bottom in a fresh kernel (a cell needs the ones before it)."""
    nb = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": HERE}}).execute()
    for cell in nb.cells:
        if tag in cell.metadata.get("tags", []):
            pictures = [o.data["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
            if len(pictures) != 1:
                raise ValueError(f"{notebook}: the cell tagged {tag!r} showed {len(pictures)} "
                                 f"pictures; expected exactly one")
            return base64.b64decode(pictures[0])
    raise ValueError(f"{notebook}: no cell is tagged {tag!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", default=os.path.join(HERE, "03_regression.ipynb"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images",
                                                      "course-loss-surface.png"))
    args = parser.parse_args()
    write_atomically(args.out, tagged_figure(args.notebook))
    print(f"figure written to {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
