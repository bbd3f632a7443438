"""Spike and crisis detection: a brand or hashtag suddenly far louder than usual (a public pile-on).

Why: a pile-on is visible in volume long before any one ticket looks alarming; supervisors need to know
the moment it starts, per brand and per hashtag, and that it is over. Pure: time comes with the posts (or
:meth:`SpikeDetector.tick`), so tests drive it with simulated time.

The rule, per key (``brand`` or ``hashtag``), on fixed buckets of ``bucket_s`` seconds:

- The **baseline** is an EWMA of the bucket volume and of its variance (span ``span_buckets``), and the
  key's usual negative share (EWMA of negativity over EWMA of volume, shrunk towards the share of all
  posts by ``negative_prior`` posts, so one angry post does not set a key's habit). A key first seen
  after the detector's warm-up starts from a baseline of zero: it was silent until then, which is
  exactly what makes a brand-new crisis hashtag a surge.
- A bucket is **high** when its volume is at least ``min_volume`` posts, at least ``min_ratio`` times the
  baseline mean, and at least ``k_sigma`` standard deviations above it. The standard deviation is never
  taken below the Poisson noise ``sqrt(mean)``, so a quiet key does not alert on a handful of posts.
- A surge **starts** after ``confirm_buckets`` consecutive high buckets. A **negative** surge (the bucket's
  negative share at least ``negative_floor`` and ``negative_lift`` above the key's usual share) needs one
  high bucket fewer: a pile-on is reported sooner than a cheerful viral moment. The event says which.
- A surge **ends** after ``end_buckets`` consecutive buckets back near the baseline (at most
  ``end_ratio`` times the mean, or within one standard deviation of it).
- While a key is surging (or about to), its baseline learns at ``surge_learning`` of its usual rate, so
  the surge does not become the new normal within minutes.
- Nothing alerts during the first ``warmup_buckets`` buckets after the detector starts.

Memory is bounded: at most ``max_keys`` keys are tracked; keys silent for ``idle_buckets`` are dropped,
and under a flood of new keys the least recently seen quiet ones make room for the loudest newcomers.
The per-post work in :meth:`SpikeDetector.observe_batch` is a few dict updates.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["PostSignal", "SpikeConfig", "SpikeDetector", "SpikeEvent", "SpikeKind"]

SpikeKind = Literal["brand", "hashtag"]
PostSignal = tuple[str | None, Iterable[str], float, float]
"""What the detector needs of one scored post: (brand, hashtags, negativity 0..1, at epoch seconds)."""


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    bucket_s: float = 10.0
    span_buckets: int = 30  # the baseline's memory: ~5 minutes of 10 s buckets
    warmup_buckets: int = 6
    k_sigma: float = 4.0
    min_ratio: float = 3.0
    min_volume: int = 20
    confirm_buckets: int = 2
    negative_floor: float = 0.5
    negative_lift: float = 0.2
    negative_prior: float = 10.0  # posts' worth of everyone's negative share in a key's usual share
    end_ratio: float = 1.5
    end_buckets: int = 3
    surge_learning: float = 0.1
    max_keys: int = 20_000
    idle_buckets: int = 360  # an hour of 10 s buckets
    max_gap_buckets: int = 360  # a longer silence is replayed as this many empty buckets

    def __post_init__(self) -> None:
        if self.bucket_s <= 0 or self.span_buckets < 1 or self.confirm_buckets < 1 or self.end_buckets < 1:
            raise ValueError("bucket_s must be > 0 and span/confirm/end buckets >= 1")
        if self.max_keys < 1 or self.min_ratio < 1:
            raise ValueError("max_keys must be >= 1 and min_ratio >= 1")


@dataclass(frozen=True, slots=True)
class SpikeEvent:
    """A surge started or ended (the alerts topic's payload). ``at`` is the end of the deciding bucket."""

    state: Literal["started", "ended"]
    kind: SpikeKind
    key: str
    at: float
    volume: int  # posts in the deciding bucket
    baseline: float  # usual posts per bucket (as learned before the surge)
    negative_share: float
    baseline_negative_share: float
    negative: bool  # the surge is markedly more negative than usual: a pile-on
    bucket_s: float

    @property
    def ratio(self) -> float:
        return self.volume / max(self.baseline, 1e-9)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "kind": self.kind,
            "key": self.key,
            "at": self.at,
            "volume": self.volume,
            "per_s": self.volume / self.bucket_s,
            "baseline": round(self.baseline, 3),
            "negative_share": round(self.negative_share, 3),
            "baseline_negative_share": round(self.baseline_negative_share, 3),
            "negative": self.negative,
        }


