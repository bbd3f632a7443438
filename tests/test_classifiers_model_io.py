"""Model files: safe format, metadata, identical outputs after a round trip, head combination."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifiers import INTENT_LABELS, load_scorer
from classifiers.dataset import LabelledData
from classifiers.model import DEFAULT_MODEL_DIR, ModelScorer, load_model
from classifiers.train import train_task

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
