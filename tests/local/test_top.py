"""``triage top``: what a supervisor reads off the frame, computed from two scrapes of /metrics."""

from __future__ import annotations

import argparse
import io

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from rich.console import Console, RenderableType

from stream.local.promtext import Scrape
from stream.local.top import register, render_top, run_top, summarize


class Worker:
    """The metrics a worker exports (names as the ticketing stage will), in a private registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.backlog = Gauge("triage_backlog_tickets", "", ["queue", "priority", "agent"], registry=r)
        self.oldest = Gauge("triage_oldest_open_ticket_seconds", "", ["queue"], registry=r)
        self.created = Counter("triage_tickets_created", "", ["queue"], registry=r)
        self.responded = Counter("triage_tickets_first_responded", "", ["queue"], registry=r)
        self.within = Counter("triage_first_responses_within_sla", "", ["queue"], registry=r)
        self.breaches = Counter("triage_sla_breaches", "", ["queue", "target"], registry=r)
        self.at_risk = Counter("triage_sla_at_risk", "", ["queue", "target"], registry=r)
        self.ttfr = Histogram(
            "triage_time_to_first_response_seconds", "", ["queue"], buckets=(60, 300, 900, 3600), registry=r
        )
        self.spike = Gauge("triage_spike_active", "", ["kind", "key"], registry=r)
        self.spike_alerts = Counter("triage_spike_alerts", "", ["kind"], registry=r)
        self.posts_in = Counter("triage_posts_in", "", registry=r)
        self.posts_out = Counter("triage_posts_out", "", ["outcome"], registry=r)
        self.stage = Counter("triage_stage_posts", "", ["stage"], registry=r)

    def scrape(self) -> Scrape:
        return Scrape(generate_latest(self.registry).decode())


def text(renderable: RenderableType) -> str:
    console = Console(record=True, width=220, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.fixture
def worker() -> Worker:
    w = Worker()
    w.backlog.labels("social-x", "1", "").set(2)
    w.backlog.labels("social-x", "3", "ana").set(5)
    w.backlog.labels("social-x", "3", "").set(1)
    w.backlog.labels("billing", "4", "bo").set(7)
    w.oldest.labels("social-x").set(3725)
    w.oldest.labels("billing").set(42)
    w.created.labels("social-x").inc(100)
    w.created.labels("billing").inc(10)
    w.responded.labels("social-x").inc(40)
    w.within.labels("social-x").inc(30)
    w.breaches.labels("social-x", "first_response").inc(10)
    w.breaches.labels("social-x", "resolution").inc(2)
    w.at_risk.labels("social-x", "first_response").inc(12)
    for s in (30, 30, 120, 600, 2000):
        w.ttfr.labels("social-x").observe(s)
    w.posts_in.inc(10_000)
    for outcome, n in (("ticket", 110), ("filtered", 9000), ("duplicate", 880), ("dead_letter", 10)):
        w.posts_out.labels(outcome).inc(n)
    w.stage.labels("triage").inc(10_000)
    w.stage.labels("route").inc(110)
    return w


def test_the_frame_shows_backlog_sla_and_throughput(worker: Worker) -> None:
    before = worker.scrape()
    worker.created.labels("social-x").inc(30)  # 30 tickets in 30 s: 60 a minute
    worker.stage.labels("triage").inc(15_000)  # 500 posts/s
    worker.spike.labels("hashtag", "voltmobiledown").set(1)
    worker.spike.labels("brand", "calm-co").set(0)
    worker.spike_alerts.labels("hashtag").inc()
    out = text(render_top(before, worker.scrape(), 30.0))
    row = next(line for line in out.splitlines() if "social-x" in line)
    cells = row.replace("│", " ").split()
    # queue, P1..P4, open, unassigned, oldest, new/min, compliance, TTFR p90, at risk, breached
    assert cells == [
        "social-x",
        "2",
        "0",
        "6",
        "0",
        "8",
        "3",
        "1h02m",
        "60.0",
        "75.0%",
        "37m30s",  # p90 rank 4.5 of 5: 900 s + 2700 s x 0.5
        "12",
        "10/2",
    ]
    billing = next(line for line in out.splitlines() if "billing" in line).replace("│", " ").split()
    assert billing[1:9] == ["0", "0", "0", "7", "7", "0", "42s", "0.0"] and billing[9] == "-"
    assert "500" in out  # posts/s from the triage stage counter
    assert "9,000" in out and "dead_letter" in out
    assert "SURGE hashtag voltmobiledown" in out and "calm-co" not in out
    assert "ana 5" in out and "bo 7" in out


def test_rates_need_two_scrapes_and_survive_a_worker_restart(worker: Worker) -> None:
    first = worker.scrape()
    view = summarize(None, first, 0.0)
    assert view.posts_per_s is None and all(q.created_per_min is None for q in view.queues)
    assert "-" in text(render_top(None, first, 0.0))
    restarted = Worker()
    restarted.stage.labels("triage").inc(200)
    restarted.created.labels("social-x").inc(4)
    view = summarize(first, restarted.scrape(), 2.0)
    assert view.posts_per_s == 100  # the counter went down: it restarted from zero
    assert next(q for q in view.queues if q.queue == "social-x").created_per_min == 120


def test_compliance_is_first_responses_within_sla_over_all_first_responses(worker: Worker) -> None:
    q = next(q for q in summarize(None, worker.scrape(), 1.0).queues if q.queue == "social-x")
    assert q.compliance == 0.75 and q.open == 8 and q.unassigned == 3
    empty = summarize(None, Worker().scrape(), 1.0)
    assert empty.queues == [] and "no tickets yet" in text(render_top(None, Worker().scrape(), 1.0))


def test_once_prints_one_frame_from_two_scrapes(worker: Worker) -> None:
    scrapes = iter([worker.scrape(), worker.scrape()])
    slept: list[float] = []
    console = Console(record=True, width=220, file=io.StringIO(), color_system=None)
    rc = run_top("http://w/metrics", 1.5, once=True, console=console, fetch=lambda url: next(scrapes),
                 sleep=slept.append)  # fmt: skip
    assert rc == 0 and slept == [1.5]
    assert "social-x" in console.export_text()


def test_once_fails_cleanly_when_the_worker_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    def down(url: str) -> Scrape:
        raise ConnectionRefusedError(111, "Connection refused")

    rc = run_top("http://127.0.0.1:9/metrics", 0.0, once=True, fetch=down, sleep=lambda s: None)
    assert rc == 2
    assert "cannot read http://127.0.0.1:9/metrics" in capsys.readouterr().err


def test_the_loop_keeps_going_through_a_failed_scrape(worker: Worker) -> None:
    calls = iter([worker.scrape(), OSError("timed out"), worker.scrape()])

    def fetch(url: str) -> Scrape:
        x = next(calls)
        if isinstance(x, Exception):
            raise x
        return x

    console = Console(record=True, width=220, file=io.StringIO(), color_system=None)
    slept: list[float] = []
    assert run_top("u", 2.0, console=console, fetch=fetch, sleep=slept.append, frames=3) == 0
    assert slept == [2.0, 2.0]


def test_register_adds_the_top_sub_command() -> None:
    parser = argparse.ArgumentParser(prog="triage")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["top", "--url", "http://w:6066/metrics", "--interval", "5", "--once"])
    assert (args.url, args.interval, args.once) == ("http://w:6066/metrics", 5.0, True)
    assert callable(args.func)
