"""What the classifiers concluded about a post, with the reasons, so a ticket can explain itself.

Also the one definition of the label sets (sentiment, intent, urgency cues, which intents need an answer):
they are part of the contract between the classifiers, which produce them, and everything downstream that
reads them (rules, priority, tickets). :mod:`classifiers` imports them from here; the tuples are derived
from the ``Literal`` types, so the two cannot drift apart, and their order is the column order of the
classifiers' probability arrays.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ACTIONABLE_INTENTS",
    "INTENT_LABELS",
    "SENTIMENT_LABELS",
    "URGENCY_CUES",
    "Intent",
    "Scores",
    "Sentiment",
    "UrgencyCue",
]

Sentiment = Literal["negative", "neutral", "positive"]
Intent = Literal["complaint", "question", "request", "praise", "promo", "chatter"]
#: Cues that raise priority or escalate, whatever the intent.
UrgencyCue = Literal["safety", "legal_threat", "churn_threat", "outage", "press"]

SENTIMENT_LABELS: tuple[Sentiment, ...] = get_args(Sentiment)
#: Customer-care intent taxonomy. complaint/question/request need an answer; the rest do not.
INTENT_LABELS: tuple[Intent, ...] = get_args(Intent)
ACTIONABLE_INTENTS: frozenset[Intent] = frozenset({"complaint", "question", "request"})
URGENCY_CUES: tuple[UrgencyCue, ...] = get_args(UrgencyCue)


class Scores(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sentiment: Sentiment
    negativity: float = Field(ge=0.0, le=1.0, description="P(negative tone).")
    intent: Intent
    intent_confidence: float = Field(ge=0.0, le=1.0)
    actionable: bool
    actionable_proba: float = Field(ge=0.0, le=1.0, description="P(post needs an answer).")
    clout: float = Field(ge=0.0, le=100.0, description="Author reach, 0-100, log-scaled.")
    urgency: list[str] = Field(
        default_factory=list, description="Urgency cues fired (safety, legal_threat...)."
    )
    reasons: list[str] = Field(default_factory=list, description="Features or rules behind the scores.")
    model_version: str = "unknown"
