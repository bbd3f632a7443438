"""Working time: when a queue's service centres are open, as UTC intervals. Pure: time is passed in.

Why working time: a ticket raised on Friday evening in a Monday-to-Friday queue is not late on Saturday.
A queue's clock runs while any of its service centres is open (follow-the-sun hand-over), built from each
centre's local hours through ``zoneinfo``, so spring-forward and fall-back days are as long as they really
are. Local times that a spring-forward skips, or a fall-back repeats, are read the way ``zoneinfo`` reads
them (PEP 495, fold=0: the offset before the change, the first occurrence).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.sla import WEEKDAYS, ServiceCentre, SlaPolicy, minutes_of
from schemas.timestamps import epoch_seconds, utc_from_epoch
from stream.ops.sla_policy import SlaError

__all__ = ["BusinessCalendar"]

_DAY = 86_400.0
_HORIZON = 400 * _DAY  # a deadline further away than this means the calendar is (nearly) never open


Span = tuple[float, float]


def _merge(spans: list[Span]) -> list[Span]:
    """Sorted, with touching or overlapping intervals joined."""
    spans.sort()
    merged: list[Span] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


class BusinessCalendar:
    """The union of some centres' open hours, as UTC epoch-second intervals. No centres means 24/7.

    Per-centre, per-local-date intervals are cached, so clocks over long-open tickets stay cheap.
    """

    def __init__(self, centres: Sequence[ServiceCentre] = ()) -> None:
        self.centres = tuple(centres)
        self.always_open = not self.centres or any(c.always_open for c in self.centres)
        self._zones = [ZoneInfo(c.timezone) for c in self.centres]
        self._hours: list[dict[int, tuple[tuple[int, int], ...]]] = [
            {
                WEEKDAYS.index(day): tuple(sorted((minutes_of(a), minutes_of(b)) for a, b in spans))
                for day, spans in c.hours.items()
            }
            for c in self.centres
        ]
        self._holidays = [frozenset(c.holidays) for c in self.centres]
        self._cache: dict[tuple[int, date], tuple[Span, ...]] = {}
        self._merged: dict[int, tuple[Span, ...]] = {}

    @classmethod
    def for_queue(cls, policy: SlaPolicy, queue: str) -> BusinessCalendar:
        return cls(policy.centres_of(queue))

    def __repr__(self) -> str:
        names = ", ".join(c.name for c in self.centres) or "24/7"
        return f"BusinessCalendar({names})"

    # epoch-second API (the clocks use it; no datetime objects on the hot path)

    def _local(self, i: int, d: date, minutes: int) -> float:
        if minutes == 1440:
            d, minutes = d + timedelta(days=1), 0
        h, m = divmod(minutes, 60)
        return datetime(d.year, d.month, d.day, h, m, tzinfo=self._zones[i]).timestamp()

    def _day(self, i: int, d: date) -> tuple[Span, ...]:
        key = (i, d)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        spans: tuple[Span, ...] = ()
        if d not in self._holidays[i]:
            out = []
            for a, b in self._hours[i].get(d.weekday(), ()):
                start, end = self._local(i, d, a), self._local(i, d, b)
                if end > start:
                    out.append((start, end))
            spans = tuple(out)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = spans
        return spans

    def _utc_day(self, day: int) -> tuple[Span, ...]:
        """The merged open intervals within UTC day ``day`` (epoch seconds // 86400), cached: every clock
        of a queue asks about the same few days, and building them walks each centre's local dates."""
        hit = self._merged.get(day)
        if hit is not None:
            return hit
        lo = day * _DAY
        hi = lo + _DAY
        raw: list[Span] = []
        for i, zone in enumerate(self._zones):
            d = datetime.fromtimestamp(lo, zone).date() - timedelta(days=1)
            last = datetime.fromtimestamp(hi, zone).date()
            while d <= last:
                for a, b in self._day(i, d):
                    if b > lo and a < hi:
                        raw.append((max(a, lo), min(b, hi)))
                d += timedelta(days=1)
        merged = tuple(_merge(raw))
        if len(self._merged) > 20_000:
            self._merged.clear()
        self._merged[day] = merged
        return merged

    def spans(self, start: float, end: float) -> list[Span]:
        """Open intervals within [start, end), merged and sorted; never further than ``_HORIZON`` from
        ``start`` (the work is one step per day: a far-future end, such as a CRM's year 9999, must not
        freeze the worker, and no SLA clock runs for longer)."""
        end = min(end, start + _HORIZON)
        if end <= start:
            return []
        if self.always_open:
            return [(start, end)]
        raw: list[Span] = []
        for day in range(int(start // _DAY), int(-(-end // _DAY))):
            for a, b in self._utc_day(day):
                if b > start and a < end:
                    raw.append((max(a, start), min(b, end)))
        return _merge(raw)  # joins spans that run across midnight UTC

    def seconds_between(self, start: float, end: float) -> float:
        if self.always_open:
            return max(0.0, end - start)
        return sum(b - a for a, b in self.spans(start, end))

    def deadline_ts(self, start: float, budget_s: float) -> float:
        if budget_s <= 0:
            return start
        if self.always_open:
            return start + budget_s
        remaining = budget_s
        day = int(start // _DAY)
        while day * _DAY < start + _HORIZON:
            for a, b in self._utc_day(day):
                if b <= start:
                    continue
                a = max(a, start)
                if b - a >= remaining:
                    return a + remaining
                remaining -= b - a
            day += 1
        raise SlaError(f"{self!r} has less than {budget_s:g}s of working time in {_HORIZON / _DAY:g} days")

    # datetime API

    def is_open(self, at: datetime) -> bool:
        t = epoch_seconds(at)
        return bool(self.spans(t, t + 1e-6))

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end): 0 if end is not after start."""
        return self.seconds_between(epoch_seconds(start), epoch_seconds(end))

    def deadline(self, start: datetime, budget_s: float) -> datetime:
        """The first UTC instant at which ``budget_s`` working seconds have elapsed since ``start``."""
        return utc_from_epoch(self.deadline_ts(epoch_seconds(start), budget_s))
