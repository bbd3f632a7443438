"""What `triage run` prints at the end: tickets counted once, not once per version written."""

from __future__ import annotations

from typing import Any

from stream.local.promtext import Scrape
from stream.local.run import most_urgent, summary


def _ticket(tid: str, priority: int, clout: float, text: str, status: str = "open") -> dict[str, Any]:
    return {
        "ticket_id": tid,
        "priority": priority,
        "status": status,
        "scores": {"clout": clout},
        "posts": [{"text": text}],
    }


def test_most_urgent_shows_each_ticket_once_in_its_latest_version() -> None:
    records = [
        _ticket("tkt_a", 1, 73.0, "first post"),
        _ticket("tkt_b", 2, 90.0, "other thread"),
        _ticket("tkt_a", 1, 73.0, "follow-up in the same thread"),
        _ticket("tkt_c", 1, 80.0, "was urgent"),
        _ticket("tkt_c", 1, 80.0, "was urgent", status="resolved"),
        _ticket("tkt_d", 3, 99.0, "low priority, high clout"),
    ]
    top = most_urgent(records, n=3)
    assert [t["ticket_id"] for t in top] == ["tkt_a", "tkt_b", "tkt_d"]
    assert top[0]["posts"][-1]["text"] == "follow-up in the same thread"


def test_most_urgent_orders_by_priority_then_clout() -> None:
    records = [
        _ticket("tkt_low", 1, 10.0, "x"),
        _ticket("tkt_high", 1, 60.0, "y"),
        _ticket("tkt_p2", 2, 99.0, "z"),
    ]
    assert [t["ticket_id"] for t in most_urgent(records, n=2)] == ["tkt_high", "tkt_low"]


SCRAPE = """\
# TYPE triage_posts_in_total counter
triage_posts_in_total 10.0
# TYPE triage_posts_out_total counter
triage_posts_out_total{outcome="ticket"} 6.0
triage_posts_out_total{outcome="filtered"} 4.0
# TYPE triage_tickets_created_total counter
triage_tickets_created_total{queue="social-x"} 3.0
triage_tickets_created_total{queue="billing"} 1.0
# TYPE triage_backlog_tickets gauge
triage_backlog_tickets{agent="",priority="1",queue="social-x"} 1.0
triage_backlog_tickets{agent="ana",priority="2",queue="social-x"} 1.0
triage_backlog_tickets{agent="",priority="3",queue="billing"} 0.0
# TYPE triage_tickets_emitted_total counter
triage_tickets_emitted_total{priority="1",queue="social-x"} 5.0
triage_tickets_emitted_total{priority="3",queue="billing"} 2.0
"""


def test_summary_counts_tickets_opened_and_open_now_not_records() -> None:
    lines = summary(Scrape(SCRAPE), 1.0, 10).splitlines()
    assert "  social-x                        3         2" in lines
    assert "  billing                         1         0" in lines
    assert lines.index("  social-x                        3         2") < lines.index(
        "  billing                         1         0"
    )
    assert "open tickets by priority   P1 1, P2 1" in lines
    assert "ticket records written     7 (every version)" in lines
    accounted = next(line for line in lines if "accounted for" in line)
    assert accounted.split()[-2:] == ["10", "OK"]


def test_summary_says_none_when_no_ticket_is_open() -> None:
    lines = summary(
        Scrape("# TYPE triage_posts_in_total counter\ntriage_posts_in_total 0.0\n"), 1.0, 0
    ).splitlines()
    assert "open tickets by priority   none" in lines
