"""chainrule's MLPClassifier next to scikit-learn's on the shipped UCI sets (sonar, ionosphere).

Both run in the same pipeline (StandardScaler, then the MLP) with the same hyperparameters:
hidden layers, solver (Adam), learning rate, batch size, L2 penalty, and number of epochs
(``n_iter_no_change`` is set to the epoch count, so neither stops early; every fit is
checked to have run them all). Both see the same stratified folds, and each fold's data in
the same dtype (scikit-learn trains float32 inputs in float32 and others in float64; so
does chainrule's MLP). For every seed the libraries alternate fold by fold.

Accuracy is the cross-validated test accuracy: its mean over folds and seeds, +- the
standard deviation of the per-seed means. Fit time is the median over all folds and seeds
of one fold's ``fit`` (scaler included), in seconds, with BLAS limited to ``--threads``:
wall-clock time, and the process's CPU time, which other jobs on a shared machine inflate
far less (with one thread, it is the time the fit itself kept a core busy).

    python3 benchmarks/sklearn_mlp.py                         # (100,) units, 200 epochs
    python3 benchmarks/sklearn_mlp.py --hidden 64,32 --epochs 100 --seeds 5
    python3 benchmarks/sklearn_mlp.py --datasets sonar --dtypes float64 --folds 3
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

from run import _set_threads

DATASETS = ("sonar", "ionosphere")
LIBRARIES = ("scikit-learn", "chainrule")


def _load(name: str):
    from chainrule.data import load_ionosphere, load_sonar
    X, y, _ = {"sonar": load_sonar, "ionosphere": load_ionosphere}[name]()
    return X, y


def _pipeline(library: str, hidden: tuple, epochs: int, seed: int):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if library == "chainrule":
        from chainrule.sklearn import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    mlp = MLPClassifier(hidden, solver="adam", learning_rate_init=1e-3, batch_size="auto",
                        alpha=1e-4, max_iter=epochs, n_iter_no_change=epochs, random_state=seed)
    return make_pipeline(StandardScaler(), mlp)


def compare(datasets=DATASETS, hidden=(100,), epochs: int = 200, folds: int = 5,
            seeds: int = 3, dtypes=("float32", "float64")) -> list[dict]:
    """One row per data set, dtype and library: accuracy mean and spread, fit time."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold
    rows = []
    for name in datasets:
        X_all, y = _load(name)
        for dtype in dtypes:
            X = X_all.astype(dtype)
            accuracy = {lib: [] for lib in LIBRARIES}  # per seed: mean over folds
            wall = {lib: [] for lib in LIBRARIES}
            cpu = {lib: [] for lib in LIBRARIES}
            for seed in range(seeds):
                split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y)
                scores = {lib: [] for lib in LIBRARIES}
                for train, test in split:
                    for lib in LIBRARIES:
                        model = clone(_pipeline(lib, tuple(hidden), epochs, seed))
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ConvergenceWarning)
                            start, start_cpu = time.perf_counter(), time.process_time()
                            model.fit(X[train], y[train])
                            cpu[lib].append(time.process_time() - start_cpu)
                            wall[lib].append(time.perf_counter() - start)
                        if model[-1].n_iter_ != epochs:
                            raise RuntimeError(f"{lib} ran {model[-1].n_iter_} epochs, not "
                                               f"{epochs}")
                        scores[lib].append(model.score(X[test], y[test]))
                for lib in LIBRARIES:
                    accuracy[lib].append(float(np.mean(scores[lib])))
            for lib in LIBRARIES:
                spread = statistics.stdev(accuracy[lib]) if seeds > 1 else 0.0
                rows.append({"dataset": name, "shape": X.shape, "dtype": dtype,
                             "library": lib, "accuracy": statistics.mean(accuracy[lib]),
                             "spread": spread, "wall_s": statistics.median(wall[lib]),
                             "cpu_s": statistics.median(cpu[lib])})
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| data set (samples x features) | dtype | library | CV accuracy "
             "| fit, CPU (s) | fit, wall (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} ({r['shape'][0]} x {r['shape'][1]}) | {r['dtype']} | "
                     f"{r['library']} | {r['accuracy']:.3f} +- {r['spread']:.3f} | "
                     f"{r['cpu_s']:.3f} | {r['wall_s']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--hidden", default="100", help="hidden layer sizes, e.g. 64,32")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    _set_threads(args.threads)
    hidden = tuple(int(s) for s in args.hidden.split(","))
    rows = compare(args.datasets.split(","), hidden, args.epochs, args.folds, args.seeds,
                   args.dtypes.split(","))
    print(f"MLP {hidden}, Adam lr 1e-3, batch min(200, n), alpha 1e-4, {args.epochs} epochs; "
          f"{args.folds}-fold stratified CV x {args.seeds} seeds; {args.threads} BLAS thread(s)")
    print(table(rows))


if __name__ == "__main__":
    main()
