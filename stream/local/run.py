"""`triage run`: the whole pipeline on one machine, with the embedded broker and the bundled sample.

Starts the broker (unless KAFKA_BOOTSTRAP_SERVERS is set), creates topics, starts a worker process,
replays the sample stream through a source producer, shows progress from the worker's /metrics, and ends
with a summary once every post is accounted for.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import signal
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from stream.kafka.admin import ensure_topics
from stream.kafka.readers import read_topic
from stream.local.broker import EmbeddedBroker
from stream.local.promtext import Scrape, histogram_quantile, scrape
from stream.local.worker_process import OUTCOMES, WorkerProcess, accounted
from stream.settings import Settings
from stream.sources.producer import PostProducer
from stream.sources.synthetic.generator import DEFAULT_SAMPLE_PATH, brand_account_handles
from stream.tickets.state import CLOSED_STATUSES

__all__ = [
    "SAMPLE_PATH",
    "most_urgent",
    "port_in_use",
    "read_jsonl",
    "run_pipeline",
    "summary",
]

SAMPLE_PATH = DEFAULT_SAMPLE_PATH


def read_jsonl(path: Path) -> Iterator[Any]:
    """Posts from a .jsonl or .jsonl.gz file; a line that is not JSON is passed on as raw bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                yield bytes(line)


def _latency(s: Scrape, q: float) -> float | None:
    return histogram_quantile(q, s.by_label("triage_ingest_to_ticket_seconds_bucket", "le"))


def _progress_line(s: Scrape, elapsed: float, rate: float) -> str:
    p95 = _latency(s, 0.95)
    return (
        f"[{elapsed:6.1f}s] in {s.value('triage_posts_in_total'):>7,.0f} ({rate:>6,.0f}/s)  "
        f"tickets {s.value('triage_posts_out_total', outcome='ticket'):>6,.0f}  "
        f"filtered {s.value('triage_posts_out_total', outcome='filtered'):>6,.0f}  "
        f"duplicates {s.value('triage_posts_out_total', outcome='duplicate'):>5,.0f}  "
        f"dead letters {s.value('triage_posts_out_total', outcome='dead_letter'):>4,.0f}  "
        f"p95 ingest->ticket {'-' if p95 is None else f'{p95:.2f}s'}"
    )


def summary(s: Scrape, elapsed: float, sent: int) -> str:
    posts_in, out = accounted(s)
    lines = [
        "",
        "Summary",
        "-------",
        f"posts sent by the source   {sent:>8,}",
        f"posts in the pipeline      {posts_in:>8,.0f}",
    ]
    for o in OUTCOMES:
        lines.append(f"  {o:<24} {s.value('triage_posts_out_total', outcome=o):>8,.0f}")
    lines.append(f"  {'accounted for':<24} {out:>8,.0f}  {'OK' if out == posts_in else 'MISMATCH'}")
    dup = s.by_label("triage_duplicates_total", "kind")
    if dup:
        lines.append(
            "duplicates by kind         " + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(dup.items()))
        )
    # The tickets topic holds every version of a ticket (it is written again when a post joins its thread
    # or its state changes), so tickets are counted from the route stage's ticket metrics, not records.
    opened = s.by_label("triage_tickets_created_total", "queue")
    open_now = s.by_label("triage_backlog_tickets", "queue")
    lines.append(f"tickets by queue           {'opened':>8} {'open now':>9}")
    for queue in sorted(set(opened) | set(open_now), key=lambda q: (-opened.get(q, 0.0), q)):
        lines.append(f"  {queue:<24} {opened.get(queue, 0.0):>8,.0f} {open_now.get(queue, 0.0):>9,.0f}")
    prio = {k: v for k, v in s.by_label("triage_backlog_tickets", "priority").items() if v}
    by_prio = ", ".join(f"P{k} {v:,.0f}" for k, v in sorted(prio.items())) or "none"
    lines.append(f"open tickets by priority   {by_prio}")
    lines.append(f"ticket records written     {s.value('triage_tickets_emitted_total'):,.0f} (every version)")
    q = [(_latency(s, x), x) for x in (0.5, 0.95, 0.99)]
    lines.append(
        "ingest->ticket latency     " + ", ".join(f"p{int(x * 100)} {v:.3f}s" for v, x in q if v is not None)
    )
    answered = s.value("triage_tickets_first_responded_total")
    if answered:
        within = s.value("triage_first_responses_within_sla_total")
        lines.append(f"first responses            {answered:,.0f} tickets answered, {within:,.0f} within SLA")
    lines.append(f"elapsed                    {elapsed:.1f}s")
    return "\n".join(lines)


async def _example_tickets(settings: Settings, n: int = 3) -> list[dict[str, Any]]:
    records = await read_topic(settings.kafka, settings.topics.tickets, idle_s=0.5, within_s=10)
    return most_urgent((orjson.loads(r.value) for r in records if r.value), n)


