"""Train models: the shipped default (from the project's corpus) and a user's own (``triage train``).

Both paths fit the same featurizer and linear heads. Before the final fit on all rows, a seeded 20% hold-out
is scored so the model's metadata carries honest figures on posts it did not see.

Rebuild the shipped model: ``python -m classifiers.train`` (reads ``classifiers/data/corpus.csv.gz``,
writes ``classifiers/models/default/``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from classifiers.base import INTENT_LABELS, SENTIMENT_LABELS
from classifiers.corpus.generate import CORPUS_PATH
from classifiers.dataset import DataError, LabelledData, read_labelled
from classifiers.embeddings import Encoder, SecondStage, get_encoder
from classifiers.evaluate import classification_report
from classifiers.features import Featurizer
from classifiers.linear import LinearHead, class_arrays, fit_head
from classifiers.model import BINARY_INTENT_LABELS, DEFAULT_MODEL_DIR, TrainedModel
from classifiers.wordvectors import load_word_vectors

__all__ = ["HYPERPARAMETERS", "SECOND_STAGE", "intent_classes", "train_default", "train_task"]

#: Chosen once, by reasoning rather than by search on any evaluation set (see MODEL_CARD.md).
HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    # The corpus over-represents complaints (negative); reweight to the mix of a public stream.
    "sentiment": {
        "c": 0.3,
        "dense_scale": 3.0,
        "class_prior": {"negative": 0.2, "neutral": 0.45, "positive": 0.35},
    },
    "intent": {"c": 1.0, "dense_scale": 1.0, "class_prior": None},
}
#: Mean static MiniLM word vector of the content words as 64 more dense inputs (classifiers/wordvectors.py).
USE_WORD_VECTORS = True
HOLDOUT = 0.2
SEED = 13
#: Weight of each project-corpus post mixed into a user's training set: the user's posts teach their
#: domain, the corpus keeps the generic knowledge (slang, negation, emoji, hidden complaints).
CORPUS_WEIGHT = 0.3
#: The optional embedding stage (``--embeddings``), fixed by reasoning, not searched: sklearn's default C,
#: classes balanced because the figure that matters is macro-F1, first-stage logits scaled so their
#: penalty matches one unit-norm embedding, and only posts the first stage gives < 0.9 are re-scored.
SECOND_STAGE: dict[str, Any] = {
    "c": 1.0,
    "class_weight": "balanced",
    "stack_scale": 0.7,
    "confident_above": 0.9,
    "folds": 5,
}


def _featurizer() -> Featurizer:
    """Every model trained from now on carries the static word-vector block (see wordvectors.py)."""
    return Featurizer(word_vectors=load_word_vectors()) if USE_WORD_VECTORS else Featurizer()


def intent_classes(labels: Sequence[str]) -> tuple[str, ...]:
    """The intent head's classes: the full taxonomy, or the binary complaint/not_complaint view."""
    present = set(labels)
    if present <= set(BINARY_INTENT_LABELS):
        return BINARY_INTENT_LABELS
    if present <= set(INTENT_LABELS):
        return INTENT_LABELS
    raise DataError(
        f"intent labels must be all from {list(INTENT_LABELS)} or all from {list(BINARY_INTENT_LABELS)}; "
        f"got {sorted(present)}"
    )


def _split(n: int, seed: int = SEED) -> tuple[list[int], list[int]]:
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    k = int(n * HOLDOUT)
    return sorted(idx[k:]), sorted(idx[:k])


def _take(seq: Sequence[Any] | None, idx: Sequence[int]) -> list[Any] | None:
    return None if seq is None else [seq[i] for i in idx]


def _corpus_rows(task: str, classes: tuple[str, ...]) -> tuple[list[str], list[str], list[str | None]]:
    """The project corpus relabelled into ``classes`` (complaint vs the rest for the binary intent view)."""
    col = "sentiment" if task == "sentiment" else "intent"
    allowed = SENTIMENT_LABELS if task == "sentiment" else INTENT_LABELS
    data = read_labelled(CORPUS_PATH, allowed, label_col=col)
    labels = data.labels
    if classes == BINARY_INTENT_LABELS:
        labels = ["complaint" if lab == "complaint" else "not_complaint" for lab in labels]
    return data.texts, labels, list(data.langs or [None] * len(data))


