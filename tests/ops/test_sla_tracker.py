"""The SLA tracker: CRM lifecycle events, priority changes, backlog, pruning and restoring clocks."""

from __future__ import annotations

import json

from schemas.events import TicketEvent
from schemas.sla import SlaPolicy, SlaTarget
from stream.ops.sla_clock import SlaTargetKind
from stream.ops.sla_tracker import SlaTracker
from tests.ops.support import T0, at, tracker_247


def test_apply_reads_crm_lifecycle_events() -> None:
    tr = tracker_247()
    tid = "tkt_" + "ab" * 10
    tr.open(tid, "q", 2, T0)

    def ev(kind: str, s: float, **kw: str) -> TicketEvent:
        return TicketEvent(event_id=f"e{s}", ticket_id=tid, type=kind, at=at(s), **kw)  # type: ignore[arg-type]

    assert tr.apply(ev("assigned", 10, agent="ana")) is None
    m = tr.apply(ev("first_response", 20))
    assert m is not None and m.target is SlaTargetKind.FIRST_RESPONSE
    tr.apply(ev("reassigned", 30, queue="vip-care"))
    assert tr.clock(tid).queue == "vip-care"  # type: ignore[union-attr]
    assert tr.apply(ev("resolved", 40)) is not None
    tr.apply(ev("reopened", 50))
    assert tr.backlog() == {("vip-care", 2): 1}


def test_a_priority_change_moves_the_deadlines() -> None:
    pol = SlaPolicy(
        default_targets={
            p: SlaTarget(first_response_s=1000 * p, resolution_s=10_000 * p) for p in (1, 2, 3, 4)
        }
    )
    tr = SlaTracker(pol)
    tr.open("t1", "q", 3, T0)
    assert tr.snapshot("t1", T0).first_response.due_at == at(3000)  # type: ignore[union-attr]
    tr.open("t1", "q", 1, at(500))  # escalated: same creation time, tighter target
    assert tr.snapshot("t1", at(500)).first_response.due_at == at(1000)  # type: ignore[union-attr]
    assert [x.status for x in tr.advance(at(1000))] == ["at_risk", "breached"]


def test_backlog_oldest_prune_and_restore() -> None:
    tr = tracker_247()
    tr.open("a", "q1", 1, T0)
    tr.open("b", "q1", 2, at(100))
    tr.open("c", "q2", 2, at(200))
    tr.resolved("c", at(300))
    assert tr.backlog() == {("q1", 1): 1, ("q1", 2): 1}
    assert tr.oldest_open(at(1000)) == {"q1": 1000}
    tr.advance(at(900))  # a: first response at risk, reported
    state = json.loads(json.dumps(tr.clock("a").state()))  # type: ignore[union-attr]
    assert tr.prune(at(300 + 8 * 86_400)) == 1 and "c" not in tr
    fresh = SlaTracker(tr.policy)
    fresh.restore(state)
    assert [x.event_id for x in fresh.advance(at(1000))] == ["a:first_response:0:breached"]
