"""The experiment scripts behind docs/pruning.md, quantization.md, distillation.md,
transfer.md and federated.md, each run in miniature (``--quick``: a few hundred digits, an
epoch or two) into a temporary docs page: the commands they run work, and each writes its
results section with a table and its plots."""
from __future__ import annotations

import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = os.path.join(ROOT, "experiments")


def load(name: str):
    if EXPERIMENTS not in sys.path:
        sys.path.insert(0, EXPERIMENTS)           # the scripts import their _common module
    spec = importlib.util.spec_from_file_location(f"experiment_{name}",
                                                  os.path.join(EXPERIMENTS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """One work folder, so the scripts share their miniature base runs as the full ones do."""
    return tmp_path_factory.mktemp("experiments")


def run_quick(name: str, work, page: str, *extra) -> tuple[dict, str]:
    docs = os.path.join(work, "docs", page)
    os.makedirs(os.path.dirname(docs), exist_ok=True)
    with open(docs, "w") as f:
        f.write("# Title\n\nProse the script must keep.\n\n<!-- results:begin -->\nSTALE\n"
                "<!-- results:end -->\n\nMore prose.\n")
    result = load(name).main(["--quick", "--work", str(work), "--docs", docs, *extra])
    text = open(docs).read()
    assert text.startswith("# Title\n\nProse the script must keep.") and text.endswith("More prose.\n")
    section = text.split("<!-- results:begin -->")[1].split("<!-- results:end -->")[0]
    assert "STALE" not in section and "Measured " in section and "machine shared with other work" in section
    for link in [line.split("](")[1].rstrip(")") for line in section.splitlines() if line.startswith("![")]:
        with open(os.path.join(os.path.dirname(docs), link), "rb") as png:
            assert png.read(4) == b"\x89PNG"
    return result, section


def table_rows(section: str, which: int = 0) -> list[list[str]]:
    """The body rows of the section's ``which``-th Markdown table."""
    tables = [block.splitlines() for block in section.split("\n\n")
              if block.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in tables[which][2:]]


def test_pruning_experiment(work):
    result, section = run_quick("pruning", work, "pruning.md")
    rows = table_rows(section)
    assert [r[0] for r in rows] == ["0% (dense)", "50%", "80%", "90%", "95%", "structured, 50%",
                                    "structured, 80%"]
    assert [r[1] for r in rows[:5]] == ["0.0%", "50.0%", "80.0%", "90.0%", "95.0%"]
    assert result["results"]["u0.9"]["sparse_weights_bytes"] < result["results"]["u0.5"]["sparse_weights_bytes"]


def test_quantization_experiment(work):
    result, section = run_quick("quantization", work, "quantization.md")
    assert [r[0] for r in table_rows(section)] == ["mlp", "lenet"]
    assert [r[0] for r in table_rows(section, 1)] == ["mlp", "lenet"]       # the ONNX table
    for m in result["results"].values():
        assert m["float_weights_bytes"] / m["int8_weights_bytes"] > 3
    assert "Quantisation-aware fine-tuning" in section and "int8_matmul" in section


def test_distillation_experiment(work):
    _, section = run_quick("distillation", work, "distillation.md")
    assert [r[0] for r in table_rows(section)] == [
        "LeNet-5 (teacher)", "MLP 784-64-10 alone", "MLP 784-64-10 distilled"]


def test_transfer_experiment(work):
    result, section = run_quick("transfer", work, "transfer.md")
    rows = table_rows(section)
    assert [r[0] for r in rows] == ["10 (50 images)", "50 (250 images)", "200 (1000 images)"]
    assert len(result["results"]) == 9          # one seed in a quick run, 3 budgets x 3 methods


def test_federated_experiment(work):
    result, section = run_quick("federated", work, "federated.md")
    assert [r[0] for r in table_rows(section)] == [
        "IID, FedAvg", "IID, FedProx mu=0.01", "Dirichlet 0.3, FedAvg",
        "Dirichlet 0.3, FedProx mu=0.01", "centralised"]
    assert all(len(accs) in (1, 2) for accs in result.values())
