"""SLA clocks in working time: business hours, time zones, DST, holidays, follow-the-sun, lifecycle."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from schemas.events import TicketEvent
from schemas.sla import ServiceCentre, SlaPolicy, SlaTarget
from stream.ops.sla import (
    BusinessCalendar,
    SlaError,
    SlaStatus,
    SlaTargetKind,
    SlaTracker,
    load_sla_policy,
)
from stream.tickets.routing import load_rules

H = 3600.0
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


def centre(name: str, tz: str, days: tuple[str, ...] = WEEK[:5], start: str = "09:00", end: str = "17:00",
           **kw: Any) -> ServiceCentre:  # fmt: skip
    return ServiceCentre(name=name, timezone=tz, hours={d: [(start, end)] for d in days}, **kw)


def policy(*centres: ServiceCentre, queues: list[dict[str, Any]] | None = None, fr: float = 1000,
           res: float = 10_000) -> SlaPolicy:  # fmt: skip
    return SlaPolicy(
        centres=list(centres),
        default_targets={p: SlaTarget(first_response_s=fr, resolution_s=res) for p in (1, 2, 3, 4)},
        queues=queues or [],
    )


# --- the calendar ----------------------------------------------------------------------------------------


def test_friday_evening_ticket_in_a_weekday_queue_waits_for_monday() -> None:
    cal = BusinessCalendar([centre("uk", "Europe/London")])
    friday_evening = utc(2026, 1, 16, 18, 0)  # GMT = UTC in January
    assert cal.business_seconds(friday_evening, utc(2026, 1, 19, 8, 59)) == 0
    assert cal.deadline(friday_evening, H) == utc(2026, 1, 19, 10, 0)
    # half an hour left on Friday carries over to Monday morning
    assert cal.deadline(utc(2026, 1, 16, 16, 30), H) == utc(2026, 1, 19, 9, 30)
    assert cal.business_seconds(utc(2026, 1, 16, 16, 30), utc(2026, 1, 19, 9, 30)) == H
    assert not cal.is_open(utc(2026, 1, 17, 12, 0)) and cal.is_open(utc(2026, 1, 19, 9, 0))


def test_a_budget_that_runs_out_at_closing_time_is_due_at_closing_time() -> None:
    cal = BusinessCalendar([centre("uk", "Europe/London")])
    assert cal.deadline(utc(2026, 1, 16, 16, 0), H) == utc(2026, 1, 16, 17, 0)


@pytest.mark.parametrize(
    "cal",
    [BusinessCalendar([]), BusinessCalendar([ServiceCentre(name="g", timezone="UTC", always_open=True)])],
    ids=["no-centres", "always-open"],
)
def test_a_24_7_queue_counts_wall_time(cal: BusinessCalendar) -> None:
    start = utc(2026, 3, 28, 23, 0)  # across a weekend and the London DST change: still wall time
    assert cal.always_open
    assert cal.business_seconds(start, start + timedelta(days=3)) == 3 * 86_400
    assert cal.deadline(start, 4 * H) == start + timedelta(hours=4)


def test_follow_the_sun_hands_over_between_centres_without_stopping() -> None:
    # winter: emea 08-20 UTC, amer 08-20 New York = 13:00-01:00 UTC; together 08:00-01:00 UTC
    cal = BusinessCalendar([centre("emea", "Europe/London", WEEK, "08:00", "20:00"),
                            centre("amer", "America/New_York", WEEK, "08:00", "20:00")])  # fmt: skip
    wed = (2026, 1, 14)
    assert cal.business_seconds(utc(*wed, 19), utc(*wed, 21)) == 2 * H  # emea closes, amer carries on
    assert not cal.is_open(utc(2026, 1, 15, 3, 0))
    # 6 h on Wednesday evening until amer closes at 01:00 UTC, then 2 h from emea's 08:00 on Thursday
    assert cal.deadline(utc(*wed, 19), 8 * H) == utc(2026, 1, 15, 10, 0)
    # emea alone would have needed until Thursday 15:00
    emea = BusinessCalendar([centre("emea", "Europe/London", WEEK, "08:00", "20:00")])
    assert emea.deadline(utc(*wed, 19), 8 * H) == utc(2026, 1, 15, 15, 0)


def test_follow_the_sun_round_the_clock_on_weekdays_in_the_default_policy() -> None:
    tracker = SlaTracker(load_sla_policy())
    cal = tracker.calendar("social-x")
    tue = utc(2026, 1, 13, 0, 0)
    assert cal.business_seconds(tue, tue + timedelta(days=1)) == 86_400
    assert tracker.calendar("vip-care").always_open
    assert not tracker.calendar("billing").always_open


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/London", (2026, 3, 29), 23),  # spring forward
        ("Europe/London", (2026, 10, 25), 25),  # fall back
        ("America/New_York", (2026, 3, 8), 23),
        ("America/New_York", (2026, 11, 1), 25),
    ],
)
def test_a_dst_day_is_as_long_as_it_really_is(zone: str, day: tuple[int, int, int], hours: int) -> None:
    cal = BusinessCalendar([centre("c", zone, ("sun",), "00:00", "24:00")])  # open on Sundays only
    sunday = datetime(*day, tzinfo=ZoneInfo(zone))
    assert cal.business_seconds(sunday - timedelta(days=2), sunday + timedelta(days=3)) == hours * H


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/London", (2026, 3, 29), 5),  # 00:00 GMT to 06:00 BST: the 01:00-02:00 hour never happens
        ("Europe/London", (2026, 10, 25), 7),  # 01:00-02:00 happens twice
        ("America/New_York", (2026, 3, 8), 5),
        ("America/New_York", (2026, 11, 1), 7),
    ],
)
def test_a_night_shift_across_the_dst_change(zone: str, day: tuple[int, int, int], hours: int) -> None:
    cal = BusinessCalendar([centre("c", zone, ("sun",), "00:00", "06:00")])
    start = datetime(*day, tzinfo=ZoneInfo(zone))
    assert cal.business_seconds(start, start + timedelta(hours=12)) == hours * H


def test_opening_hours_follow_local_time_across_dst() -> None:
    london = BusinessCalendar([centre("emea", "Europe/London", WEEK[:6], "08:00", "20:00")])
    # Saturday 28 March 2026 is GMT, Monday 30 March BST: 2 h budget from Sat 19:00 local
    assert london.deadline(utc(2026, 3, 28, 19, 0), 2 * H) == utc(2026, 3, 30, 8, 0)  # 09:00 BST
    # Saturday 24 October is BST (18:00 UTC = 19:00 local, 1 h left), Monday 26 October GMT: 09:00 local
    assert london.deadline(utc(2026, 10, 24, 18, 0), 2 * H) == utc(2026, 10, 26, 9, 0)
    ny = BusinessCalendar([centre("amer", "America/New_York", WEEK, "08:00", "20:00")])
    # Saturday 7 March 19:30 EST: 30 min left; Sunday 8 March opens at 08:00 EDT = 12:00 UTC
    assert ny.deadline(utc(2026, 3, 8, 0, 30), 0.5 * H) == utc(2026, 3, 8, 1, 0)
    assert ny.deadline(utc(2026, 3, 8, 0, 30), 1 * H) == utc(2026, 3, 8, 12, 30)
    # Sunday 1 November is EST again, so it closes at 01:00 UTC (Saturday, EDT, closed at 00:00 UTC)
    assert ny.deadline(utc(2026, 11, 1, 23, 30), 1 * H) == utc(2026, 11, 2, 0, 30)
    # Saturday 31 October 23:30 EDT is closed; Sunday opens at 08:00 EST = 13:00 UTC
    assert ny.deadline(utc(2026, 11, 1, 3, 30), 1 * H) == utc(2026, 11, 1, 14, 0)


def test_holidays_close_a_centre_but_not_its_follow_the_sun_partners() -> None:
    emea = centre("emea", "Europe/London", WEEK[:5], "08:00", "20:00", holidays=["2025-12-25"])
    cal = BusinessCalendar([emea])
    # Wed 24 Dec 19:30: 30 min, Christmas Day closed, Friday from 08:00
    assert cal.deadline(utc(2025, 12, 24, 19, 30), H) == utc(2025, 12, 26, 8, 30)
    amer = centre("amer", "America/New_York", WEEK[:5], "08:00", "20:00")
    both = BusinessCalendar([emea, amer])
    assert both.business_seconds(utc(2025, 12, 25), utc(2025, 12, 26)) == 12 * H  # amer's 13:00-01:00 UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        BusinessCalendar([]).deadline(datetime(2026, 1, 1), 10)


# --- one ticket's clocks -----------------------------------------------------------------------------------


T0 = utc(2026, 1, 14, 12, 0)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def tracker_247(fr: float = 1000, res: float = 10_000) -> SlaTracker:
    return SlaTracker(policy(fr=fr, res=res))


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


# --- the policy file ---------------------------------------------------------------------------------------


def test_default_policy_covers_the_routing_queues() -> None:
    rules = load_rules()
    declared = {q.name for q in rules.queues}
    pol = load_sla_policy(queues=declared)
    assert {q.queue for q in pol.queues} == declared
    centres = {c.name for c in pol.centres}
    for q in rules.queues:
        if q.service_centre and q.service_centre != "follow-the-sun":
            assert pol.queue(q.name).centres == [q.service_centre]  # type: ignore[union-attr]
            assert q.service_centre in centres
    assert pol.target("social-x", 1).first_response_s == 15 * 60
    assert pol.target("social-x", 4).resolution_s == 72 * H
    assert pol.target("unknown-queue", 9) == pol.default_targets[4]


def _write(tmp_path: Path, text: str, name: str = "sla.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """
centres:
  - {name: uk, timezone: Europe/London, hours: {mon: [["09:00", "17:00"]]}}
