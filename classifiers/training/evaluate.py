"""Score a labelled file and report the figures operations track (the ``triage evaluate`` JSON).

Three views of one scorer: ``sentiment`` (negative/neutral/positive), ``complaint`` (the binary view of
the intent head: P(complaint) >= 0.5) and ``actionable`` (P(complaint|question|request) >= 0.5).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from classifiers.base import BINARY_INTENT_LABELS, SENTIMENT_LABELS, ScoreBatch, TextScorer

__all__ = ["TASK_LABELS", "classification_report", "evaluate_scorer", "predict_task"]

TASK_LABELS: dict[str, tuple[str, ...]] = {
    "sentiment": SENTIMENT_LABELS,
    "complaint": BINARY_INTENT_LABELS,
    "actionable": ("actionable", "not_actionable"),
}
BATCH = 1000


def predict_task(task: str, batch: ScoreBatch) -> list[str]:
    """The label a scored batch gives each post under one evaluation task."""
    if task == "sentiment":
        return batch.sentiment
    if task == "complaint":
        p = batch.intent_proba[:, 0]
        return ["complaint" if x >= 0.5 else "not_complaint" for x in p]
    if task == "actionable":
        return ["actionable" if x >= 0.5 else "not_actionable" for x in batch.actionable_proba]
    raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_LABELS)}")


def classification_report(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro F1/recall, per-class precision/recall/F1/support and the confusion matrix."""
    idx = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[idx[t], idx[p]] += 1
    per_class: dict[str, dict[str, float | int]] = {}
    f1s, recalls = [], []
    for i, lab in enumerate(labels):
        tp = int(cm[i, i])
        support = int(cm[i].sum())
        predicted = int(cm[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[lab] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
        }
        if support:  # macro averages over the classes present in the data
            f1s.append(f1)
            recalls.append(recall)
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": round(float(np.trace(cm)) / n, 4) if n else 0.0,
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else 0.0,
        "macro_recall": round(float(np.mean(recalls)), 4) if recalls else 0.0,
        "per_class": per_class,
        "confusion_matrix": {"labels": list(labels), "rows_true_cols_pred": cm.tolist()},
    }


def evaluate_scorer(
    scorer: TextScorer,
    task: str,
    texts: Sequence[str],
    labels: Sequence[str],
    langs: Sequence[str | None] | None = None,
) -> dict[str, Any]:
    """Score ``texts`` in batches of 1,000 against ``labels``; ``posts_per_s`` times scoring only."""
    preds: list[str] = []
    elapsed = 0.0
    for start in range(0, len(texts), BATCH):
        chunk = list(texts[start : start + BATCH])
        chunk_langs = list(langs[start : start + BATCH]) if langs is not None else None
        t0 = time.perf_counter()
        batch = scorer.score(chunk, chunk_langs)
        elapsed += time.perf_counter() - t0
        preds.extend(predict_task(task, batch))
    report = classification_report(labels, preds, TASK_LABELS[task])
    report = {"task": task, "model_version": scorer.version, **report}
    report["posts_per_s"] = round(len(texts) / elapsed, 1) if elapsed > 0 else None
    return report
