"""What the classifiers concluded about a post, with the reasons, so a ticket can explain itself."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Intent", "Scores", "Sentiment"]

Sentiment = Literal["negative", "neutral", "positive"]
Intent = Literal["complaint", "question", "request", "praise", "promo", "chatter"]


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
