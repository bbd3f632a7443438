"""``triage top``: a terminal view of queues, backlog, SLA and throughput, read from a worker's /metrics.

Why: supervisors without Grafana at hand still need "what is my backlog, are we within SLA, is the
pipeline keeping up" at a glance. Rendering is a pure function of two scrapes and the seconds between
them (:func:`render_top`), so it is tested on hand-written metric text; :func:`run_top` only scrapes,
sleeps and redraws.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stream.local.promtext import Scrape, histogram_quantile, scrape

__all__ = [
    "DEFAULT_URL",
    "QueueRow",
    "TopView",
    "main",
    "register",
    "render",
    "render_top",
    "run_top",
    "summarize",
]

DEFAULT_URL = "http://127.0.0.1:6066/metrics"
EXIT_NO_METRICS = 2
PRIORITIES = ("1", "2", "3", "4")
OUTCOMES = ("ticket", "filtered", "duplicate", "dead_letter")


@dataclass(frozen=True, slots=True)
class QueueRow:
    queue: str
    backlog: dict[str, float]  # by priority "1".."4"
    unassigned: float
    oldest_s: float | None
    created_per_min: float | None
    first_responses: float
    within_sla: float
    breaches: dict[str, float]  # by target: first_response, resolution
    at_risk: float
    ttfr_p90_s: float | None

    @property
    def open(self) -> float:
        return sum(self.backlog.values())

    @property
    def compliance(self) -> float | None:
        """First responses within SLA over all first responses (None before the first one)."""
        return self.within_sla / self.first_responses if self.first_responses else None


@dataclass(frozen=True, slots=True)
class TopView:
    queues: list[QueueRow]
    posts_per_s: float | None
    posts_in: float
    outcomes: dict[str, float]
    spikes: list[tuple[str, str]]  # (kind, key) of surges going on
    spike_alerts: float
    ingest_p95_s: float | None
    agents: dict[str, float] = field(default_factory=dict)  # open tickets per agent


def _group(s: Scrape, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for key, v in s.samples.get(name, {}).items():
        d = dict(key)
        k = tuple(d.get(label, "") for label in labels)
        out[k] = out.get(k, 0.0) + v
    return out


def _rate(cur: float, prev: float | None, elapsed_s: float) -> float | None:
    """Per-second increase of a counter; a counter that went down was reset (the worker restarted)."""
    if prev is None or elapsed_s <= 0:
        return None
    delta = cur - prev if cur >= prev else cur
    return delta / elapsed_s


def _buckets(s: Scrape, name: str, **labels: str) -> dict[str, float]:
    want = set(labels.items())
    out: dict[str, float] = {}
    for key, v in s.samples.get(name, {}).items():
        d = dict(key)
        if want <= set(key) and "le" in d:
            out[d["le"]] = out.get(d["le"], 0.0) + v
    return out


def summarize(prev: Scrape | None, cur: Scrape, elapsed_s: float) -> TopView:
    """The numbers of one frame: gauges from ``cur``, rates from the change since ``prev``."""
    backlog = _group(cur, "triage_backlog_tickets", "queue", "priority", "agent")
    oldest = cur.by_label("triage_oldest_open_ticket_seconds", "queue")
    created = cur.by_label("triage_tickets_created_total", "queue")
    created_prev = prev.by_label("triage_tickets_created_total", "queue") if prev else {}
    responded = cur.by_label("triage_tickets_first_responded_total", "queue")
    within = cur.by_label("triage_first_responses_within_sla_total", "queue")
    breaches = _group(cur, "triage_sla_breaches_total", "queue", "target")
    at_risk = cur.by_label("triage_sla_at_risk_total", "queue")
    queues = (
        {q for q, _, _ in backlog}
        | set(oldest)
        | set(created)
        | set(responded)
        | {q for q, _ in breaches}
        | set(at_risk)
    )
    rows = []
    for q in sorted(queues):
        by_p = {p: 0.0 for p in PRIORITIES}
        unassigned = 0.0
        for (qq, p, agent), v in backlog.items():
            if qq == q:
                by_p[p] = by_p.get(p, 0.0) + v
                unassigned += v if not agent else 0.0
        rate = _rate(created.get(q, 0.0), created_prev.get(q, 0.0) if prev else None, elapsed_s)
        rows.append(
            QueueRow(
                queue=q,
                backlog=by_p,
                unassigned=unassigned,
                oldest_s=oldest.get(q),
                created_per_min=None if rate is None else rate * 60,
                first_responses=responded.get(q, 0.0),
                within_sla=within.get(q, 0.0),
                breaches={t: v for (qq, t), v in breaches.items() if qq == q},
                at_risk=at_risk.get(q, 0.0),
                ttfr_p90_s=histogram_quantile(
                    0.9, _buckets(cur, "triage_time_to_first_response_seconds_bucket", queue=q)
                ),
            )
        )
    agents: dict[str, float] = {}
    for (_, _, agent), v in backlog.items():
        if agent:
            agents[agent] = agents.get(agent, 0.0) + v
    stage = "triage_stage_posts_total"
    spikes = sorted(k for k, v in _group(cur, "triage_spike_active", "kind", "key").items() if v > 0)
    return TopView(
        queues=rows,
        posts_per_s=_rate(
            cur.value(stage, stage="triage"), prev.value(stage, stage="triage") if prev else None, elapsed_s
        ),
        posts_in=cur.value("triage_posts_in_total"),
        outcomes=cur.by_label("triage_posts_out_total", "outcome"),
        spikes=[(kind, key) for kind, key in spikes],
        spike_alerts=cur.value("triage_spike_alerts_total"),
        ingest_p95_s=histogram_quantile(0.95, _buckets(cur, "triage_ingest_to_ticket_seconds_bucket")),
        agents=agents,
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86_400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86_400}d{s % 86_400 // 3600:02d}h"


def _n(v: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if v is None else fmt.format(v)


def _compliance(c: float | None) -> Text:
    if c is None:
        return Text("-")
    style = "green" if c >= 0.95 else "yellow" if c >= 0.8 else "bold red"
    return Text(f"{c:.1%}", style=style)


def render(view: TopView, *, title: str = "triage top") -> RenderableType:
    """The frame: a queue table, then pipeline throughput, outcomes and any surges."""
    q = Table(title="Queues", expand=True, header_style="bold")
    q.add_column("queue")
    for p in PRIORITIES:
        q.add_column(f"P{p}", justify="right")
    q.add_column("open", justify="right")
    q.add_column("unassigned", justify="right")
    q.add_column("oldest", justify="right")
    q.add_column("new/min", justify="right")
    q.add_column("1st resp in SLA", justify="right")
    q.add_column("TTFR p90", justify="right")
    q.add_column("at risk", justify="right")
    q.add_column("breached (1st/res)", justify="right")
    for r in view.queues:
        breached = r.breaches.get("first_response", 0.0) + r.breaches.get("resolution", 0.0)
        q.add_row(
            r.queue,
            *(Text(_n(r.backlog.get(p, 0.0)), style="bold red" if p == "1" and r.backlog.get(p) else "")
              for p in PRIORITIES),
            _n(r.open),
            _n(r.unassigned),
            _age(r.oldest_s),
            _n(r.created_per_min, "{:,.1f}"),
            _compliance(r.compliance),
            _age(r.ttfr_p90_s),
            _n(r.at_risk),
            Text(
                f"{r.breaches.get('first_response', 0.0):,.0f}/{r.breaches.get('resolution', 0.0):,.0f}",
                style="red" if breached else "",
            ),
        )  # fmt: skip
    if not view.queues:
        q.add_row("(no tickets yet)", *[""] * (len(q.columns) - 1))

    pipe = Table(title="Pipeline", expand=True, header_style="bold")
    pipe.add_column("posts/s", justify="right")
    pipe.add_column("posts in", justify="right")
    for outcome in OUTCOMES:
        pipe.add_column(outcome, justify="right")
    pipe.add_column("ingest→ticket p95", justify="right")
    pipe.add_row(
        _n(view.posts_per_s, "{:,.0f}"),
        _n(view.posts_in),
        *(_n(view.outcomes.get(o, 0.0)) for o in OUTCOMES),
        _n(view.ingest_p95_s, "{:.2f}s"),
    )
    parts: list[RenderableType] = [q, pipe]
    if view.spikes:
        lines = "\n".join(f"[bold red]SURGE[/] {kind} [bold]{key}[/]" for kind, key in view.spikes)
        parts.append(
            Panel(lines, title=f"Active spikes ({view.spike_alerts:,.0f} alerts so far)", style="red")
        )
    else:
        parts.append(Text(f"No active spikes ({view.spike_alerts:,.0f} alerts so far).", style="dim"))
    if view.agents:
        busiest = sorted(view.agents.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        parts.append(Text("Open per agent: " + ", ".join(f"{a} {v:,.0f}" for a, v in busiest), style="dim"))
    return Panel(Group(*parts), title=title, border_style="blue")


def render_top(
    prev: Scrape | None, cur: Scrape, elapsed_s: float, *, title: str = "triage top"
) -> RenderableType:
    """Pure: two scrapes (``prev`` may be None: no rates yet) and the seconds between them, to a frame."""
    return render(summarize(prev, cur, elapsed_s), title=title)


def run_top(
    url: str = DEFAULT_URL,
    interval: float = 2.0,
    once: bool = False,
    *,
    console: Console | None = None,
    fetch: Callable[[str], Scrape] = scrape,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    frames: int | None = None,
) -> int:
    """Polls ``url`` every ``interval`` seconds and redraws. ``once``: two scrapes ``interval`` apart (for
    the rates), one frame printed, exit. ``frames`` bounds the loop (tests)."""
    console = console or Console()
    title = f"triage top · {url}"

    def grab() -> tuple[Scrape | None, str | None]:
        try:
            return fetch(url), None
        except (OSError, ValueError) as exc:
            return None, f"cannot read {url}: {exc}"

    if once:
        first, err = grab()
        t0 = clock()
        if first is not None:
            sleep(interval)
            second, err = grab()
            if second is not None:
                console.print(render_top(first, second, clock() - t0, title=title))
                return 0
        print(f"triage top: {err}", file=sys.stderr)
        return EXIT_NO_METRICS

    prev: Scrape | None = None
    prev_t = clock()
    shown = 0
    with Live(console=console, auto_refresh=False, screen=False) as live:
        while frames is None or shown < frames:
            cur, err = grab()
            now = clock()
            if cur is None:
                live.update(Panel(Text(err or "no metrics", style="red"), title=title), refresh=True)
            else:
                live.update(render_top(prev, cur, now - prev_t, title=title), refresh=True)
                prev, prev_t = cur, now
            shown += 1
            if frames is None or shown < frames:
                sleep(interval)
    return 0


def _cmd_top(args: argparse.Namespace) -> int:
    try:
        return run_top(args.url, args.interval, args.once)
    except KeyboardInterrupt:
        return 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``top`` to the ``triage`` command's sub-commands."""
    p = subparsers.add_parser(
        "top",
        help="terminal view of queues, backlog, SLA and throughput from a worker's /metrics",
        description="Polls a worker's Prometheus endpoint and shows per-queue backlog by priority, the "
        "oldest open ticket, SLA compliance and breaches, tickets per minute, pipeline throughput, "
        "outcomes and active spikes. Exit codes: 0, or 2 when --once cannot read the metrics.",
    )
    p.add_argument("--url", default=DEFAULT_URL, help=f"metrics URL (default: {DEFAULT_URL})")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between scrapes (default: 2)")
    p.add_argument("--once", action="store_true", help="print one frame and exit (takes one interval)")
    p.set_defaults(func=_cmd_top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream.local.top")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["top", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
