"""Intent, actionability, urgency cues and reasons: what routes a post to an agent."""

from __future__ import annotations

import pytest

from classifiers import load_scorer
from classifiers.base import TextScorer


@pytest.fixture(scope="module")
def scorer() -> TextScorer:
    return load_scorer()


COMPLAINTS = [
    "@SkyBridgeAir my flight was cancelled and nobody will tell me how to get a refund",
    "@NovaTel internet has been down for 3 days, this is unacceptable",
    "@DashBite my order never arrived and you still charged me",
    "@MeridianBank why has my card been declined again?? there's money in the account",
]
PRAISE = [
    "@DashBite the driver was so friendly, great service!",
    "Huge thanks to @NovaTel, the technician fixed everything in minutes 👏",
    "@ThreadMart love my new jacket, fits perfectly",
]


@pytest.mark.parametrize("text", COMPLAINTS)
def test_clear_complaints_are_actionable_complaints(scorer: TextScorer, text: str) -> None:
    batch = scorer.score([text])
    assert batch.intent == ["complaint"]
    assert batch.actionable_proba[0] > 0.7


@pytest.mark.parametrize("text", PRAISE)
def test_clear_praise_is_not_actionable(scorer: TextScorer, text: str) -> None:
    batch = scorer.score([text])
    assert batch.intent == ["praise"]
    assert batch.actionable_proba[0] < 0.3


@pytest.mark.parametrize(
    "text",
    [
        "@SkyBridgeAir hi, what's the baggage allowance on a basic fare?",
        "@ThreadMart do you deliver to Dublin?",
    ],
)
def test_a_question_to_a_brand_is_actionable_without_being_a_complaint(scorer: TextScorer, text: str) -> None:
    batch = scorer.score([text])
    assert batch.intent == ["question"]
    assert batch.actionable_proba[0] > 0.5
    assert batch.intent_proba[0, 0] < 0.5


def test_requests_are_actionable(scorer: TextScorer) -> None:
    batch = scorer.score(["@StreamPix please cancel my subscription, thanks"])
    assert batch.intent == ["request"]
    assert batch.actionable_proba[0] > 0.5


def test_spam_and_chatter_are_not_actionable(scorer: TextScorer) -> None:
    batch = scorer.score(
        [
            "WIN a new phone! follow us and retweet to enter #giveaway https://t.co/abc123",
            "watching the match tonight with my brother",
        ]
    )
    assert batch.intent == ["promo", "chatter"]
    assert (batch.actionable_proba < 0.5).all()


def test_sarcastic_praise_of_a_failure_is_a_complaint(scorer: TextScorer) -> None:
    batch = scorer.score(["Great, my flight is delayed 4 hours again. Thanks @SkyBridgeAir 🙄"])
    assert batch.intent == ["complaint"]
    assert batch.sentiment == ["negative"]


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("@BrightGrid there's smoke coming out of the meter, is it dangerous?", "safety"),
        ("@MeridianBank sort this out or I'm speaking to my lawyer", "legal_threat"),
        ("@NovaTel that's it, I'm switching to another provider", "churn_threat"),
        ("@PlayVerse servers are down again", "outage"),
        ("@SkyBridgeAir I'm a journalist writing a story about your delays, who can I talk to?", "press"),
    ],
)
def test_urgency_cues_fire(scorer: TextScorer, text: str, cue: str) -> None:
    batch = scorer.score([text, "lovely weather today"])
    assert cue in batch.urgency[0]
    assert f"cue {cue}" in batch.reasons[0]
    assert batch.urgency[1] == ()


def test_every_score_explains_itself(scorer: TextScorer) -> None:
    batch = scorer.score(["@NovaTel internet down again and still waiting for the engineer, awful"])
    reasons = batch.reasons[0]
    assert reasons[0].startswith("sentiment negative")
    assert reasons[1].startswith("intent complaint")
    assert any(r.startswith("lexicon ") and "awful" in r for r in reasons)
    assert "no strong words" not in reasons[1]


def test_explaining_only_some_posts_gives_them_the_same_reasons(scorer: TextScorer) -> None:
    """The pipeline explains only the posts that become tickets; their reasons and cues must be the ones a
    whole-batch explanation gives, whichever rows are asked for first."""
    texts = [*COMPLAINTS, *PRAISE, "@PlayVerse servers are down again", "lovely weather today"]
    whole = scorer.score(texts)
    expected = (list(whole.reasons), list(whole.urgency))
    some = scorer.score(texts)
    some.explain([0, 7, 3])
    assert [some.reasons[i] for i in (7, 0, 3)] == [expected[0][i] for i in (7, 0, 3)]
    assert some.urgency[7] == ("outage",)
    assert (list(some.reasons), list(some.urgency)) == expected
    assert some.reasons[-1] == expected[0][-1]
    with pytest.raises(IndexError):
        some.reasons[len(texts)]
