"""Working time: business hours, time zones, DST, holidays, follow-the-sun."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from schemas.sla import ServiceCentre
from stream.ops.business_calendar import BusinessCalendar
from stream.ops.sla_policy import load_sla_policy
from stream.ops.sla_tracker import SlaTracker
from tests.ops.support import WEEK, H, centre, utc


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


def test_a_far_future_end_is_measured_up_to_the_horizon_not_walked_day_by_day() -> None:
    # A CRM's first_response "at 9999-12-30" walked ~2.9 million days (the worker froze ~50 s). Business time
    # is measured up to 400 days from the start: the same figure for any end past that.
    cal = BusinessCalendar([centre("uk", "Europe/London")])
    start = utc(2026, 11, 20, 9, 0)
    horizon = cal.business_seconds(start, start + timedelta(days=400))
    assert cal.business_seconds(start, datetime(9999, 12, 30, tzinfo=start.tzinfo)) == horizon
    assert 0 < horizon < 400 * 24 * H
