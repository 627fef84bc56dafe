"""What the commands print: progress lines, class probabilities and the test-set report
(loss, accuracy, confusion matrix, per-class precision/recall/F1)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

import chainrule as cr
from chainrule import metrics, nn
from chainrule.train import predict

__all__ = ["MAX_CLASSES_SHOWN", "say", "class_logits", "probabilities", "format_confusion",
           "report", "report_regression"]

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
    return cr.softmax(cr.Tensor(class_logits(logits)), dim=1).data


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


def report_regression(model, X: np.ndarray, y: np.ndarray, batch_size: int = 512) -> dict:
    """Mean squared error (the loss), mean absolute error and R^2 of a one-output model's
    predictions on (X, y); printed and returned."""
    pred = predict(model, X, batch_size=batch_size).astype(np.float64).reshape(len(y), -1)[:, 0]
    y = y.astype(np.float64)
    result = {"loss": metrics.mean_squared_error(y, pred),
              "mae": metrics.mean_absolute_error(y, pred), "r2": metrics.r2_score(y, pred),
              "samples": int(len(y))}
    print(f"loss (mean squared error) {result['loss']:.4f} - mean absolute error "
          f"{result['mae']:.4f} - R^2 {result['r2']:.4f}")
    return result
