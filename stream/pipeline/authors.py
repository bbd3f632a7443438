"""How often each author posts about the brand: a decaying count, one of clout's inputs.

Per worker and approximate by design: posts are partitioned by content, so an author's posts spread over
workers; an exact global count would cost a shuffle per post for one clout term of ten points.
"""

from __future__ import annotations

import math

__all__ = ["AuthorActivity"]


class AuthorActivity:
    """Exponentially decayed post count per author with a one-day time constant (so ~posts per day)."""

    def __init__(self, tau_s: float = 86_400.0, max_authors: int = 500_000) -> None:
        self.tau_s = tau_s
        self.max_authors = max_authors
        self._state: dict[str, tuple[float, float]] = {}  # author -> (count, last update time)

    def __len__(self) -> int:
        return len(self._state)

    def observe(self, author: str, now: float) -> float:
        """Count one post by ``author`` and return their posts-per-day rate including it."""
        count, last = self._state.pop(author, (0.0, now))
        count = count * math.exp(-max(0.0, now - last) / self.tau_s) + 1.0
        self._state[author] = (count, now)  # re-inserted last: dict order approximates recency
        if len(self._state) > self.max_authors:
            for stale in list(self._state)[: self.max_authors // 10]:
                del self._state[stale]
        return count