default_targets:
  1: {first_response_s: 60, resolution_s: 600}
  2: {first_response_s: 60, resolution_s: 600}
  3: {first_response_s: 60, resolution_s: 600}
  4: {first_response_s: 60, resolution_s: 600}
queues:
  - {queue: billing, centres: [uk]}
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("centres: [uk]", "centres: [uj]"), "queue 'billing' names unknown centres ['uj']"),
        (("Europe/London", "Europe/Londn"), "unknown IANA time zone 'Europe/Londn'"),
        (('[["09:00", "17:00"]]', '[["09:00", "17:00"], ["16:00", "18:00"]]'), "overlap"),
        (('[["09:00", "17:00"]]', '[["17:00", "09:00"]]'), "end must be after start"),
        (('[["09:00", "17:00"]]', '[["09:00", 17:00]]'), "quote times"),
        (('[["09:00", "17:00"]]', '[["09:00", "25:00"]]'), "should match pattern"),
        (("  4: {first_response_s: 60, resolution_s: 600}\n", ""), "missing [4]"),
        (("resolution_s: 600}\nqueues", "resolution_s: 6}\nqueues"), "shorter than first_response_s"),
        (
            ('hours: {mon: [["09:00", "17:00"]]}', 'always_open: true, hours: {mon: [["09:00", "17:00"]]}'),
            "always_open",
        ),
        (('hours: {mon: [["09:00", "17:00"]]}', "hours: {}"), "no business hours"),
        (("hours: {mon:", "hours: {monday:"), "monday"),
    ],
)
def test_a_bad_policy_is_refused_with_the_reason(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    assert GOOD.count(change[0]) == 1
    with pytest.raises(SlaError, match="is invalid") as info:
        load_sla_policy(_write(tmp_path, GOOD.replace(*change)))
    assert message in str(info.value)


def test_unreadable_unparsable_or_stray_queue_policies_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SlaError, match="cannot read"):
        load_sla_policy(tmp_path / "missing.yaml")
    with pytest.raises(SlaError, match="not valid yaml"):
        load_sla_policy(_write(tmp_path, "centres: [\n"))
    with pytest.raises(SlaError, match="not valid json"):
        load_sla_policy(_write(tmp_path, "{", "p.json"))
    with pytest.raises(SlaError, match=r"do not declare: \['billing'\]"):
        load_sla_policy(_write(tmp_path, GOOD), queues={"social-x"})
    assert load_sla_policy(_write(tmp_path, GOOD)).queue("billing") is not None


