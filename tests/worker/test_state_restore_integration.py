"""Exact restore on the embedded broker, whose reported end offsets stop short: after a worker is stopped
(SIGTERM) or killed (SIGKILL) mid-stream and started again on the same local state, every ticket it serves
is the last version on the changelog, none missing, none rolled back."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import aiohttp
import pytest

from stream.local.promtext import scrape
from stream.local.worker_process import WorkerProcess
from stream.settings import Settings
from stream.tickets.state import TicketState
from tests.conftest import read_topic, send
from tests.worker.test_faults_integration import make_posts, outcome_of_every_post

pytestmark = pytest.mark.integration

TOKEN = "restore-test-token"
# every ticket is asked for, one request each: the ops token's rate limit would answer 429 past 200
WORKER_ENV = {"TRIAGE_OPS_TOKEN": TOKEN, "TRIAGE_HTTP_TOKEN_RATE": "0"}


async def changelog_latest(settings: Settings) -> dict[str, TicketState]:
    latest: dict[str, TicketState | None] = {}
    for record in await read_topic(settings.kafka, settings.ticket_changelog_topic, idle_s=1.0):
        latest[record.key.decode()] = TicketState.loads(record.value) if record.value is not None else None
    return {tid: state for tid, state in latest.items() if state is not None}


async def wait_restored(worker: WorkerProcess, timeout: float = 60.0) -> float:
    """Seconds until /readyz says ready (every held partition's state whole)."""
    started = time.monotonic()
    url = f"http://{worker.settings.web_host}:{worker.web_port}/readyz"
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - started < timeout:
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"not ready after {timeout}s; see {worker.log_path}")


async def wait_settled(worker: WorkerProcess, timeout: float = 120.0) -> None:
    """Until the worker has no lag on any input and nothing restoring, three scrapes in a row."""
    deadline, calm = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and calm < 3:
        s = await asyncio.to_thread(scrape, worker.metrics_url)
        measured = "triage_consumer_lag" in s.names()
        lagging, restoring = s.value("triage_consumer_lag"), s.value("triage_state_partitions_restoring")
        calm = calm + 1 if measured and lagging == 0 and restoring == 0 else 0
        await asyncio.sleep(1.0)
    assert calm >= 3, f"worker did not settle in {timeout}s; see {worker.log_path}"


async def served(worker: WorkerProcess, ids: list[str]) -> dict[str, Any]:
    base = f"http://{worker.settings.web_host}:{worker.web_port}/api/tickets/"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(headers=headers) as http:
        for tid in ids:
            async with http.get(base + tid) as r:
                out[tid] = await r.json() if r.status == 200 else r.status
    return out


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
async def test_every_ticket_served_after_a_restart_is_the_changelog_s_last_version(
    topics: Settings, start_worker: Any, stop: signal.Signals
) -> None:
    posts, keys = make_posts(3000, seed=20)
    first = start_worker(**WORKER_ENV)
    await first.wait_ready()
    await send(topics, posts[:2000])
    await outcome_of_every_post(topics, {f"{p['platform']}:{p['post_id']}" for p in posts[:2000]})
    sending = asyncio.create_task(send(topics, posts[2000:]))
    await asyncio.sleep(0.3)  # mid-stream: some of the rest is handled, some is not
    if stop == signal.SIGKILL:
        first.kill()
    else:
        first.stop()
    await sending
    second = start_worker(**WORKER_ENV)  # same data_dir: the local state is kept
    await second.wait_ready()
    await wait_restored(second)
    await outcome_of_every_post(topics, keys)
    await wait_settled(second)
    truth = await changelog_latest(topics)
    assert len(truth) > 500
    got = await served(second, sorted(truth))
    assert {doc for doc in got.values() if isinstance(doc, int)} <= {404}
    missing = [tid for tid, doc in got.items() if doc == 404]
    differ = [
        tid
        for tid, doc in got.items()
        if doc != 404
        and {k: v for k, v in doc.items() if k != "sla"} != truth[tid].to_ticket().model_dump(mode="json")
    ]
    assert missing == [] and differ == [], (len(missing), len(differ), len(truth))
    log = second.log_path.read_text()
    assert "state partition" in log and "discarded" not in log  # restored from disk, not rebuilt