def _fit(
    task: str, texts: Sequence[str], labels: Sequence[str], langs: Sequence[str | None] | None,
    classes: tuple[str, ...], featurizer: Featurizer | None = None, with_corpus: bool = False,
) -> tuple[Featurizer, LinearHead]:  # fmt: skip
    weights = [1.0] * len(texts)
    if with_corpus:
        c_texts, c_labels, c_langs = _corpus_rows(task, classes)
        langs = list(langs or [None] * len(texts)) + c_langs
        texts, labels = list(texts) + c_texts, list(labels) + c_labels
        weights += [CORPUS_WEIGHT] * len(c_texts)
    f = featurizer or _featurizer().fit_vocab(texts, langs)
    hp = HYPERPARAMETERS[task]
    head = fit_head(
        f.transform(texts, langs),
        labels,
        classes=classes,
        c=hp["c"],
        dense_scale=hp["dense_scale"],
        class_prior=hp["class_prior"],
        sample_weight=weights,
    )
    return f, head


def _fit_second_stage(
    task: str, texts: Sequence[str], labels: Sequence[str], langs: Sequence[str | None] | None,
    classes: tuple[str, ...], emb: np.ndarray, encoder: Encoder,
) -> SecondStage:  # fmt: skip
    """Embedding head stacked on out-of-fold first-stage logits (so it learns how far to trust them)."""
    from sklearn.model_selection import StratifiedKFold

    counts = _counts(labels)
    folds = min(SECOND_STAGE["folds"], min(counts.values()))
    if len(counts) < 2 or folds < 2:
        raise DataError(f"--embeddings needs at least 2 posts of each label, got {counts}")
    oof = np.zeros((len(texts), len(classes)), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    for tr_arr, te_arr in splitter.split(np.zeros(len(labels)), np.asarray(labels)):
        tr, te = tr_arr.tolist(), te_arr.tolist()
        f, head = _fit(task, [texts[i] for i in tr], [labels[i] for i in tr], _take(langs, tr), classes,
                       with_corpus=True)  # fmt: skip
        oof[te_arr] = head.logits(f.transform([texts[i] for i in te], _take(langs, te)))
    stage = SecondStage(
        classes, np.zeros((0, 0)), np.zeros(0), encoder.name, encoder.dim,
        float(SECOND_STAGE["stack_scale"]), float(SECOND_STAGE["confident_above"]),
    )  # fmt: skip
    x = stage.inputs(emb, oof)
    model = LogisticRegression(C=SECOND_STAGE["c"], max_iter=3000, class_weight=SECOND_STAGE["class_weight"])
    model.fit(x, np.asarray(labels))
    coef, intercept = class_arrays(model, classes, x.shape[1])
    return SecondStage(classes, coef, intercept, encoder.name, encoder.dim, stage.stack_scale,
                       stage.confident_above)  # fmt: skip


def _holdout_metrics(
    task: str, texts: Sequence[str], labels: Sequence[str], langs: Sequence[str | None] | None,
    classes: tuple[str, ...], with_corpus: bool = False,
    emb: np.ndarray | None = None, encoder: Encoder | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """Fit on 80%, report on the other 20% (None when the data is too small to say anything)."""
    if len(texts) < 50:
        return None
    tr, te = _split(len(texts))
    tr_labels = [labels[i] for i in tr]
    if len(set(tr_labels)) < 2:
        return None
    tr_texts = [texts[i] for i in tr]
    f, head = _fit(task, tr_texts, tr_labels, _take(langs, tr), classes, with_corpus=with_corpus)
    te_texts = [texts[i] for i in te]
    logits = head.logits(f.transform(te_texts, _take(langs, te)))
    if emb is not None and encoder is not None:
        try:
            stage = _fit_second_stage(task, tr_texts, tr_labels, _take(langs, tr), classes, emb[tr], encoder)
        except DataError:
            return None
        pred = stage.refine(logits, te_texts, _Cached(emb[te], te_texts))[0].argmax(axis=1)
    else:
        pred = logits.argmax(axis=1)
    report = classification_report([labels[i] for i in te], [classes[j] for j in pred], classes)
    report.pop("confusion_matrix")
    return {"split": f"seeded {int(HOLDOUT * 100)}% hold-out", **report}


class _Cached:
    """An encoder that returns already-computed embeddings (the hold-out posts were encoded once)."""

    def __init__(self, emb: np.ndarray, texts: Sequence[str]) -> None:
        self.name, self.version, self.dim = "cached", "", emb.shape[1]
        self._rows = {t: emb[i] for i, t in enumerate(texts)}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._rows[t] for t in texts]) if texts else np.zeros((0, self.dim))