def most_urgent(records: Iterable[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` most urgent open tickets, each once, as last written.

    ``records`` are ticket records in partition order: a ticket's versions share its partition (keyed by
    ticket id), so the last one seen is the current one.
    """
    latest = {t["ticket_id"]: t for t in records}
    live = [t for t in latest.values() if t.get("status") not in CLOSED_STATUSES]
    return sorted(live, key=lambda t: (t["priority"], -t["scores"]["clout"]))[:n]


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (probed as the worker's web server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


async def run_pipeline(
    settings: Settings,
    sample: Path = SAMPLE_PATH,
    rate: float = 1000.0,
    follow: bool = False,
    timeout: float = 180.0,
    echo: Callable[[str], None] = print,
) -> int:
    run_dir = settings.data_dir / "run"
    if settings.web_port and port_in_use(settings.web_host, settings.web_port):
        # A worker left running by an earlier run would answer our /metrics: the progress and summary
        # would be its figures, not this run's. Refuse before starting anything.
        echo(
            f"triage run: {settings.web_host}:{settings.web_port} is already in use (perhaps a worker of an "
            "earlier run): stop that process, or set TRIAGE_WEB_PORT to a free port"
        )
        return 2
    # SIGTERM (timeout, systemd, a CI cancel) and SIGHUP stop the run like Ctrl-C: the finally below must
    # run, or the broker and the worker (own sessions, so no signal reaches them) outlive it.
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    stop_signals = (signal.SIGTERM, signal.SIGHUP)
    if main is not None:
        for sig in stop_signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
                loop.add_signal_handler(sig, main.cancel)
    try:
        return await _run(settings, sample, rate, follow, timeout, echo, run_dir)
    finally:
        for sig in stop_signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


async def _run(
    settings: Settings,
    sample: Path,
    rate: float,
    follow: bool,
    timeout: float,
    echo: Callable[[str], None],
    run_dir: Path,
) -> int:
    broker: EmbeddedBroker | None = None
    if not settings.kafka_bootstrap_servers:
        broker = EmbeddedBroker(log_path=run_dir / "broker.log").start()
        settings = settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap_servers})
        echo(f"embedded Kafka broker (Tansu) pid {broker.pid} on {broker.bootstrap_servers}")
    extra_env: dict[str, str] = {}
    if sample == SAMPLE_PATH and not settings.brand_handles:
        # The bundled sample is the generator's fictional brands, whose own accounts reply in threads: a
        # deployment for them would name those accounts, so the demo does.
        handles = brand_account_handles()
        extra_env["TRIAGE_BRAND_HANDLES"] = orjson.dumps(handles).decode()
        echo(f"the sample's {len(handles)} brand accounts are the brand's own: their posts open no tickets")
    worker = WorkerProcess(settings, run_dir / "worker.log", extra_env=extra_env)
    try:
        created = await ensure_topics(settings.kafka, settings.topic_specs())
        echo(f"topics ready ({len(created)} created, {settings.partitions} partitions each)")
        worker.start()
        await worker.wait_ready()
        echo(f"worker pid {worker.process.pid if worker.process else '?'}: metrics on {worker.metrics_url}")
        await worker.wait_assigned(settings.topics.raw, settings.partitions)
        echo("worker joined the consumer group; replaying the sample stream")
        started = time.monotonic()
        sent = 0
        async with PostProducer(settings, linger_s=0.05) as producer:
            last = time.monotonic()
            prev_in = 0.0
            for item in read_jsonl(sample):
                if isinstance(item, bytes):
                    await producer.add_raw(item)
                else:
                    await producer.add(item)
                sent += 1
                if rate > 0:
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0.02:  # pace in 20 ms steps: the producer frames what was added meanwhile
                        await asyncio.sleep(ahead)
                if time.monotonic() - last >= 1.0:
                    s = await asyncio.to_thread(scrape, worker.metrics_url)
                    now_in = s.value("triage_posts_in_total")
                    echo(
                        _progress_line(
                            s, time.monotonic() - started, (now_in - prev_in) / (time.monotonic() - last)
                        )
                    )
                    last, prev_in = time.monotonic(), now_in
        echo(f"source finished: {sent:,} posts sent; waiting for the pipeline to account for all of them")
        deadline = time.monotonic() + timeout
        settled: float | None = None  # when every post was accounted for
        while True:
            s = await asyncio.to_thread(scrape, worker.metrics_url)
            posts_in, out = accounted(s)
            if posts_in >= sent and out == posts_in:
                # The brand's replies were accounted for in triage; give the route stage a few seconds
                # to apply them (they stop first-response clocks) so the summary shows them.
                settled = settled or time.monotonic()
                lag = s.by_label("triage_consumer_lag", "topic").get(settings.topics.actionable, 0.0)
                if lag == 0 or time.monotonic() - settled > 10:
                    break
            if time.monotonic() > deadline or not worker.alive():
                echo(_progress_line(s, time.monotonic() - started, 0.0))
                echo(
                    f"pipeline did not drain: in {posts_in:,.0f}, accounted {out:,.0f}, sent {sent:,}; "
                    f"see {worker.log_path}"
                )
                return 1
            await asyncio.sleep(0.5)
        echo(_progress_line(s, time.monotonic() - started, 0.0))
        echo(summary(s, time.monotonic() - started, sent))
        try:
            examples = await _example_tickets(settings)
        except TimeoutError as exc:  # the summary above stands; the examples are only illustration
            echo(f"(no example tickets: {exc})")
            examples = []
        if examples:
            echo("\nmost urgent tickets")
            for t in examples:
                post = t["posts"][-1]
                echo(
                    f"  {t['ticket_id']}  P{t['priority']}  {t['queue']:<18} @{post['author_handle']}: "
                    f"{post['text'][:90]!r}"
                )
                echo(f"      why: {' | '.join(t['explanation'])}")
        if follow:
            echo(f"\nfollowing: pipeline up, metrics on {worker.metrics_url}; Ctrl-C to stop")
            prev_in, last = s.value("triage_posts_in_total"), time.monotonic()
            while worker.alive():
                await asyncio.sleep(5)
                s = await asyncio.to_thread(scrape, worker.metrics_url)
                now_in = s.value("triage_posts_in_total")
                echo(
                    _progress_line(
                        s, time.monotonic() - started, (now_in - prev_in) / (time.monotonic() - last)
                    )
                )
                prev_in, last = now_in, time.monotonic()
            code = worker.process.returncode if worker.process is not None else None
            echo(f"worker exited (code {code}); see {worker.log_path}")
            return 1
        return 0
    finally:
        worker.stop()
        if broker is not None:
            broker.stop()