def test_model_rejects_duplicates() -> None:
    c = centre("uk", "Europe/London")
    with pytest.raises(ValidationError, match="unique"):
        policy(c, c)
    with pytest.raises(ValidationError, match="more than once"):
        policy(c, queues=[{"queue": "a"}, {"queue": "a"}])


def test_deadline_and_business_seconds_agree_all_year_round() -> None:
    """Across DST changes, holidays and hand-overs: the budget is used up exactly at the deadline."""
    cal = SlaTracker(load_sla_policy()).calendar("social-x")
    rng = random.Random(7)
    for _ in range(300):
        start = utc(2026, 1, 1) + timedelta(seconds=rng.uniform(0, 365 * 86_400))
        budget = rng.choice([900.0, 3600.0, 14_400.0, 86_400.0, 259_200.0]) * rng.uniform(0.1, 1.0)
        due = cal.deadline(start, budget)
        assert cal.business_seconds(start, due) == pytest.approx(budget, abs=1e-3)
        assert cal.is_open(due - timedelta(seconds=1e-3))


def test_a_shift_across_midnight_utc_is_one_span_and_a_deadline_runs_through_it() -> None:
    """Open hours are kept per UTC day; a shift that spans midnight UTC must still read as one interval."""
    cal = BusinessCalendar([centre("night", "UTC", days=WEEK, start="20:00", end="24:00")])
    cal_am = BusinessCalendar(
        [
            centre("late", "UTC", days=WEEK, start="20:00", end="24:00"),
            centre("early", "UTC", days=WEEK, start="00:00", end="04:00"),
        ]
    )
    t0 = utc(2026, 3, 2, 22).timestamp()
    assert cal_am.spans(t0, t0 + 12 * H) == [(t0, t0 + 6 * H)]
    assert cal_am.deadline(utc(2026, 3, 2, 22), 5 * H) == utc(2026, 3, 3, 3)
    assert cal.deadline(utc(2026, 3, 2, 22), 3 * H) == utc(2026, 3, 3, 21)
    assert cal.business_seconds(utc(2026, 3, 2, 12), utc(2026, 3, 4, 12)) == 8 * H