class _Key:
    __slots__ = ("active", "calm", "high", "kind", "last_seen", "mean", "name", "negmean", "started", "var")

    def __init__(self, kind: SpikeKind, name: str, bucket: int) -> None:
        self.kind: SpikeKind = kind
        self.name = name
        self.mean = 0.0
        self.var = 0.0
        self.negmean = 0.0  # EWMA of the bucket's summed negativity: usual share is negmean / mean
        self.high = 0  # consecutive high buckets
        self.calm = 0  # consecutive calm buckets while active
        self.active = False
        self.started: SpikeEvent | None = None
        self.last_seen = bucket


class SpikeDetector:
    def __init__(self, config: SpikeConfig | None = None) -> None:
        self.config = c = config or SpikeConfig()
        self._alpha = 2.0 / (c.span_buckets + 1)
        self._cur: int | None = None  # the open bucket
        self._closed = 0  # buckets closed since start (warm-up)
        # the open bucket's counts: volume and summed negativity, per brand and per hashtag
        self._bv: dict[str, int] = {}
        self._bn: dict[str, float] = {}
        self._tv: dict[str, int] = {}
        self._tn: dict[str, float] = {}
        self._keys: dict[tuple[SpikeKind, str], _Key] = {}
        self.dropped_keys = 0  # new keys not tracked because the table was full
        self._n = 0  # the open bucket's posts and summed negativity, all keys together
        self._nneg = 0.0
        self._share: float | None = None  # EWMA of the negative share of all posts

    def __len__(self) -> int:
        return len(self._keys)

    # --- input (hot path) -----------------------------------------------------------------------------

    def observe_batch(self, posts: Iterable[PostSignal]) -> list[SpikeEvent]:
        """Counts posts into their buckets; returns the events of every bucket this batch closed.

        Posts a little out of order (from an older bucket) are counted in the open bucket.
        """
        events: list[SpikeEvent] = []
        bs = self.config.bucket_s
        cur = self._cur
        bv, bn, tv, tn = self._bv, self._bn, self._tv, self._tn
        n, nneg = 0, 0.0
        for brand, tags, neg, at in posts:
            b = int(at // bs)
            if cur is None:
                cur = self._cur = b
            elif b > cur:
                self._n += n
                self._nneg += nneg
                n, nneg = 0, 0.0
                events.extend(self._roll(b))
                cur = b
                bv, bn, tv, tn = self._bv, self._bn, self._tv, self._tn
            n += 1
            nneg += neg
            if brand:
                bv[brand] = bv.get(brand, 0) + 1
                bn[brand] = bn.get(brand, 0.0) + neg
            for t in tags:
                t = t.lower()
                tv[t] = tv.get(t, 0) + 1
                tn[t] = tn.get(t, 0.0) + neg
        self._n += n
        self._nneg += nneg
        return events

    def observe(
        self, brand: str | None, hashtags: Iterable[str], negativity: float, at: float
    ) -> list[SpikeEvent]:
        return self.observe_batch(((brand, hashtags, negativity, at),))

    def tick(self, now: float) -> list[SpikeEvent]:
        """Closes every bucket that ended by ``now``: call it on a timer, so quiet periods are seen too."""
        b = int(now // self.config.bucket_s)
        if self._cur is None:
            self._cur = b
            return []
        return self._roll(b) if b > self._cur else []

    # --- output ---------------------------------------------------------------------------------------

    def active(self) -> list[SpikeEvent]:
        """The ``started`` event of every surge still going on (for the ``triage_spike_active`` gauge)."""
        return [k.started for k in self._keys.values() if k.active and k.started is not None]

    def baseline(self, kind: SpikeKind, key: str) -> float | None:
        """Usual posts per bucket for a key (None if not tracked)."""
        k = self._keys.get((kind, key.lower() if kind == "hashtag" else key))
        return k.mean if k else None

    # --- buckets --------------------------------------------------------------------------------------

    def _roll(self, to: int) -> list[SpikeEvent]:
        assert self._cur is not None
        c = self.config
        events: list[SpikeEvent] = []
        gap = to - self._cur
        counts: tuple[tuple[SpikeKind, dict[str, int], dict[str, float]], ...] = (
            ("brand", self._bv, self._bn),
            ("hashtag", self._tv, self._tn),
        )
        self._bv, self._bn, self._tv, self._tn = {}, {}, {}, {}
        if self._n:
            share = self._nneg / self._n
            self._share = share if self._share is None else self._share + self._alpha * (share - self._share)
        self._n, self._nneg = 0, 0.0
        for i in range(min(gap, c.max_gap_buckets)):
            bucket = self._cur + i
            end = (bucket + 1) * c.bucket_s
            if i == 0:
                events.extend(self._close(bucket, end, counts))
            else:
                events.extend(self._close(bucket, end, ()))
        self._cur = to
        return events

    def _close(
        self,
        bucket: int,
        end: float,
        counts: Iterable[tuple[SpikeKind, dict[str, int], dict[str, float]]],
    ) -> list[SpikeEvent]:
        c = self.config
        keys = self._keys
        events: list[SpikeEvent] = []
        seen: set[tuple[SpikeKind, str]] = set()
        for kind, vol, neg in counts:
            self._admit(kind, vol, bucket)
            for name, v in vol.items():
                k = keys.get((kind, name))
                if k is None:
                    continue
                seen.add((kind, name))
                k.last_seen = bucket
                ev = self._update(k, v, neg[name] / v, end)
                if ev is not None:
                    events.append(ev)
        idle: list[tuple[SpikeKind, str]] = []
        for key, k in keys.items():
            if key in seen:
                continue
            ev = self._update(k, 0, 0.0, end)
            if ev is not None:
                events.append(ev)
            if not k.active and bucket - k.last_seen >= c.idle_buckets:
                idle.append(key)
        for key in idle:
            del keys[key]
        self._closed += 1
        return events

    def _admit(self, kind: SpikeKind, vol: dict[str, int], bucket: int) -> None:
        """Starts tracking this bucket's new keys, loudest first, within ``max_keys``."""
        keys = self._keys
        new = [name for name in vol if (kind, name) not in keys]
        if not new:
            return
        room = self.config.max_keys - len(keys)
        if room < len(new):
            new.sort(key=vol.__getitem__, reverse=True)
            quiet = [(k.last_seen, key) for key, k in keys.items() if not k.active and k.last_seen < bucket]
            for _, key in heapq.nsmallest(len(new) - max(room, 0), quiet):
                del keys[key]
            room = self.config.max_keys - len(keys)
            self.dropped_keys += max(0, len(new) - room)
            new = new[: max(room, 0)]
        for name in new:
            keys[kind, name] = _Key(kind, name, bucket)

    def _update(self, k: _Key, v: int, share: float, end: float) -> SpikeEvent | None:
        c = self.config
        mean = k.mean
        std = max(math.sqrt(k.var), math.sqrt(max(mean, 1.0)))
        warm = self._closed >= c.warmup_buckets
        high = warm and v >= c.min_volume and v >= c.min_ratio * mean and v >= mean + c.k_sigma * std
        # the key's usual negative share, shrunk towards everyone's: one angry post is not a habit
        prior = c.negative_prior
        usual_neg = (k.negmean + prior * (self._share or 0.0)) / (mean + prior)
        negative = v > 0 and share >= max(c.negative_floor, usual_neg + c.negative_lift)
        event: SpikeEvent | None = None
        if not k.active:
            k.high = k.high + 1 if high else 0
            if high and k.high >= max(1, c.confirm_buckets - (1 if negative else 0)):
                k.active, k.calm = True, 0
                event = k.started = SpikeEvent(
                    "started", k.kind, k.name, end, v, mean, share, usual_neg, negative, c.bucket_s
                )
        else:
            calm = v <= max(c.end_ratio * mean, mean + std)
            k.calm = k.calm + 1 if calm else 0
            if k.calm >= c.end_buckets:
                k.active, k.high = False, 0
                started = k.started
                event = SpikeEvent(
                    "ended", k.kind, k.name, end, v, mean, share, usual_neg,
                    started.negative if started else False, c.bucket_s,
                )  # fmt: skip
                k.started = None
        # learn the baseline (slowly while surging, so a surge does not become the new normal)
        surging = k.active or k.high > 0
        a = self._alpha * (c.surge_learning if surging else 1.0)
        diff = v - mean
        incr = a * diff
        k.mean = mean + incr
        k.negmean += a * (share * v - k.negmean)
        if not surging:
            k.var = (1.0 - a) * (k.var + diff * incr)
        return event
