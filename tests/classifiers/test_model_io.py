"""Model files: safe format, metadata, identical outputs after a round trip, head combination."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifiers import INTENT_LABELS, load_scorer
from classifiers.features import Featurizer
from classifiers.model import DEFAULT_MODEL_DIR, ModelScorer, load_model
from classifiers.training.dataset import LabelledData
from classifiers.training.train import train_task

TEXTS = [
    "@NovaTel no signal for two days now, sort it out",
    "@ThreadMart do you deliver to Leeds?",
    "@DashBite amazing food as always, thank you!",
    "watching the match tonight",
    "use code SAVE20 for 20% off https://t.co/xyz",
    "ce service est nul, je suis très déçu",
]
LANGS = ["en", "en", "en", "en", "en", "fr"]


def test_shipped_model_metadata_is_complete() -> None:
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    assert meta["format_version"] == 1
    assert meta["version"].startswith("default-")
    assert len(meta["training_data"]["sha256"]) == 64
    assert meta["created"]
    assert set(meta["heads"]) == {"sentiment", "intent"}
    assert meta["heads"]["intent"]["classes"] == list(INTENT_LABELS)
    for head in meta["heads"].values():
        assert 0.0 < head["metrics"]["macro_f1"] <= 1.0


def test_model_arrays_load_without_pickle() -> None:
    with np.load(DEFAULT_MODEL_DIR / "model.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)


def test_round_trip_gives_identical_scores(tmp_path: Path) -> None:
    model = load_model(DEFAULT_MODEL_DIR)
    model.save(tmp_path / "copy")
    a = ModelScorer(model, model).score(TEXTS, LANGS)
    b = load_scorer(tmp_path / "copy").score(TEXTS, LANGS)
    assert np.array_equal(a.sentiment_proba, b.sentiment_proba)
    assert np.array_equal(a.intent_proba, b.intent_proba)
    assert a.reasons == b.reasons
    assert a.urgency == b.urgency
    assert a.model_version == b.model_version == model.version


def test_load_scorer_refuses_what_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_scorer(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"format": "pickle", "format_version": 1}))
    (tmp_path / "model.npz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="unsupported model format"):
        load_scorer(tmp_path)


def _tiny(labels: list[str], texts: list[str]) -> LabelledData:
    return LabelledData(texts, labels, None, "0" * 64, "inline")


def test_a_binary_intent_model_combines_with_the_default(tmp_path: Path) -> None:
    texts = [
        "@Air my bag is lost and nobody answers",
        "@Air flight delayed 5 hours, awful",
        "@Air hi, can I bring a guitar?",
        "@Air thanks for a lovely flight",
    ] * 5
    labels = ["complaint", "complaint", "not_complaint", "not_complaint"] * 5
    train_task("intent", _tiny(labels, texts)).save(tmp_path / "intent")
    scorer = load_scorer(tmp_path / "intent")
    default = load_scorer()
    batch = scorer.score(TEXTS, LANGS)
    assert np.allclose(batch.intent_proba.sum(axis=1), 1.0)
    # sentiment comes from the default model, unchanged
    assert np.array_equal(batch.sentiment_proba, default.score(TEXTS, LANGS).sentiment_proba)
    assert batch.intent_proba[0, 0] > 0.5 > batch.intent_proba[2, 0]
    assert batch.intent[1] == "question"  # the non-complaint mass is split the default model's way


def test_a_sentiment_only_model_keeps_the_default_intent(tmp_path: Path) -> None:
    texts = ["awful, hate it", "fine I guess", "love it, brilliant"] * 6
    labels = ["negative", "neutral", "positive"] * 6
    train_task("sentiment", _tiny(labels, texts)).save(tmp_path / "sent")
    batch = load_scorer(tmp_path / "sent").score(TEXTS, LANGS)
    assert np.array_equal(batch.intent_proba, load_scorer().score(TEXTS, LANGS).intent_proba)
    meta = json.loads((tmp_path / "sent" / "model.json").read_text())
    assert set(meta["heads"]) == {"sentiment"}
    assert meta["training_data"]["rows"] == len(texts)


def test_word_vector_table_is_safe_and_recorded() -> None:
    from classifiers.wordvectors import WORDVEC_PATH, load_word_vectors

    with np.load(WORDVEC_PATH, allow_pickle=False) as npz:
        assert npz["words"].dtype.kind == "U" and npz["vectors"].dtype == np.float16
    side = json.loads(WORDVEC_PATH.with_suffix(".json").read_text())
    wv = load_word_vectors()
    assert side["sha256"] == wv.sha256 and side["dims"] == wv.dims == side["pca_dims"] + wv.pooled
    assert side["pca_dims"] == 64 and wv.proj_classes == tuple(side["task_columns"]["classes"])
    assert set(wv.proj_classes) == set(INTENT_LABELS)
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    assert meta["word_vectors"]["sha256"] == wv.sha256
    assert meta["version"].endswith(f"-wv{wv.sha256[:6]}")
    # mean of every column, plus the max of the distilled task columns
    assert len(meta["dense_features"]) == 11 + wv.dims + wv.pooled
    assert meta["dense_features"][-1] == f"wordprojmax_{wv.proj_classes[-1]}"


def test_distilled_task_columns_are_mean_and_max_pooled() -> None:
    """The teacher's per-word intent logits enter a post as their mean and their max over its words."""
    from classifiers.features import DENSE_NAMES
    from classifiers.wordvectors import load_word_vectors

    wv = load_word_vectors()
    f = Featurizer(word_vectors=wv)
    words = ["refund", "parcel", "lovely"]
    assert all(w in wv.index for w in words)
    rows = wv.vectors[[wv.index[w] for w in words]]
    feats = f.transform([" ".join(words), "the and of", ""])
    k, base = wv.pooled, len(DENSE_NAMES)
    dense = feats.dense
    assert dense.shape == (3, base + wv.dims + k)
    np.testing.assert_allclose(dense[0, base : base + wv.dims], rows.mean(axis=0))
    np.testing.assert_allclose(dense[0, base + wv.dims :], rows[:, -k:].max(axis=0))
    assert not dense[1:, base:].any()  # no content word: the whole block is zero


