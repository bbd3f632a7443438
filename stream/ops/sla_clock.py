"""One ticket's SLA clocks in working time: when is it due, is it at risk, has it breached. Pure: time is
passed in.

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

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from schemas.sla import SlaTarget
from schemas.timestamps import epoch_seconds, utc_from_epoch
from stream.ops.business_calendar import BusinessCalendar

__all__ = [
    "Measured",
    "SlaClock",
    "SlaSnapshot",
    "SlaStatus",
    "SlaTargetKind",
    "SlaTransition",
    "TargetState",
]


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


_NO_TIMES: frozenset[float] = frozenset()
_NOTHING_EMITTED: frozenset[tuple[str, int, str]] = frozenset()


class SlaClock:
    """One ticket's first-response and resolution clocks, rebuilt from its lifecycle event times.

    A worker holds one per open ticket (a million, at scale), so it keeps no empty containers: the event
    sets start as a shared empty frozenset and become sets when something is added, and the deadline cache
    holds only the deadlines of its current runs."""

    __slots__ = (
        "calendar",
        "created",
        "emitted",
        "first_response",
        "priority",
        "queue",
        "reopens",
        "resolves",
        "runs",
        "target",
        "ticket_id",
    )

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
        self.resolves: frozenset[float] | set[float] = _NO_TIMES
        self.reopens: frozenset[float] | set[float] = _NO_TIMES
        self.emitted: frozenset[tuple[str, int, str]] | set[tuple[str, int, str]] = _NOTHING_EMITTED
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
        if not isinstance(self.resolves, set):
            self.resolves = set()
        return self._add(self.resolves, at)

    def reopened(self, at: datetime) -> bool:
        if not isinstance(self.reopens, set):
            self.reopens = set()
        return self._add(self.reopens, at)

    def note_emitted(self, key: tuple[str, int, str]) -> None:
        if not isinstance(self.emitted, set):
            self.emitted = set()
        self.emitted.add(key)

    def retarget(self, queue: str, priority: int, calendar: BusinessCalendar, target: SlaTarget) -> None:
        """A reassignment to another queue, or a new priority: deadlines are recomputed from creation."""
        self.queue, self.priority, self.calendar, self.target = queue, priority, calendar, target
        self.runs = []  # deadlines follow the new target: none is reused
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

    def _run(self, kind: SlaTargetKind, cycle: int, start: float, stop: float | None, budget: float) -> _Run:
        # A rebuild keeps most runs (an event moves one stop): their deadlines are taken from the run
        # they had, not walked through the calendar again and not cached per clock (a million clocks).
        for old in self.runs:
            if old.start == start and old.budget == budget:
                return _Run(kind, cycle, start, stop, budget, old.risk_at, old.due)
        return _Run(
            kind,
            cycle,
            start,
            stop,
            budget,
            self.calendar.deadline_ts(start, budget * self.target.at_risk_fraction),
            self.calendar.deadline_ts(start, budget),
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
                    self.note_emitted(key)
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
