"""Scoring behind a small, stable interface: sentiment, intent/actionability, urgency cues and clout.

The modules at this level are the scoring path a worker loads: the interface and labels (:mod:`.base`,
labels from :mod:`schemas.scores`), model files and the scorer (:mod:`.model`), features (:mod:`.features`,
:mod:`.valence`, :mod:`.wordvectors`), the linear heads (:mod:`.linear`), the optional embedding stage's
prediction (:mod:`.embeddings`), rules (:mod:`.lexicon`) and clout (:mod:`.clout`). They need numpy and
scipy, never scikit-learn or torch. Making models (training, evaluation, the corpus, the word-vector table,
the encoder, ``triage train/evaluate``) is :mod:`classifiers.training`, which scoring does not import.
"""

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

    Called once per worker at start-up; the result is reused for every frame. A directory written by
    ``triage train`` holds one head (sentiment or intent); the other head comes from the shipped default.
    Raises ``FileNotFoundError``/``ValueError`` for a directory that is not a model.
    """
    from classifiers.model import DEFAULT_MODEL_DIR, ModelScorer, load_model

    default = load_model(DEFAULT_MODEL_DIR)
    if model_dir is None:
        return ModelScorer(default, default)
    model = load_model(model_dir)
    if not model.heads:
        raise ValueError(f"{model_dir}: model has no heads")
    sentiment = model if "sentiment" in model.heads else default
    intent = model if "intent" in model.heads else default
    return ModelScorer(sentiment, intent, intent_base=default)