def test_a_model_built_on_another_word_vector_table_is_refused(tmp_path: Path) -> None:
    load_model(DEFAULT_MODEL_DIR).save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["word_vectors"]["sha256"] = "0" * 64
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="different word-vector table"):
        load_scorer(tmp_path / "m")


def test_unseen_words_move_the_score_through_word_vectors() -> None:
    """Words the corpus never had still count: their vectors sit near words it had."""
    model = load_model(DEFAULT_MODEL_DIR)
    vocab = set(model.featurizer.vocab_list)
    unseen = [
        w for w in ("overdue", "dreadful", "marvellous") if w not in vocab and w in model.featurizer._wv_index
    ]
    assert unseen, "pick words outside the corpus vocabulary"
    block = model.featurizer.transform([f"my parcel is {w}" for w in unseen]).dense[:, 11:]
    assert np.abs(block).sum(axis=1).min() > 0


def test_an_empty_batch_scores_to_an_empty_batch() -> None:
    batch = load_scorer().score([])
    assert len(batch) == 0 and batch.intent_proba.shape == (0, len(INTENT_LABELS))


def test_models_saved_before_word_vectors_still_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's model directory from the previous release (11 dense features, no table) keeps working."""
    monkeypatch.setattr("classifiers.training.train.USE_WORD_VECTORS", False)
    texts = [
        "@Air my bag is lost",
        "@Air flight delayed 5 hours",
        "@Air hi, can I bring a guitar?",
        "hello",
    ] * 5
    labels = ["complaint", "complaint", "not_complaint", "not_complaint"] * 5
    train_task("intent", _tiny(labels, texts)).save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "model.json").read_text())
    assert "word_vectors" not in meta and len(meta["dense_features"]) == 11 and meta["format_version"] == 1
    batch = load_scorer(tmp_path / "old").score(TEXTS, LANGS)
    assert batch.intent_proba[0, 0] > 0.5 > batch.intent_proba[2, 0]


def test_label_sets_are_the_contracts() -> None:
    """One definition: the classifiers' label tuples are schemas/scores.py's, in the Literal types' order."""
    from typing import get_args

    import classifiers
    from classifiers.lexicon import URGENCY_PATTERNS
    from schemas import scores

    assert classifiers.SENTIMENT_LABELS is scores.SENTIMENT_LABELS == get_args(scores.Sentiment)
    assert classifiers.INTENT_LABELS is scores.INTENT_LABELS == get_args(scores.Intent)
    assert classifiers.ACTIONABLE_INTENTS is scores.ACTIONABLE_INTENTS
    assert classifiers.URGENCY_CUES is scores.URGENCY_CUES == tuple(URGENCY_PATTERNS)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_head_arrays_score_exactly_as_the_fitted_estimator(n_classes: int) -> None:
    """Scoring is numpy on the saved weights; it must give what scikit-learn's predict_proba gives."""
    from sklearn.linear_model import LogisticRegression

    from classifiers.linear import softmax
    from classifiers.training.fit import class_arrays

    rng = np.random.default_rng(7)
    x = rng.normal(size=(120, 5))
    names = ("a", "b", "c")[:n_classes]
    y = np.asarray([names[i] for i in (x[:, :n_classes] + rng.normal(size=(120, n_classes))).argmax(axis=1)])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    order = tuple(reversed(names))  # a class order other than the estimator's
    coef, intercept = class_arrays(model, order, x.shape[1])
    expected = model.predict_proba(x)[:, [list(model.classes_).index(c) for c in order]]
    np.testing.assert_allclose(softmax(x @ coef + intercept), expected, rtol=0, atol=1e-12)
