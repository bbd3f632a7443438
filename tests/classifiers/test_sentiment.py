"""Sentiment behaviour of the shipped model that a care team relies on."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers import SENTIMENT_LABELS, load_scorer
from classifiers.base import TextScorer


@pytest.fixture(scope="module")
def scorer() -> TextScorer:
    return load_scorer()


@pytest.mark.parametrize(
    "text",
    [
        "@NovaTel worst service ever, three weeks without internet and nobody cares 😡",
        "I hate this, absolutely terrible experience",
        "so disappointed with @ThreadMart, my order is ruined",
    ],
)
def test_clearly_negative_posts_are_negative(scorer: TextScorer, text: str) -> None:
    assert scorer.score([text]).sentiment == ["negative"]


@pytest.mark.parametrize(
    "text",
    [
        "@DashBite the driver was lovely and the food was amazing, thank you! 😍",
        "Best concert ever, what a night!!",
        "so happy with my new phone, love it ❤️",
    ],
)
def test_clearly_positive_posts_are_positive(scorer: TextScorer, text: str) -> None:
    assert scorer.score([text]).sentiment == ["positive"]


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("the service was good", "the service was not good"),
        ("I am happy with the update", "I am not happy with the update"),
        ("this app is great", "this app isn't great"),
    ],
)
def test_negation_flips_the_balance(scorer: TextScorer, plain: str, negated: str) -> None:
    batch = scorer.score([plain, negated])
    pos, neg = SENTIMENT_LABELS.index("positive"), SENTIMENT_LABELS.index("negative")
    margin = batch.sentiment_proba[:, pos] - batch.sentiment_proba[:, neg]
    assert margin[0] > 0 > margin[1]


def test_negated_negative_is_not_negative(scorer: TextScorer) -> None:
    batch = scorer.score(["the food was bad", "the food was not bad at all"])
    assert batch.negativity[1] < batch.negativity[0]


def test_emoji_carry_sentiment(scorer: TextScorer) -> None:
    batch = scorer.score(["my parcel arrived 😍🙌", "my parcel arrived 😡🤬"])
    assert batch.sentiment == ["positive", "negative"]


def test_probabilities_are_well_formed_for_any_input(scorer: TextScorer) -> None:
    texts = ["", "   ", "🙂", "http://x.co/abc", "@a @b #c", "a" * 5000, "¿qué tal?", "\n\n"]
    batch = scorer.score(texts, ["en", None, None, None, None, None, "es", None])
    assert batch.sentiment_proba.shape == (len(texts), 3)
    assert np.allclose(batch.sentiment_proba.sum(axis=1), 1.0)
    assert np.allclose(batch.intent_proba.sum(axis=1), 1.0)
    assert len(batch.reasons) == len(texts) == len(batch.urgency)


def test_non_english_posts_use_their_own_words(scorer: TextScorer) -> None:
    batch = scorer.score(
        [
            "@VoltMobile el servicio es pésimo, llevo una hora esperando",
            "@VoltMobile ¡gracias, excelente servicio!",
        ],
        ["es", "es"],
    )
    assert batch.sentiment == ["negative", "positive"]
