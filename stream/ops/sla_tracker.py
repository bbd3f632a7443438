"""The SLA clocks of many tickets under one policy: lifecycle events in, due transitions and backlog out.

Checking is cheap at any cadence: the next instant each ticket can change is kept in a heap, so
``advance(now)`` touches only tickets that have something due. Pure: time is passed in.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.events import TicketEvent, TicketEventType
from schemas.sla import SlaPolicy
from schemas.timestamps import epoch_seconds, utc_from_epoch
from stream.ops.business_calendar import BusinessCalendar
from stream.ops.sla_clock import Measured, SlaClock, SlaSnapshot, SlaTransition

__all__ = ["SlaTracker"]

_WEEK = 7 * 86_400.0


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

    def prune(self, now: datetime, keep_resolved_s: float = _WEEK) -> int:
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
        for a, b, c in state.get("emitted", ()):
            clock.note_emitted((str(a), int(b), str(c)))
        self._schedule(self._entries[clock.ticket_id])
        return clock
