"""The small, stable interface between the pipeline and whatever does the scoring.

The pipeline only ever calls :meth:`TextScorer.score` on a *batch* of texts: per-call costs (vectoriser
set-up, model dispatch) dominate at batch size 1, so the interface makes the batched path the only path.
The label sets are the contract's (:mod:`schemas.scores`), re-exported here; their order is the column
order of :class:`ScoreBatch`'s arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, overload, runtime_checkable

import numpy as np
import numpy.typing as npt

from schemas.scores import ACTIONABLE_INTENTS, INTENT_LABELS, SENTIMENT_LABELS, URGENCY_CUES

__all__ = [
    "ACTIONABLE_INTENTS",
    "BINARY_INTENT_LABELS",
    "INTENT_LABELS",
    "SENTIMENT_LABELS",
    "URGENCY_CUES",
    "Explanations",
    "ScoreBatch",
    "TextScorer",
]

#: The classes of an intent head trained on complaint/not_complaint labels (``triage train``). Scores keep
#: the ``INTENT_LABELS`` columns whatever the head: such a head fills the ``complaint`` column.
BINARY_INTENT_LABELS: tuple[str, ...] = ("complaint", "not_complaint")

FloatArray = npt.NDArray[np.float64]


Cues = tuple[str, ...]
Explained = tuple[Cues, Cues]  # (urgency cues, reasons) of one text


class Explanations:
    """Urgency cues and reasons of a batch, computed when asked for and only for the rows asked for.

    Why: explaining a post (its top n-grams, the cue patterns) costs about as much as scoring it, and a
    pipeline needs the explanations only of the posts that become tickets, about half of them.
    :meth:`prepare` explains many rows in one vectorised call; reading a row not prepared explains it alone.
    """

    def __init__(self, n: int, compute: Callable[[list[int]], list[Explained]]) -> None:
        self.n = n
        self._compute = compute
        self._done: dict[int, Explained] = {}

    def prepare(self, rows: Iterable[int]) -> None:
        todo = sorted({r for r in rows if r not in self._done})
        if todo:
            self._done.update(zip(todo, self._compute(todo), strict=True))

    def row(self, i: int) -> Explained:
        if not -self.n <= i < self.n:
            raise IndexError(i)
        i %= self.n
        if i not in self._done:
            self.prepare([i])
        return self._done[i]

    @property
    def urgency(self) -> _Column:
        return _Column(self, 0)

    @property
    def reasons(self) -> _Column:
        return _Column(self, 1)


class _Column(Sequence[Cues]):
    """One column of :class:`Explanations` read like a list (iterating explains every row at once)."""

    def __init__(self, owner: Explanations, k: int) -> None:
        self._owner, self._k = owner, k

    def __len__(self) -> int:
        return self._owner.n

    @overload
    def __getitem__(self, i: int) -> Cues: ...
    @overload
    def __getitem__(self, i: slice) -> list[Cues]: ...
    def __getitem__(self, i: int | slice) -> Cues | list[Cues]:
        if isinstance(i, slice):
            rows = range(self._owner.n)[i]
            self._owner.prepare(rows)
            return [self._owner.row(r)[self._k] for r in rows]
        return self._owner.row(i)[self._k]

    def __iter__(self) -> Iterator[Cues]:
        self._owner.prepare(range(self._owner.n))
        return (self._owner.row(r)[self._k] for r in range(self._owner.n))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __hash__(self) -> int:
        raise TypeError("unhashable type: explanations column")

    def __repr__(self) -> str:
        return repr(list(self))


@dataclass(frozen=True)
class ScoreBatch:
    """Scores for ``n`` texts, column order fixed by the label tuples above."""

    sentiment_proba: FloatArray  # shape (n, 3), SENTIMENT_LABELS order, rows sum to 1
    intent_proba: FloatArray  # shape (n, 6), INTENT_LABELS order, rows sum to 1
    urgency: Sequence[Cues]  # cues fired per text (subset of URGENCY_CUES)
    reasons: Sequence[Cues]  # human-readable reasons per text: top features or rules fired
    model_version: str = "unknown"
    explanations: Explanations | None = field(default=None, repr=False)  # set when the two above are lazy
    _actionable_idx: list[int] = field(
        default_factory=lambda: [INTENT_LABELS.index(i) for i in sorted(ACTIONABLE_INTENTS)], repr=False
    )

    def __len__(self) -> int:
        return int(self.sentiment_proba.shape[0])

    def explain(self, rows: Iterable[int]) -> None:
        """Compute the urgency cues and reasons of ``rows`` together, before reading them one by one."""
        if self.explanations is not None:
            self.explanations.prepare(rows)

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
