"""A worker at a fixed rate for N minutes with a simulated CRM resolving most tickets: does it stay flat?

The source writes synthetic posts at ``--rate``; a simulated CRM follows the tickets topic and, for
``--resolve-share`` of the tickets it sees opened, writes a ``resolved`` lifecycle event after
``--resolve-after`` seconds (a care team answering). Every ``--sample`` seconds the harness records the
worker's RSS, its consumer lag, posts in and out, open tickets and ticket states evicted. At the end the
worker is stopped with SIGTERM and started again on its local state: time to ready.

With ``--reopen-window`` and ``--expire-after`` short (seconds, not days), resolved states leave the store
within the run, so a flat RSS shows the lifecycle working, not only the store bounding memory.

The embedded broker keeps every record in memory (about 4 KB per post): 2,000 posts/s for 30 minutes is
~14 GB. Size ``--minutes`` to the machine.

    python -m benchmarks.soak --rate 2000 --minutes 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from benchmarks.procs import Env, Proc
from benchmarks.procstats import memory
from benchmarks.state_restore import _until_ready
from stream.kafka.batch_sink import BatchSink
from stream.kafka.records import OutRecord
from stream.local.worker_process import accounted

__all__ = ["run"]


async def crm(env: Env, share: float, after_s: float, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Resolve ``share`` of newly opened tickets ``after_s`` seconds after first seeing them."""
    s = env.settings
    consumer = AIOKafkaConsumer(s.topics.tickets, **s.kafka.reader_kwargs(fetch_max_wait_ms=200))
    sink = BatchSink(s.kafka, client_id="bench-crm", linger_s=0.05, default_partitions=s.partitions)
    await consumer.start()
    await sink.start()
    seen: set[str] = set()
    due: list[tuple[float, str]] = []
    rng = random.Random(5)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            now = time.time()
            for records in batch.values():
                for r in records:
                    t = orjson.loads(r.value)
                    tid = t["ticket_id"]
                    if t["status"] == "open" and tid not in seen:
                        seen.add(tid)
                        counts["opened"] += 1
                        if rng.random() < share:
                            due.append((now + after_s, tid))
            ready = [tid for at, tid in due if at <= now]
            due = [(at, tid) for at, tid in due if at > now]
            if ready:
                at = datetime.now(UTC).isoformat()
                events = [
                    OutRecord(
                        orjson.dumps(
                            {"event_id": uuid.uuid4().hex, "ticket_id": tid, "type": "resolved", "at": at}
                        ),
                        key=tid.encode(),
                    )
                    for tid in ready
                ]
                await (await sink.send(s.topics.ticket_events, events))
                counts["resolved"] += len(events)
    finally:
        await consumer.stop()
        await sink.stop()


async def sample(worker: Proc, started: float) -> dict[str, Any]:
    s = await worker.scrape()
    mem = memory(worker.pid or 0) or (0, 0)
    posts_in, out = accounted(s) if s else (0.0, 0.0)
    return {
        "t": round(time.monotonic() - started, 1),
        "rss_mb": round(mem[0] / 2**20, 1),
        "in": posts_in,
        "out": out,
        "lag": s.value("triage_consumer_lag") if s else None,
        "open": s.value("triage_backlog_tickets") if s else None,
        "evicted": s.value("triage_ticket_states_evicted_total") if s else None,
        "expired": s.value("triage_tickets_expired_total") if s else None,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with Env(args.workdir) as env:
        extra = {
            "TRIAGE_REOPEN_WINDOW_S": str(args.reopen_window),
            "TRIAGE_TICKET_EXPIRE_AFTER_S": str(args.expire_after),
        }
        env.settings = env.settings.model_copy(update={})
        port_env = env.env  # the worker's environment with the lifecycle shortened
        env.env = lambda web_port, data_dir, extra_=None: port_env(
            web_port, data_dir, {**extra, **(extra_ or {})}
        )  # type: ignore[method-assign]
        worker = env.worker("faust")
        await worker.wait_ready()
        stop = asyncio.Event()
        counts = {"opened": 0, "resolved": 0}
        crm_task = asyncio.create_task(crm(env, args.resolve_share, args.resolve_after, stop, counts))
        total = int(args.rate * args.minutes * 60)
        src = await env.source(["--rate", str(args.rate), "--count", str(total), "--seed", "11"])
        started = time.monotonic()
        series = []
        while not src.done or (series and series[-1]["lag"]):
            series.append({**await sample(worker, started), **counts})
            print(orjson.dumps(series[-1]).decode(), flush=True)
            if time.monotonic() - started > args.minutes * 60 + 600:
                break
            await asyncio.sleep(args.sample)
        stop.set()
        with contextlib.suppress(Exception):
            await crm_task
        worker.stop()
        env.procs.remove(worker)
        worker = env.worker("faust", extra=extra)
        restart = await _until_ready(worker, 600)
        return {
            "rate": args.rate,
            "minutes": args.minutes,
            "resolve_share": args.resolve_share,
            "resolve_after_s": args.resolve_after,
            "reopen_window_s": args.reopen_window,
            "expire_after_s": args.expire_after,
            "source": src.result,
            "series": series,
            "restart_after_sigterm": restart,
        }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--resolve-share", type=float, default=0.9)
    p.add_argument("--resolve-after", type=float, default=60.0)
    p.add_argument("--reopen-window", type=int, default=120)
    p.add_argument("--expire-after", type=int, default=3600)
    p.add_argument("--sample", type=float, default=10.0)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/bench-soak"))
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    out = asyncio.run(run(args))
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    name = f"soak_{int(args.rate)}_{args.minutes:g}min"
    (results / f"{name}.json").write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    _plot(out, results / f"{name}.png")


def _plot(doc: dict[str, Any], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    s = doc["series"]
    t = [x["t"] / 60 for x in s]
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    axes[0].plot(t, [x["rss_mb"] for x in s])
    axes[0].set_ylabel("worker RSS (MB)")
    axes[1].plot(t, [x["lag"] or 0 for x in s], label="lag (records)")
    axes[1].plot(t, [x["open"] or 0 for x in s], label="open tickets")
    axes[1].legend()
    rates = [0.0] + [
        (b["out"] - a["out"]) / (b["t"] - a["t"]) if b["t"] > a["t"] else 0.0
        for a, b in itertools.pairwise(s)
    ]
    axes[2].plot(t, rates)
    axes[2].set_ylabel("posts out / s")
    axes[2].set_xlabel("minutes")
    fig.suptitle(f"soak: {doc['rate']:g} posts/s, CRM resolving {doc['resolve_share']:.0%}")
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
