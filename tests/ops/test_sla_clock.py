"""One ticket's SLA clocks: at risk and breached once each, working time, reopen cycles, repeated events."""

from __future__ import annotations

from stream.ops.sla_clock import SlaStatus, SlaTargetKind
from stream.ops.sla_tracker import SlaTracker
from tests.ops.support import T0, H, at, centre, policy, tracker_247, utc


def test_at_risk_then_breached_are_reported_once_each() -> None:
    tr = tracker_247()
    tr.open("t1", "q", 2, T0)
    assert tr.advance(at(799)) == []
    (risk,) = tr.advance(at(800))
    assert (risk.status, risk.target, risk.at, risk.due_at) == (
        SlaStatus.AT_RISK, SlaTargetKind.FIRST_RESPONSE, at(800), at(1000)
    )  # fmt: skip
    assert tr.advance(at(900)) == []
    assert tr.snapshot("t1", at(900)).first_response.status is SlaStatus.AT_RISK  # type: ignore[union-attr]
    (breach,) = tr.advance(at(1000))
    assert (breach.status, breach.at) == (SlaStatus.BREACHED, at(1000))
    assert tr.advance(at(1500)) == []
    assert breach.event_id == "t1:first_response:0:breached"
    # a repeat of the ticket (at-least-once delivery) reports nothing again
    tr.open("t1", "q", 2, T0)
    assert tr.advance(at(1600)) == []


def test_transitions_do_not_depend_on_how_often_anyone_checks() -> None:
    often, once = tracker_247(), tracker_247()
    for tr in (often, once):
        tr.open("t1", "q", 2, T0)
        tr.open("t2", "q", 2, at(100))
    seen = [x for s in range(0, 20_001, 50) for x in often.advance(at(s))]
    late = once.advance(at(20_000))
    assert [(x.event_id, x.at) for x in seen] == [(x.event_id, x.at) for x in late]
    assert [x.status for x in late if x.ticket_id == "t1"] == ["at_risk", "breached", "at_risk", "breached"]
    assert [x.at for x in late] == sorted(x.at for x in late)


def test_first_response_stops_the_first_response_clock() -> None:
    tr = tracker_247()
    tr.open("t1", "q", 2, T0)
    m = tr.first_response("t1", at(500))
    assert m is not None and m.within_sla and m.wall_s == 500 and m.working_s == 500
    assert tr.first_response("t1", at(500)) is None  # a repeat records nothing
    assert [x.target for x in tr.advance(at(9_000))] == [SlaTargetKind.RESOLUTION]  # resolution at risk
    snap = tr.snapshot("t1", at(9_000))
    assert snap is not None
    assert (snap.first_response.status, snap.first_response.elapsed_s) == (SlaStatus.MET, 500)
    assert snap.resolution.status is SlaStatus.AT_RISK


def test_a_late_first_response_is_breached_and_recorded_as_outside_sla() -> None:
    tr = tracker_247()
    tr.open("t1", "q", 2, T0)
    m = tr.first_response("t1", at(1200))
    assert m is not None and not m.within_sla
    # nobody checked in between: both transitions are still reported, with when they happened
    assert [(x.status, x.at) for x in tr.advance(at(1300))] == [("at_risk", at(800)), ("breached", at(1000))]
    assert tr.snapshot("t1", at(1300)).first_response.status is SlaStatus.BREACHED  # type: ignore[union-attr]


def test_a_response_after_the_at_risk_mark_but_in_time_is_met() -> None:
    tr = tracker_247()
    tr.open("t1", "q", 2, T0)
    tr.first_response("t1", at(900))
    assert [x.status for x in tr.advance(at(5_000))] == ["at_risk"]
    assert tr.snapshot("t1", at(5_000)).first_response.status is SlaStatus.MET  # type: ignore[union-attr]


def test_first_response_clock_uses_working_time() -> None:
    pol = policy(centre("uk", "Europe/London"), queues=[{"queue": "uk-q", "centres": ["uk"]}], fr=2 * H)
    tr = SlaTracker(pol)
    tr.open("t1", "uk-q", 3, utc(2026, 1, 16, 16, 0))  # Friday 16:00, closes 17:00
    assert tr.advance(utc(2026, 1, 18, 12, 0)) == []  # Sunday: nothing is late
    snap = tr.snapshot("t1", utc(2026, 1, 18, 12, 0))
    assert snap is not None and snap.first_response.elapsed_s == H
    assert snap.first_response.due_at == utc(2026, 1, 19, 10, 0)
    m = tr.first_response("t1", utc(2026, 1, 19, 9, 30))
    assert m is not None and m.within_sla and m.working_s == 1.5 * H and m.wall_s == 65.5 * H


def test_reopen_restarts_the_resolution_clock() -> None:
    tr = tracker_247(fr=100, res=1000)
    tr.open("t1", "q", 2, T0)
    tr.first_response("t1", at(50))
    m = tr.resolved("t1", at(600))
    assert m is not None and m.within_sla and m.cycle == 0
    assert tr.resolved("t1", at(600)) is None  # repeat
    assert tr.advance(at(5_000)) == []  # resolved in time: nothing to report
    assert tr.backlog() == {}
    assert tr.reopened("t1", at(5_000))
    assert not tr.reopened("t1", at(5_100))  # already open
    assert tr.backlog() == {("q", 2): 1}
    snap = tr.snapshot("t1", at(5_500))
    assert snap is not None and snap.open
    assert (snap.resolution.cycle, snap.resolution.elapsed_s, snap.resolution.due_at) == (1, 500, at(6_000))
    assert snap.first_response.status is SlaStatus.MET  # a reopen does not restart the first response
    out = tr.advance(at(6_000))
    assert [(x.event_id, x.at) for x in out] == [
        ("t1:resolution:1:at_risk", at(5_800)),
        ("t1:resolution:1:breached", at(6_000)),
    ]
    m2 = tr.resolved("t1", at(6_500))
    assert m2 is not None and not m2.within_sla and (m2.cycle, m2.wall_s) == (1, 1500)


def test_out_of_order_and_repeated_events_give_the_same_clocks() -> None:
    a, b = tracker_247(fr=100, res=1000), tracker_247(fr=100, res=1000)
    for tr in (a, b):
        tr.open("t1", "q", 2, T0)
    for kind, s in [("first_response", 50), ("resolved", 300), ("reopened", 400), ("resolved", 700)]:
        getattr(a, kind)("t1", at(s))
    for kind, s in [("resolved", 700), ("resolved", 300), ("reopened", 400), ("first_response", 80),
                    ("first_response", 50), ("resolved", 300)]:  # fmt: skip
        getattr(b, kind)("t1", at(s))
    sa, sb = a.snapshot("t1", at(2_000)), b.snapshot("t1", at(2_000))
    assert sa == sb and sa is not None and not sa.open and sa.resolution.cycle == 1
