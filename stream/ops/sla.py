"""SLA clocks in working time: when is a ticket due, is it at risk, has it breached. Pure: time is passed in.

Why working time: a ticket raised on Friday evening in a Monday-to-Friday queue is not late on Saturday.
A queue's clock runs while any of its service centres is open (follow-the-sun hand-over), built from each
centre's local hours through ``zoneinfo``, so spring-forward and fall-back days are as long as they really
are. Local times that a spring-forward skips, or a fall-back repeats, are read the way ``zoneinfo`` reads
them (PEP 495, fold=0: the offset before the change, the first occurrence).

Rules a supervisor can rely on:

- A target is **at risk** once ``at_risk_fraction`` of its budget is used, and **breached** once its due
  instant is reached while its clock still runs; a clock stopped at or before the due instant **met** it.
  Due instants are instants: a budget that runs out at 20:00 Friday is breached at 20:00 Friday.
- The first-response clock starts at creation and stops at the first response (or, if none came, at the
  first resolution).
- The resolution clock stops when the ticket is resolved. A reopen starts a new resolution *cycle*: the
  clock restarts from zero with the full budget, and that cycle can be at risk and breach once more.
- Each (ticket, target, cycle, at_risk|breached) transition is reported exactly once, whatever the check
  cadence, including ones that were passed while nobody checked. Transitions carry the instant they
  happened, not the instant they were noticed, and a deterministic ``event_id`` for consumers to dedupe.
- Lifecycle events may repeat or arrive out of order (CRMs deliver at least once): the clocks are rebuilt
  from the set of event times, so a repeat changes nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from schemas.events import TicketEvent, TicketEventType
from schemas.sla import WEEKDAYS, ServiceCentre, SlaPolicy, SlaTarget, minutes_of
from schemas.timestamps import epoch_seconds, utc_from_epoch
from stream.documents import load_document

__all__ = [
    "DEFAULT_SLA_PATH",
    "BusinessCalendar",
    "Measured",
    "SlaClock",
    "SlaError",
    "SlaSnapshot",
    "SlaStatus",
    "SlaTargetKind",
    "SlaTracker",
    "SlaTransition",
    "TargetState",
    "load_sla_policy",
]

DEFAULT_SLA_PATH = Path(__file__).parent / "default_sla.yaml"

_DAY = 86_400.0
_WEEK = 7 * _DAY
_HORIZON = 400 * _DAY  # a deadline further away than this means the calendar is (nearly) never open


class SlaError(ValueError):
    """An SLA policy or calendar that cannot be used; the message says where and why."""


# --- policy file ---------------------------------------------------------------------------------------


def load_sla_policy(path: Path | None = None, *, queues: Collection[str] | None = None) -> SlaPolicy:
    """Reads and validates an SLA policy (YAML, or JSON by suffix).

    With ``queues`` (the routing rules' declared queues), a policy entry for a queue the rules never use is
    refused: it is almost always a typo that leaves the real queue on default targets.
    """
    path = path or DEFAULT_SLA_PATH
    policy = load_document(path, SlaPolicy, "SLA policy", SlaError)
    if queues is not None:
        unknown = sorted({q.queue for q in policy.queues} - set(queues))
        if unknown:
            raise SlaError(f"SLA policy {path} names queues the routing rules do not declare: {unknown}")
    return policy


# --- the calendar --------------------------------------------------------------------------------------


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
        """Open intervals within [start, end), merged and sorted."""
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


# --- one ticket's clocks -------------------------------------------------------------------------------


class SlaStatus(StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"


class SlaTargetKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class TargetState:
    """Where one target stands at ``now``: working time used, status, and its at-risk and due instants."""

    target: SlaTargetKind
    cycle: int
    status: SlaStatus
    started_at: datetime
    stopped_at: datetime | None
    elapsed_s: float
    budget_s: float
    at_risk_at: datetime
    due_at: datetime

    @property
    def used(self) -> float:
        """Share of the budget used (may exceed 1)."""
        return self.elapsed_s / self.budget_s


@dataclass(frozen=True, slots=True)
class SlaSnapshot:
    ticket_id: str
    queue: str
    priority: int
    open: bool
    first_response: TargetState
    resolution: TargetState  # the latest cycle


@dataclass(frozen=True, slots=True)
class SlaTransition:
    """A target became at risk or breached (the alerts topic's payload)."""

    ticket_id: str
    queue: str
    priority: int
    target: SlaTargetKind
    cycle: int
    status: SlaStatus  # AT_RISK or BREACHED
    at: datetime  # when it happened, not when it was noticed
    due_at: datetime
    budget_s: float

    @property
    def event_id(self) -> str:
        return f"{self.ticket_id}:{self.target}:{self.cycle}:{self.status}"


@dataclass(frozen=True, slots=True)
class Measured:
    """A clock that stopped: what to record (time-to-first-response / time-to-resolution histograms)."""

    ticket_id: str
    queue: str
    priority: int
    target: SlaTargetKind
    cycle: int
    wall_s: float
    working_s: float
    within_sla: bool


@dataclass(slots=True)
class _Run:
    target: SlaTargetKind
    cycle: int
    start: float
    stop: float | None
    budget: float
    risk_at: float
    due: float

    def reached(self, instant: float, now: float) -> bool:
        """The clock was still running when ``instant`` came, and it has come."""
        return instant <= now and (self.stop is None or self.stop > instant)


class SlaClock:
    """One ticket's first-response and resolution clocks, rebuilt from its lifecycle event times."""

    def __init__(
        self,
        ticket_id: str,
        queue: str,
        priority: int,
        created_at: datetime,
        calendar: BusinessCalendar,
        target: SlaTarget,
    ) -> None:
        self.ticket_id = ticket_id
        self.queue = queue
        self.priority = priority
        self.calendar = calendar
        self.target = target
        self.created = epoch_seconds(created_at)
        self.first_response: float | None = None
        self.resolves: set[float] = set()
        self.reopens: set[float] = set()
        self.emitted: set[tuple[str, int, str]] = set()
        self._deadlines: dict[tuple[float, float], float] = {}
        self.runs: list[_Run] = []
        self._rebuild()

    # events (idempotent; return True when something changed)

    def responded(self, at: datetime) -> bool:
        t = max(epoch_seconds(at), self.created)
        if self.first_response is not None and self.first_response <= t:
            return False
        self.first_response = t
        self._rebuild()
        return True

    def resolved(self, at: datetime) -> bool:
        return self._add(self.resolves, at)

    def reopened(self, at: datetime) -> bool:
        return self._add(self.reopens, at)

    def retarget(self, queue: str, priority: int, calendar: BusinessCalendar, target: SlaTarget) -> None:
        """A reassignment to another queue, or a new priority: deadlines are recomputed from creation."""
        self.queue, self.priority, self.calendar, self.target = queue, priority, calendar, target
        self._deadlines.clear()
        self._rebuild()

    def _add(self, times: set[float], at: datetime) -> bool:
        """Keeps every event time (a late, earlier event may give it meaning) but says whether the clocks
        moved: a reopen of an open ticket, or a second resolve of a resolved one, changes nothing."""
        t = max(epoch_seconds(at), self.created)
        if t in times:
            return False
        before = [(r.start, r.stop) for r in self.runs]
        times.add(t)
        self._rebuild()
        return [(r.start, r.stop) for r in self.runs] != before

    # state

    @property
    def is_open(self) -> bool:
        return self.runs[-1].stop is None

    @property
    def resolved_at(self) -> float | None:
        return self.runs[-1].stop

    def _deadline(self, start: float, budget: float) -> float:
        key = (start, budget)
        hit = self._deadlines.get(key)
        if hit is None:
            hit = self._deadlines[key] = self.calendar.deadline_ts(start, budget)
        return hit

    def _run(self, kind: SlaTargetKind, cycle: int, start: float, stop: float | None, budget: float) -> _Run:
        return _Run(
            kind,
            cycle,
            start,
            stop,
            budget,
            self._deadline(start, budget * self.target.at_risk_fraction),
            self._deadline(start, budget),
        )

    def _rebuild(self) -> None:
        events = sorted([(t, 0) for t in self.resolves] + [(t, 1) for t in self.reopens])
        resolution: list[_Run] = []
        start: float | None = self.created
        for t, kind in events:
            if kind == 0 and start is not None:
                resolution.append(
                    self._run(SlaTargetKind.RESOLUTION, len(resolution), start, t, self.target.resolution_s)
                )
                start = None
            elif kind == 1 and start is None:
                start = t
        if start is not None:
            resolution.append(
                self._run(SlaTargetKind.RESOLUTION, len(resolution), start, None, self.target.resolution_s)
            )
        stops = [t for t in (self.first_response, resolution[0].stop) if t is not None]
        first = self._run(
            SlaTargetKind.FIRST_RESPONSE,
            0,
            self.created,
            min(stops) if stops else None,
            self.target.first_response_s,
        )
        self.runs = [first, *resolution]

    def _state(self, run: _Run, now: float) -> TargetState:
        if run.stop is not None and run.stop <= now:
            status = SlaStatus.MET if run.stop <= run.due else SlaStatus.BREACHED
        elif now >= run.due:
            status = SlaStatus.BREACHED
        elif now >= run.risk_at:
            status = SlaStatus.AT_RISK
        else:
            status = SlaStatus.OK
        end = now if run.stop is None else min(run.stop, now)
        return TargetState(
            run.target,
            run.cycle,
            status,
            utc_from_epoch(run.start),
            None if run.stop is None else utc_from_epoch(run.stop),
            self.calendar.seconds_between(run.start, end),
            run.budget,
            utc_from_epoch(run.risk_at),
            utc_from_epoch(run.due),
        )

    def snapshot(self, now: datetime) -> SlaSnapshot:
        t = epoch_seconds(now)
        return SlaSnapshot(
            self.ticket_id,
            self.queue,
            self.priority,
            self.is_open,
            self._state(self.runs[0], t),
            self._state(self.runs[-1], t),
        )

    def advance(self, now: datetime) -> list[SlaTransition]:
        """Transitions reached by ``now`` and not reported before, in the order they happened."""
        return self.advance_ts(epoch_seconds(now))

    def advance_ts(self, t: float) -> list[SlaTransition]:
        out: list[SlaTransition] = []
        for run in self.runs:
            for status, instant in ((SlaStatus.AT_RISK, run.risk_at), (SlaStatus.BREACHED, run.due)):
                key = (run.target.value, run.cycle, status.value)
                if key not in self.emitted and run.reached(instant, t):
                    self.emitted.add(key)
                    out.append(self._transition(run, status, instant))
        out.sort(key=lambda tr: tr.at)
        return out

    def _transition(self, run: _Run, status: SlaStatus, instant: float) -> SlaTransition:
        return SlaTransition(
            ticket_id=self.ticket_id,
            queue=self.queue,
            priority=self.priority,
            target=run.target,
            cycle=run.cycle,
            status=status,
            at=utc_from_epoch(instant),
            due_at=utc_from_epoch(run.due),
            budget_s=run.budget,
        )

    def next_instant(self) -> float | None:
        """The earliest transition still to come (None: nothing can happen until an event arrives)."""
        pending = [
            instant
            for run in self.runs
            for status, instant in ((SlaStatus.AT_RISK, run.risk_at), (SlaStatus.BREACHED, run.due))
            if (run.target.value, run.cycle, status.value) not in self.emitted
            and (run.stop is None or run.stop > instant)
        ]
        return min(pending) if pending else None

    def measured(self, run: _Run) -> Measured:
        assert run.stop is not None
        return self._measure(run.target, run.cycle, run.start, run.stop, run.due)

    def measure_response(self) -> Measured | None:
        """Time to first response, even if a resolution stopped the first-response clock before it."""
        if self.first_response is None:
            return None
        run = self.runs[0]
        return self._measure(run.target, 0, self.created, self.first_response, run.due)

    def _measure(self, kind: SlaTargetKind, cycle: int, start: float, stop: float, due: float) -> Measured:
        return Measured(
            self.ticket_id,
            self.queue,
            self.priority,
            kind,
            cycle,
            stop - start,
            self.calendar.seconds_between(start, stop),
            stop <= due,
        )

    # persistence (e.g. a Faust table): event times and what was reported, nothing derived

    def state(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "queue": self.queue,
            "priority": self.priority,
            "created": self.created,
            "first_response": self.first_response,
            "resolves": sorted(self.resolves),
            "reopens": sorted(self.reopens),
            "emitted": sorted(list(k) for k in self.emitted),
        }


# --- many tickets --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    clock: SlaClock
    generation: int = 0


class SlaTracker:
    """Open tickets' clocks under one policy. ``advance(now)`` costs O(log n) per due transition, not
    O(open tickets), so it can run every second over a large backlog.

    Resolved tickets are kept (they may reopen) until :meth:`prune` drops them.
    """

    def __init__(self, policy: SlaPolicy) -> None:
        self.policy = policy
        self._calendars: dict[tuple[str, ...], BusinessCalendar] = {}
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str]] = []

    def calendar(self, queue: str) -> BusinessCalendar:
        centres = self.policy.centres_of(queue)
        key = tuple(c.name for c in centres)
        cal = self._calendars.get(key)
        if cal is None:
            cal = self._calendars[key] = BusinessCalendar(centres)
        return cal

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ticket_id: object) -> bool:
        return ticket_id in self._entries

    def clock(self, ticket_id: str) -> SlaClock | None:
        e = self._entries.get(ticket_id)
        return e.clock if e else None

    def _schedule(self, e: _Entry) -> None:
        e.generation += 1
        nxt = e.clock.next_instant()
        if nxt is not None:
            heapq.heappush(self._heap, (nxt, e.generation, e.clock.ticket_id))

    # ticket and lifecycle events

    def open(self, ticket_id: str, queue: str, priority: int, created_at: datetime) -> SlaClock:
        """Starts a ticket's clocks; a repeat (tickets are delivered at least once) is an upsert that
        follows a new queue or priority, keeping the original creation time."""
        e = self._entries.get(ticket_id)
        if e is None:
            clock = SlaClock(
                ticket_id,
                queue,
                priority,
                created_at,
                self.calendar(queue),
                self.policy.target(queue, priority),
            )
            e = self._entries[ticket_id] = _Entry(clock)
        elif (e.clock.queue, e.clock.priority) != (queue, priority):
            e.clock.retarget(queue, priority, self.calendar(queue), self.policy.target(queue, priority))
        else:
            return e.clock
        self._schedule(e)
        return e.clock

    def first_response(self, ticket_id: str, at: datetime) -> Measured | None:
        """Stops the first-response clock. Returns what to record, only the first time."""
        e = self._entries.get(ticket_id)
        if e is None:
            return None
        had = e.clock.first_response is not None
        if not e.clock.responded(at):
            return None
        self._schedule(e)
        return None if had else e.clock.measure_response()

    def resolved(self, ticket_id: str, at: datetime) -> Measured | None:
        """Stops the resolution clock of the current cycle. Returns what to record (None if a repeat)."""
        e = self._entries.get(ticket_id)
        if e is None or not e.clock.resolved(at):
            return None
        self._schedule(e)
        t = max(epoch_seconds(at), e.clock.created)
        run = next((r for r in e.clock.runs[1:] if r.stop == t), None)
        return e.clock.measured(run) if run is not None else None

    def reopened(self, ticket_id: str, at: datetime) -> bool:
        """Starts a new resolution cycle (if the ticket was resolved before ``at``)."""
        e = self._entries.get(ticket_id)
        if e is None or not e.clock.reopened(at):
            return False
        self._schedule(e)
        return True

    def reassigned(self, ticket_id: str, queue: str) -> bool:
        e = self._entries.get(ticket_id)
        if e is None or e.clock.queue == queue:
            return False
        c = e.clock
        c.retarget(queue, c.priority, self.calendar(queue), self.policy.target(queue, c.priority))
        self._schedule(e)
        return True

    def apply(self, event: TicketEvent) -> Measured | None:
        """A CRM lifecycle event; ``assigned`` and agent-only reassignments do not move clocks."""
        t = event.type
        if t is TicketEventType.FIRST_RESPONSE:
            return self.first_response(event.ticket_id, event.at)
        if t is TicketEventType.RESOLVED:
            return self.resolved(event.ticket_id, event.at)
        if t is TicketEventType.REOPENED:
            self.reopened(event.ticket_id, event.at)
        elif t is TicketEventType.REASSIGNED and event.queue:
            self.reassigned(event.ticket_id, event.queue)
        return None

    # checks

    def advance(self, now: datetime) -> list[SlaTransition]:
        """Every at-risk and breached transition reached by ``now`` not reported before, oldest first."""
        t = epoch_seconds(now)
        out: list[SlaTransition] = []
        heap = self._heap
        while heap and heap[0][0] <= t:
            _, gen, tid = heapq.heappop(heap)
            e = self._entries.get(tid)
            if e is None or e.generation != gen:
                continue  # stale: the ticket changed or was dropped since this was scheduled
            out.extend(e.clock.advance_ts(t))
            self._schedule(e)
        out.sort(key=lambda tr: tr.at)
        return out

    def snapshot(self, ticket_id: str, now: datetime) -> SlaSnapshot | None:
        e = self._entries.get(ticket_id)
        return e.clock.snapshot(now) if e else None

    def open_tickets(self) -> Iterable[SlaClock]:
        return (e.clock for e in self._entries.values() if e.clock.is_open)

    def backlog(self) -> dict[tuple[str, int], int]:
        """Open tickets per (queue, priority)."""
        out: dict[tuple[str, int], int] = {}
        for c in self.open_tickets():
            k = (c.queue, c.priority)
            out[k] = out.get(k, 0) + 1
        return out

    def oldest_open(self, now: datetime) -> dict[str, float]:
        """Per queue, wall seconds since the oldest open ticket's current cycle began."""
        t = epoch_seconds(now)
        out: dict[str, float] = {}
        for c in self.open_tickets():
            age = t - c.runs[-1].start
            if age > out.get(c.queue, -1.0):
                out[c.queue] = age
        return out

    # memory

    def forget(self, ticket_id: str) -> bool:
        return self._entries.pop(ticket_id, None) is not None

    def prune(self, now: datetime, keep_resolved_s: float = 7 * _DAY) -> int:
        """Drops tickets resolved over ``keep_resolved_s`` ago; a later reopen must ``open`` them again."""
        cutoff = epoch_seconds(now) - keep_resolved_s
        old = [
            tid for tid, e in self._entries.items() if (r := e.clock.resolved_at) is not None and r < cutoff
        ]
        for tid in old:
            del self._entries[tid]
        if len(self._heap) > 4 * len(self._entries) + 1024:
            self._heap = [x for x in self._heap if x[2] in self._entries]
            heapq.heapify(self._heap)
        return len(old)

    def restore(self, state: Mapping[str, Any]) -> SlaClock:
        """Rebuilds a clock from :meth:`SlaClock.state` (e.g. after a rebalance)."""
        created = utc_from_epoch(float(state["created"]))
        clock = self.open(str(state["ticket_id"]), str(state["queue"]), int(state["priority"]), created)
        if state.get("first_response") is not None:
            clock.responded(utc_from_epoch(float(state["first_response"])))
        for r in state.get("resolves", ()):
            clock.resolved(utc_from_epoch(float(r)))
        for r in state.get("reopens", ()):
            clock.reopened(utc_from_epoch(float(r)))
        clock.emitted |= {(str(a), int(b), str(c)) for a, b, c in state.get("emitted", ())}
        self._schedule(self._entries[clock.ticket_id])
        return clock