def train_task(
    task: str, data: LabelledData, embeddings: bool = False, encoder: Encoder | None = None
) -> TrainedModel:
    """A one-head model from a user's labelled data (``triage train``).

    ``embeddings`` adds the sentence-embedding second stage (needs the ``embeddings`` extra; see
    :mod:`classifiers.embeddings` for its cost). ``encoder`` overrides the process-wide one.
    """
    if task == "sentiment":
        classes: tuple[str, ...] = SENTIMENT_LABELS
    elif task == "intent":
        classes = intent_classes(data.labels)
    else:
        raise ValueError(f"unknown task {task!r}")
    if len(set(data.labels)) < 2:
        raise DataError(
            f"{data.path}: need at least two different labels to train, got {sorted(set(data.labels))}"
        )
    emb = None
    if embeddings:
        encoder = encoder or get_encoder()
        emb = encoder.encode(data.texts)
    metrics = _holdout_metrics(
        task, data.texts, data.labels, data.langs, classes, with_corpus=True, emb=emb, encoder=encoder
    )
    featurizer, head = _fit(task, data.texts, data.labels, data.langs, classes, with_corpus=True)
    stages: dict[str, SecondStage] = {}
    head_meta: dict[str, Any] = {
        "metrics": metrics,
        "hyperparameters": _hp(task),
        "label_counts": _counts(data.labels),
    }
    if emb is not None and encoder is not None:
        stages[task] = _fit_second_stage(task, data.texts, data.labels, data.langs, classes, emb, encoder)
        head_meta["second_stage"] = {
            "encoder": encoder.name,
            "encoder_version": encoder.version,
            "dim": encoder.dim,
            "inputs": "sentence embedding + first-stage centred logits x stack_scale",
            **SECOND_STAGE,
        }
    meta = {
        "version": f"{task}-{data.sha256[:12]}{_wv_tag(featurizer)}{'-emb' if stages else ''}",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "training_data": {"path": data.path, "sha256": data.sha256, "rows": len(data)},
        "corpus_mixed_in": {"sha256": _corpus_sha(), "weight": CORPUS_WEIGHT},
        "heads": {task: head_meta},
    }
    return TrainedModel(featurizer, {task: head}, meta, stages)


def _wv_tag(featurizer: Featurizer) -> str:
    """Version suffix naming the word-vector table, so a rebuilt table gives a new model version."""
    wv = featurizer.word_vectors
    return f"-wv{wv.sha256[:6]}" if wv is not None else ""


def _corpus_sha() -> str:
    import hashlib

    return hashlib.sha256(CORPUS_PATH.read_bytes()).hexdigest()


def _hp(task: str) -> dict[str, Any]:
    return dict(HYPERPARAMETERS[task])


def _counts(labels: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for lab in labels:
        out[lab] = out.get(lab, 0) + 1
    return dict(sorted(out.items()))


def train_default(corpus: Path = CORPUS_PATH, out_dir: Path = DEFAULT_MODEL_DIR) -> TrainedModel:
    """Both heads on the project's corpus, sharing one vocabulary (one featurisation per batch)."""
    sent = read_labelled(corpus, SENTIMENT_LABELS, label_col="sentiment")
    intent = read_labelled(corpus, INTENT_LABELS, label_col="intent")
    if sent.texts != intent.texts:
        raise DataError(f"{corpus}: sentiment and intent rows differ")
    texts, langs = sent.texts, sent.langs
    featurizer = _featurizer().fit_vocab(texts, langs)
    heads: dict[str, Any] = {}
    heads_meta: dict[str, Any] = {}
    for task, data, classes in (("sentiment", sent, SENTIMENT_LABELS), ("intent", intent, INTENT_LABELS)):
        heads_meta[task] = {
            "metrics": _holdout_metrics(task, texts, data.labels, langs, classes),
            "hyperparameters": _hp(task),
            "label_counts": _counts(data.labels),
        }
        _, heads[task] = _fit(task, texts, data.labels, langs, classes, featurizer)
    meta = {
        "version": f"default-{sent.sha256[:12]}{_wv_tag(featurizer)}",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "training_data": {"path": "classifiers/data/corpus.csv.gz", "sha256": sent.sha256, "rows": len(sent)},
        "heads": heads_meta,
    }
    model = TrainedModel(featurizer, heads, meta)
    model.save(out_dir)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild the shipped default model from the project corpus.")
    parser.add_argument("--corpus", type=Path, default=CORPUS_PATH)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args()
    model = train_default(args.corpus, args.out)
    for task, h in model.meta["heads"].items():
        m = h["metrics"]
        print(f"{task}: hold-out macro_f1={m['macro_f1']} macro_recall={m['macro_recall']} n={m['n']}")
    print(f"wrote {args.out} ({model.version}, vocab {model.featurizer.n_sparse})")


if __name__ == "__main__":
    main()
