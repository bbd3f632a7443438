"""The small, stable interface between the pipeline and whatever does the scoring.

The pipeline only ever calls :meth:`TextScorer.score` on a *batch* of texts: per-call costs (vectoriser
set-up, model dispatch) dominate at batch size 1, so the interface makes the batched path the only path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "ACTIONABLE_INTENTS",
    "INTENT_LABELS",
    "SENTIMENT_LABELS",
    "URGENCY_CUES",
    "ScoreBatch",
    "TextScorer",
]

SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

#: Customer-care intent taxonomy. complaint/question/request need an answer; the rest do not.
INTENT_LABELS: tuple[str, ...] = ("complaint", "question", "request", "praise", "promo", "chatter")
ACTIONABLE_INTENTS: frozenset[str] = frozenset({"complaint", "question", "request"})

#: Cues that raise priority or escalate, whatever the intent.
URGENCY_CUES: tuple[str, ...] = ("safety", "legal_threat", "churn_threat", "outage", "press")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ScoreBatch:
    """Scores for ``n`` texts, column order fixed by the label tuples above."""

    sentiment_proba: FloatArray  # shape (n, 3), SENTIMENT_LABELS order, rows sum to 1
    intent_proba: FloatArray  # shape (n, 6), INTENT_LABELS order, rows sum to 1
    urgency: list[tuple[str, ...]]  # cues fired per text (subset of URGENCY_CUES)
    reasons: list[tuple[str, ...]]  # human-readable reasons per text: top features or rules fired
    model_version: str = "unknown"
    _actionable_idx: list[int] = field(
        default_factory=lambda: [INTENT_LABELS.index(i) for i in sorted(ACTIONABLE_INTENTS)], repr=False
    )

    def __len__(self) -> int:
        return int(self.sentiment_proba.shape[0])

    @property
    def sentiment(self) -> list[str]:
        return [SENTIMENT_LABELS[i] for i in self.sentiment_proba.argmax(axis=1)]

    @property
    def intent(self) -> list[str]:
        return [INTENT_LABELS[i] for i in self.intent_proba.argmax(axis=1)]

    @property
    def actionable_proba(self) -> FloatArray:
        """P(actionable) = total probability of the intents that need an answer."""
        return np.asarray(self.intent_proba[:, self._actionable_idx].sum(axis=1), dtype=np.float64)

    @property
    def negativity(self) -> FloatArray:
        return np.asarray(self.sentiment_proba[:, 0], dtype=np.float64)


@runtime_checkable
class TextScorer(Protocol):
    """Anything that scores a batch of post texts. Loaded once per worker, then called per frame."""

    version: str

    def score(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> ScoreBatch:
        """Score ``texts`` (``langs`` are ISO 639-1 codes where known, for language-aware models)."""
        ...
