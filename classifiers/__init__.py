"""Scoring behind a small, stable interface: sentiment, intent/actionability, urgency cues and clout."""

from __future__ import annotations

from pathlib import Path

from classifiers.base import (
    ACTIONABLE_INTENTS,
    INTENT_LABELS,
    SENTIMENT_LABELS,
    URGENCY_CUES,
    ScoreBatch,
    TextScorer,
)
from classifiers.clout import clout_reasons, clout_scores
from classifiers.lexicon import LexiconScorer

__all__ = [
    "ACTIONABLE_INTENTS",
    "INTENT_LABELS",
    "SENTIMENT_LABELS",
    "URGENCY_CUES",
    "LexiconScorer",
    "ScoreBatch",
    "TextScorer",
    "clout_reasons",
    "clout_scores",
    "load_scorer",
]


def load_scorer(model_dir: str | Path | None = None) -> TextScorer:
    """The scorer a worker uses: the model in ``model_dir`` if given, else the shipped default.

    Called once per worker at start-up; the result is reused for every frame.
    """
    if model_dir is not None:
        raise FileNotFoundError(f"no trained model support yet for {model_dir!s}")
    return LexiconScorer()
