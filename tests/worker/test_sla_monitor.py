"""SLA clocks held per ticket: a resolved ticket's clocks are let go (a worker must not keep one per ticket
it ever resolved), and a reopen rebuilds them so its new resolution cycle runs from the reopen."""

from __future__ import annotations

import orjson

from stream.ops.sla_policy import load_sla_policy
from stream.tickets.ids import ticket_id
from stream.worker.metrics import Metrics
from stream.worker.sla_monitor import SlaMonitor
from tests.tickets.test_stage import NOW, scored, stage


def event(tid: str, kind: str, eid: str, at: str) -> bytes:
    return orjson.dumps({"event_id": eid, "ticket_id": tid, "type": kind, "at": at})


def test_a_resolved_ticket_is_let_go_and_a_reopen_starts_a_new_cycle_from_the_reopen() -> None:
    s, sla = stage(), SlaMonitor(load_sla_policy(), Metrics())
    tid = ticket_id("x", "acme", "100")
    sla.track(s.process(orjson.dumps([scored(1, "100")]), "act", 0, 0, NOW))
    assert tid in sla.tracker
    sla.track(s.process_event(event(tid, "first_response", "e1", "2026-11-22T09:10:00Z"), "ev", 0, 1, NOW))
    sla.track(s.process_event(event(tid, "resolved", "e2", "2026-11-22T09:30:00Z"), "ev", 0, 2, NOW))
    assert tid not in sla.tracker and len(sla.tracker) == 0
    sla.track(s.process_event(event(tid, "reopened", "e3", "2026-11-22T09:45:00Z"), "ev", 0, 3, NOW))
    clock = sla.tracker.clock(tid)
    assert clock is not None and clock.is_open
    assert clock.first_response is not None  # answered before: the first-response target stays met
    cycle = clock.runs[-1]
    assert cycle.cycle == 1 and cycle.start == clock.created + 45 * 60  # from the reopen, not the creation
