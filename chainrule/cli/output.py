"""What the commands print: progress lines, class probabilities and the test-set reports:
for classification the loss, accuracy, confusion matrix and per-class precision/recall/F1;
for regression MSE, RMSE, MAE, R^2, explained variance and max error in the targets' own
units, per target, beside a least-squares baseline."""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

import chainrule as cr
from chainrule import metrics, nn
from chainrule.cli.targets import to_target_units
from chainrule.train import predict

__all__ = ["MAX_CLASSES_SHOWN", "say", "class_logits", "probabilities", "format_confusion",
           "report", "regression_scores", "averaged", "summary_line", "least_squares_baseline",
           "regression_report"]

MAX_CLASSES_SHOWN = 30  # larger confusion matrices and reports are not printed


def say(args, msg: str = "") -> None:
    """Print a progress line unless the command was given ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(msg, flush=True)


def class_logits(logits: np.ndarray) -> np.ndarray:
    """Logits per class, in float64. One logit z per sample is a binary classifier's
    log-odds (the playground's models): its two class logits are (0, z), whose softmax is
    (1 - sigmoid(z), sigmoid(z))."""
    logits = logits.astype(np.float64)
    if logits.ndim == 2 and logits.shape[1] == 1:
        return np.concatenate([np.zeros_like(logits), logits], axis=1)
    return logits


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax over the classes (dim 1), in float64."""
    return cr.softmax(cr.Tensor(class_logits(logits)), dim=1)._array


def format_confusion(cm: np.ndarray, names: Sequence[str]) -> str:
    """A confusion matrix with class names on both axes (rows: true, columns: predicted)."""
    width = max(max(len(n) for n in names), len(str(int(cm.max()))), 4)
    corner = "true\\pred"
    first = max(width, len(corner), max(len(n) for n in names))
    head = f"{corner:>{first}} " + " ".join(f"{n:>{width}}" for n in names)
    rows = [f"{n:>{first}} " + " ".join(f"{int(v):>{width}}" for v in row)
            for n, row in zip(names, cm)]
    return "\n".join([head] + rows)


def report(model, X: np.ndarray, y: np.ndarray, names: list[str], batch_size: int = 512) -> dict:
    """Loss, accuracy, confusion matrix and per-class report on (X, y); printed and returned."""
    logits = class_logits(predict(model, X, batch_size=batch_size))
    loss = float(nn.CrossEntropyLoss()(cr.Tensor(logits),
                                       cr.Tensor(y.astype(np.int64))).item())
    pred = logits.argmax(axis=1)
    labels = list(range(len(names)))
    acc = metrics.accuracy(y, pred)
    cm = metrics.confusion_matrix(y, pred, labels=labels)
    print(f"loss {loss:.4f} - accuracy {acc:.4f} ({int((pred == y).sum())}/{len(y)})")
    text = metrics.classification_report(y, pred, labels=labels, target_names=names, digits=4)
    if len(names) <= MAX_CLASSES_SHOWN:
        print("\nconfusion matrix (rows: true class, columns: predicted class)")
        print(format_confusion(cm, names))
        print()
        print(text)
    else:  # 65 characters: the averages only (everything is in test_metrics.json)
        lines = text.splitlines()
        print(f"\n({len(names)} classes: confusion matrix and per-class rows omitted)")
        print("\n".join([lines[0]] + lines[-3:]))
    return {"loss": loss, "accuracy": acc, "samples": int(len(y)),
            "confusion_matrix": cm.tolist(),
            "report": metrics.classification_report(y, pred, labels=labels, target_names=names,
                                                    output_dict=True)}


# The regression report's measures, in the order printed: (key, label, function).
_REGRESSION_MEASURES = (
    ("mse", "mse", metrics.mean_squared_error),
    ("rmse", "rmse", metrics.root_mean_squared_error),
    ("mae", "mae", metrics.mean_absolute_error),
    ("r2", "r2", metrics.r2_score),
    ("explained_variance", "explained variance", metrics.explained_variance_score),
    ("max_error", "max error", metrics.max_error),
)


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Every measure of one target (arrays of shape (N,), in the target's units)."""
    return {key: float(fn(y_true, y_pred)) for key, _, fn in _REGRESSION_MEASURES}


def summary_line(scores: dict[str, float]) -> str:
    """``mse 2830 - rmse 53.2 - mae 42.1 - r2 0.512 - ...`` from scores as :func:`averaged`
    gives."""
    return " - ".join(f"{label} {scores[key]:.4g}" for key, label, _ in _REGRESSION_MEASURES)


def least_squares_baseline(X_fit: np.ndarray, y_fit: np.ndarray, X_test: np.ndarray,
                           y_test: np.ndarray) -> dict[str, float]:
    """Ordinary least squares with an intercept, fitted on (X_fit, y_fit) (all in the
    targets' units) and scored on the test rows: what a straight line already explains."""
    def design(X):
        return np.c_[X.reshape(len(X), -1).astype(np.float64), np.ones(len(X))]
    coef, *_ = np.linalg.lstsq(design(X_fit), y_fit, rcond=None)
    pred = design(X_test) @ coef
    return {**averaged(y_test, pred), "fit_rows": int(len(X_fit))}


def averaged(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Every measure over targets of shape (N, K), averaged over the targets (max error:
    the worst target's)."""
    with warnings.catch_warnings():  # one row: R^2 is NaN, and the report says so
        warnings.simplefilter("ignore")
        per = [regression_scores(y_true[:, k], y_pred[:, k]) for k in range(y_true.shape[1])]
    out = {key: float(np.mean([p[key] for p in per])) for key, _, _ in _REGRESSION_MEASURES}
    out["max_error"] = max(p["max_error"] for p in per)
    return out


def regression_report(model, X: np.ndarray, y: np.ndarray, scaling: dict,
                      baseline_rows: tuple[np.ndarray, np.ndarray] | None = None,
                      batch_size: int = 512) -> tuple[dict, np.ndarray, np.ndarray]:
    """Score a regression model on (X, y standardised): printed and returned as
    ``(scores, y_true, y_pred)``, the last two in the targets' units (N, K). With
    ``baseline_rows`` (training inputs and standardised targets) a least-squares fit on
    them is scored on the same rows for comparison."""
    truth = to_target_units(y, scaling)
    pred = to_target_units(predict(model, X, batch_size=batch_size), scaling)
    names = scaling["names"]
    result: dict = {"task": "regression", "samples": int(len(truth)), "targets": list(names),
                    **averaged(truth, pred)}
    unit = f"in the units of {names[0]}" if len(names) == 1 else "averaged over the targets"
    print(f"{summary_line(result)} ({len(truth)} samples, {unit})")
    if len(names) > 1:
        result["per_target"] = {name: regression_scores(truth[:, k], pred[:, k])
                                for k, name in enumerate(names)}
        width = max(len("target"), max(len(n) for n in names))
        labels = [label for _, label, _ in _REGRESSION_MEASURES]
        print(f"\n{'target':<{width}}  " + "  ".join(f"{l:>10}" for l in labels))
        for name, scores in result["per_target"].items():
            print(f"{name:<{width}}  " + "  ".join(
                f"{scores[key]:>10.4g}" for key, _, _ in _REGRESSION_MEASURES))
    if baseline_rows is not None:
        X_fit, y_fit = baseline_rows
        result["baseline"] = least_squares_baseline(X_fit, to_target_units(y_fit, scaling),
                                                    X, truth)
        print(f"least-squares baseline (a straight line fitted on the same "
              f"{result['baseline']['fit_rows']} training rows): "
              f"{summary_line(result['baseline'])}")
    return result, truth, pred
