"""Ticket state at scale: a worker restored from the changelog (cold), restarted with its local state after
SIGTERM and after SIGKILL (warm), with N tickets in state; time to ready, RSS, and whether every ticket came
back.

Pushing a million posts through the embedded broker would hold ~4 KB per post in its memory and take an
hour, so the changelog is seeded directly with the states a worker writes: real states made by running
synthetic posts through both stages in this process, copied under new ticket ids (the issue's advice).
A share of them is open (``--open-share``), the rest resolved.

    python -m benchmarks.state_restore --tickets 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from benchmarks.procs import Env, Proc
from benchmarks.procstats import memory
from classifiers import load_scorer
from schemas.ticket import TicketStatus
from stream.kafka.batch_sink import BatchSink
from stream.kafka.records import OutRecord
from stream.pipeline.triage import TriageStage
from stream.settings import Settings
from stream.sources.synthetic.generator import FirehoseGenerator
from stream.tickets.customers import CustomerDirectory
from stream.tickets.ids import ticket_partition
from stream.tickets.routing import Router, load_rules
from stream.tickets.stage import TicketingStage
from stream.tickets.state import TicketState

__all__ = ["real_states", "run"]


def real_states(settings: Settings, posts: int = 6000) -> list[TicketState]:
    """States made the way a worker makes them: synthetic posts through the triage and route stages."""
    triage = TriageStage(settings, load_scorer())
    store: dict[bytes, bytes] = {}
    route = TicketingStage(Router(load_rules(None)), settings, store, CustomerDirectory())
    items = [dict(p) for p in FirehoseGenerator(seed=7).take(posts)]
    now = time.time()
    for i in range(0, len(items), 500):
        frame = orjson.dumps(items[i : i + 500])
        decoded, out = triage.decode(frame, "raw", 0, i, now)
        triage.process(decoded, "raw", 0, i, now, out)
        for rec in out.forward:
            route.process(rec.value, "actionable", 0, i, now)
    return [TicketState.loads(v) for v in store.values()]


def _clone(state: TicketState, n: int, open_: bool) -> TicketState:
    tid = "tkt_" + hashlib.blake2b(f"bench-{n}".encode(), digest_size=10).hexdigest()
    status = (
        state.status if open_ and state.is_open else (TicketStatus.OPEN if open_ else TicketStatus.RESOLVED)
    )
    resolved_at = None if open_ else (state.updated_at or state.created_at)
    return dataclasses.replace(state, ticket_id=tid, status=status, resolved_at=resolved_at)


async def seed(env: Env, tickets: int, open_share: float) -> dict[str, Any]:
    s = env.settings
    templates = real_states(s)
    sink = BatchSink(
        s.kafka, client_id="bench-state-seed", linger_s=0.01, max_record_bytes=s.max_record_bytes
    )
    await sink.start()
    started = time.perf_counter()
    sizes = 0
    pending: list[asyncio.Future[None]] = []
    batch: list[OutRecord] = []
    n_open = int(tickets * open_share)
    try:
        for n in range(tickets):
            state = _clone(templates[n % len(templates)], n, n < n_open)
            value = state.dumps()
            sizes += len(value)
            key = state.ticket_id.encode()
            batch.append(OutRecord(value, key=key, partition=ticket_partition(state.ticket_id, s.partitions)))
            if len(batch) >= 2000:
                pending.append(await sink.send(s.ticket_changelog_topic, batch))
                batch = []
                if len(pending) > 50:
                    await asyncio.gather(*pending)
                    pending = []
        if batch:
            pending.append(await sink.send(s.ticket_changelog_topic, batch))
        await asyncio.gather(*pending)
    finally:
        await sink.stop()
    return {
        "tickets": tickets,
        "open": n_open,
        "templates": len(templates),
        "changelog_bytes_per_ticket": round(sizes / tickets),
        "seed_s": round(time.perf_counter() - started, 1),
    }


async def _until_ready(worker: Proc, timeout: float) -> dict[str, Any]:
    """Seconds from now until /readyz is 200, with the peak RSS seen meanwhile."""
    import aiohttp

    started = time.monotonic()
    peak = 0
    url = worker.metrics_url.replace("/metrics", "/readyz")
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - started < timeout:
            if worker.pid is not None:
                mem = memory(worker.pid)
                if mem is not None:
                    peak = max(peak, mem[1])
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
        else:
            raise TimeoutError(f"not ready in {timeout}s; see {worker.log_path}")
    ready_s = time.monotonic() - started
    await asyncio.sleep(3)
    assigned, restored = _restore_window(worker.log_path)
    s = await worker.scrape()
    mem = memory(worker.pid or 0) or (0, 0)
    return {
        "ready_s": round(ready_s, 1),
        # from the group's assignment to the last partition's state whole: what the store costs; the rest
        # of ready_s is process start and the group join (the embedded broker holds a JoinGroup ~18 s)
        "assigned_to_ready_s": round(restored - assigned, 1) if assigned and restored else None,
        "rss_mb": round(mem[0] / 2**20, 1),
        "peak_rss_mb": round(max(peak, mem[1]) / 2**20, 1),
        "open_tickets_indexed": s.value("triage_backlog_tickets") if s else None,
        "changelog_records_replayed": s.value("triage_state_restored_records_total") if s else None,
        "state_resets": s.value("triage_state_resets_total") if s else None,
    }


def _stamp(line: str) -> float | None:
    try:
        return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    except ValueError:
        return None


def _restore_window(log: Path) -> tuple[float | None, float | None]:
    """When this process (the log's last start) was last assigned, and when its last state partition was
    ready, from its log."""
    lines = log.read_text(errors="replace").splitlines()
    starts = [
        i for i, line in enumerate(lines) if "[^Worker]: Starting..." in line or "Worker]: Starting" in line
    ]
    lines = lines[starts[-1] :] if starts else lines
    assigned = [_stamp(x) for x in lines if "Setting newly assigned partitions" in x]
    ready = [_stamp(x) for x in lines if "state partition" in x and " ready:" in x]
    return (assigned[-1] if assigned else None), (max(r for r in ready if r) if any(ready) else None)


def _du_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


async def run(workdir: Path, tickets: int, open_share: float, timeout: float) -> dict[str, Any]:
    async with Env(workdir) as env:
        seeded = await seed(env, tickets, open_share)
        results: dict[str, Any] = {"seed": seeded}
        worker = env.worker("faust")
        results["cold"] = await _until_ready(worker, timeout)
        data = workdir / "faust0" / "state"
        results["state_on_disk_mb"] = _du_mb(data)
        for how in ("sigterm", "sigkill"):
            if how == "sigterm":
                worker.stop()
            else:
                assert worker.pid is not None
                os.kill(worker.pid, 9)
                if worker.process is not None:
                    worker.process.wait(10)
            env.procs.remove(worker)
            worker = env.worker("faust")  # same name: same data dir, local state kept
            results[how] = await _until_ready(worker, timeout)
        return results


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.state_restore", description=__doc__.split("\n")[0])
    p.add_argument("--tickets", type=int, default=200_000)
    p.add_argument("--open-share", type=float, default=0.9)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/bench-state"))
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    out = asyncio.run(run(args.workdir, args.tickets, args.open_share, args.timeout))
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / f"state_restore_{args.tickets}.json").write_bytes(
        orjson.dumps(out, option=orjson.OPT_INDENT_2)
    )


if __name__ == "__main__":
    main()
