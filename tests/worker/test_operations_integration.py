"""Operations on the running pipeline (real embedded broker, real worker): CRM enrichment, threading and
reopen, lifecycle events, reassign and re-task through the ops API, routing rules changed live, and the
backlog and SLA metrics that result."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from stream.kafka.batch_sink import BatchSink
from stream.kafka.records import OutRecord
from stream.local.promtext import Scrape, scrape
from stream.settings import Settings
from stream.tickets.ids import ticket_id
from tests.conftest import read_topic, send, wait_accounted
from tests.factory import post

pytestmark = pytest.mark.integration

TOKEN = "s3cret-ops-token"
KAFKA_SECRET = "kafka-pa55-do-not-log"


async def until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


async def write(settings: Settings, topic: str, records: list[OutRecord]) -> None:
    sink = BatchSink.from_settings(settings, "test-writer")
    await sink.start()
    try:
        await (await sink.send(topic, records))
    finally:
        await sink.stop()


async def latest_tickets(settings: Settings) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for record in await read_topic(settings.kafka, settings.topics.tickets, idle_s=0.8):
        ticket = orjson.loads(record.value)
        latest[ticket["ticket_id"]] = ticket
    return latest


def event(tid: str, kind: str, eid: str, **extra: Any) -> OutRecord:
    doc = {"event_id": eid, "ticket_id": tid, "type": kind, "at": datetime.now(UTC).isoformat(), **extra}
    return OutRecord(orjson.dumps(doc), key=tid.encode())


async def test_operations_on_the_running_pipeline(topics, start_worker):
    s = topics
    worker = start_worker(TRIAGE_OPS_TOKEN=TOKEN, KAFKA_SASL_PASSWORD=KAFKA_SECRET)  # unused on PLAINTEXT
    await worker.wait_ready()
    api = f"http://127.0.0.1:{worker.web_port}/api"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    # The CRM knows @VipKim as a VIP.
    profile = orjson.dumps({"customer_id": "C-42", "tier": "vip", "value": 12000})
    await write(s, s.topics.customers, [OutRecord(profile, key=b"x:vipkim")])
    await until(lambda: _metric(worker, "triage_customers_known", 1), what="the customer profile")

    vip = post(1, "my order never arrived and nobody answers, this is unacceptable")
    vip["author"] = {"id": "77", "handle": "VipKim", "followers": 10}
    root = post(2, "my internet is down since yesterday and support never calls back")
    normal = post(3, "I was charged twice for one order and nobody answers my emails")
    await send(s, [vip, root, normal])
    await wait_accounted(worker, 3)
    await until(lambda: _metric(worker, "triage_backlog_tickets", 3), what="the backlog gauge")

    tid_vip, tid_root, tid_normal = (ticket_id("x", "acme", str(i)) for i in (1, 2, 3))
    tickets = await latest_tickets(s)
    assert tickets[tid_vip]["queue"] == "vip-care" and tickets[tid_vip]["customer_id"] == "C-42"
    assert tickets[tid_vip]["customer_tier"] == "vip"
    assert tickets[tid_normal]["queue"] == "billing"

    async with aiohttp.ClientSession() as http:
        # Nobody gets in without the token.
        async with http.get(f"{api}/tickets") as resp:
            assert resp.status == 401
        async with http.get(f"{api}/tickets", headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
        async with http.get(f"{api}/tickets", headers=auth) as resp:
            listing = await resp.json()
        assert resp.status == 200 and listing["complete"] and listing["total"] == 3
        async with http.get(f"{api}/tickets", params={"queue": "billing"}, headers=auth) as resp:
            assert [t["ticket_id"] for t in (await resp.json())["tickets"]] == [tid_normal]

        # A reply in the thread updates the same ticket.
        reply = post(
            4, "still no internet today, this is getting ridiculous", reply_to="2", conversation_id="2"
        )
        await send(s, [reply])
        await wait_accounted(worker, 4)
        threaded = (await latest_tickets(s))[tid_root]
        assert threaded["contacts"] == 2 and [p["post_id"] for p in threaded["posts"]] == ["2", "4"]

        # Reassign one ticket; re-task a whole queue.
        async with http.post(
            f"{api}/tickets/{tid_normal}/reassign", json={"to_agent": "ana", "by": "sup"}, headers=auth
        ) as resp:
            assert resp.status == 202
        async with http.post(
            f"{api}/tickets/{tid_normal}/reassign", json={"to_queue": "nowhere"}, headers=auth
        ) as resp:
            assert resp.status == 400 and "unknown queue" in (await resp.json())["error"]
        await until(lambda: _ticket_is(s, tid_normal, agent="ana"), what="the reassignment")
        retask = {"from_queue": threaded["queue"], "to_queue": "social-general", "by": "sup"}
        async with http.post(f"{api}/retask", json=retask, headers=auth) as resp:
            assert resp.status == 202
        await until(lambda: _ticket_is(s, tid_root, queue="social-general"), what="the re-task")
        async with http.get(f"{api}/tickets/{tid_root}", headers=auth) as resp:
            detail = await resp.json()
        assert detail["queue"] == "social-general" and detail["sla"]["first_response"]["status"] == "ok"

        # The CRM answers and resolves the VIP's ticket; the customer comes back and it reopens.
        await write(
            s,
            s.topics.ticket_events,
            [
                event(tid_vip, "assigned", "e1", agent="bo"),
                event(tid_vip, "first_response", "e2"),
                event(tid_vip, "resolved", "e3"),
                event(tid_vip, "resolved", "e3"),  # a CRM retry: applied once
                event("tkt_" + "0" * 20, "resolved", "e4"),  # unknown ticket: dead-lettered, counted
            ],
        )
        await until(lambda: _ticket_is(s, tid_vip, status="resolved"), what="the resolution")
        m = await asyncio.to_thread(scrape, worker.metrics_url)
        assert m.value("triage_tickets_first_responded_total", queue="vip-care") == 1
        assert m.value("triage_tickets_resolved_total", queue="vip-care") == 1
        assert m.value("triage_first_responses_within_sla_total", queue="vip-care") == 1
        assert m.value("triage_time_to_first_response_seconds_count", queue="vip-care") == 1
        assert m.value("triage_ticket_events_total", type="resolved", result="duplicate") == 1
        assert m.value("triage_ticket_events_total", type="resolved", result="unknown_ticket") == 1
        back = post(5, "it happened again, my order is missing again!!", reply_to="1", conversation_id="1")
        back["author"] = vip["author"]
        await send(s, [back])
        await until(lambda: _ticket_is(s, tid_vip, status="reopened"), what="the reopen")

        # Routing rules changed live: a bad document is refused, a good one applies without a restart.
        async with http.put(f"{api}/rules", data=b"default_queue: [", headers=auth) as resp:
            assert resp.status == 400
        async with http.get(f"{api}/rules", headers=auth) as resp:
            rules = (await resp.json())["rules"]
        rules["rules"].insert(
            0, {"name": "routers", "match": {"keywords": ["router"]}, "queue": "tech-support"}
        )
        async with http.put(f"{api}/rules", data=orjson.dumps(rules), headers=auth) as resp:
            assert resp.status == 202
        await until(
            lambda: _metric(worker, "triage_rules_updates_total", 1, result="applied"), what="new rules"
        )
        await send(s, [post(6, "my router keeps rebooting every ten minutes, please fix this")])
        await wait_accounted(worker, 6)
        assert (await latest_tickets(s))[ticket_id("x", "acme", "6")]["queue"] == "tech-support"

    # The backlog an ops team would look at (refreshed every 2 s): per queue, with the reassigned agent.
    await until(lambda: _metric(worker, "triage_backlog_tickets", 4), what="the router ticket in the backlog")
    m = await asyncio.to_thread(scrape, worker.metrics_url)
    assert m.value("triage_backlog_tickets", queue="billing", agent="ana") == 1
    assert m.value("triage_backlog_tickets", queue="social-general") == 1  # the re-tasked thread
    assert m.value("triage_backlog_tickets") == 4  # vip (reopened), the thread, billing, router
    assert m.value("triage_oldest_open_ticket_seconds", queue="billing") > 0

    # Everything the worker exports is clean for Prometheus (names, types, help, units).
    with urllib.request.urlopen(worker.metrics_url) as resp:
        exposition = resp.read()
    promtool = ["promtool", "check", "metrics"]
    check = subprocess.run(promtool, input=exposition, capture_output=True, timeout=30)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), check

    # No secret in what the worker logged or exports; it listens on loopback only.
    log = worker.log_path.read_bytes()
    for secret in (TOKEN.encode(), KAFKA_SECRET.encode()):
        assert secret not in log and secret not in exposition
    assert worker.process is not None
    assert listening_addresses(worker.process.pid) == {"127.0.0.1"}


def listening_addresses(pid: int) -> set[str]:
    """IPv4 addresses a process listens on: its socket inodes matched in /proc/net/tcp."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and inode in inodes:  # 0A: LISTEN
            ip = bytes.fromhex(local.split(":")[0])[::-1]
            found.add(".".join(str(b) for b in ip))
    return found


async def _metric(worker: Any, name: str, at_least: float, **labels: str) -> bool:
    try:
        m: Scrape = await asyncio.to_thread(scrape, worker.metrics_url)
    except OSError:
        return False
    return m.value(name, **labels) >= at_least


async def _ticket_is(settings: Settings, tid: str, **want: Any) -> bool:
    ticket = (await latest_tickets(settings)).get(tid)
    return ticket is not None and all(ticket.get(k) == v for k, v in want.items())


TINY_SLA = """
version: "test"
default_targets:
  1: {first_response_s: 6, resolution_s: 3600}
  2: {first_response_s: 6, resolution_s: 3600}
  3: {first_response_s: 6, resolution_s: 3600}
  4: {first_response_s: 6, resolution_s: 3600}
"""


async def test_sla_at_risk_and_breach_alerts_reach_the_alerts_topic(topics, start_worker, tmp_path):
    """With a 6-second first-response budget and nobody answering, the ticket goes at risk, then breaches;
    a second ticket answered in time does not."""
    sla = tmp_path / "sla.yaml"
    sla.write_text(TINY_SLA)
    s = topics
    worker = start_worker(TRIAGE_SLA_PATH=str(sla), TRIAGE_OPS_TOKEN=TOKEN)
    await worker.wait_ready()
    await worker.wait_assigned(s.topics.actionable, s.partitions)  # the clock starts at ingest
    await send(
        s,
        [
            post(1, "my order never arrived and nobody answers, this is unacceptable"),
            post(2, "I was charged twice for one order and nobody answers my emails"),
        ],
    )
    await wait_accounted(worker, 2)
    answered = ticket_id("x", "acme", "2")
    await write(s, s.topics.ticket_events, [event(answered, "first_response", "e1")])

    async def alerts() -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in await read_topic(s.kafka, s.topics.alerts, idle_s=0.5)]

    found = await until(
        lambda: _kinds(alerts, ticket_id("x", "acme", "1"), {"sla_at_risk", "sla_breached"}),
        timeout=30,
        what="at-risk and breached alerts",
    )
    assert {a["target"] for a in found} == {"first_response"}
    assert not [a for a in await alerts() if a["ticket_id"] == answered]
    m = await asyncio.to_thread(scrape, worker.metrics_url)
    assert m.value("triage_sla_breaches_total", target="first_response") == 1
    assert m.value("triage_sla_at_risk_total", target="first_response") == 1
    assert m.value("triage_first_responses_within_sla_total") == 1


async def test_the_brands_public_reply_in_the_thread_is_the_first_response(topics, start_worker, tmp_path):
    """The brand answers one of two customers on the platform, not in the CRM: that ticket is responded
    and within its SLA, the other breaches; the reply itself opens no ticket and is accounted as filtered."""
    sla = tmp_path / "sla.yaml"
    sla.write_text(TINY_SLA)
    s = topics
    worker = start_worker(TRIAGE_SLA_PATH=str(sla), TRIAGE_BRAND_HANDLES='["AcmeHelp"]')
    await worker.wait_ready()
    await worker.wait_assigned(s.topics.actionable, s.partitions)
    await send(
        s,
        [
            post(1, "my order never arrived and nobody answers, this is unacceptable"),
            post(2, "I was charged twice for one order and nobody answers my emails"),
        ],
    )
    await wait_accounted(worker, 2)
    reply = post(3, "so sorry about that, please DM us your order number and we'll sort it", reply_to="2")
    reply.update(conversation_id="2", author={"id": "brand", "handle": "AcmeHelp", "followers": 90_000})
    await send(s, [reply])
    m = await wait_accounted(worker, 3)
    assert m.value("triage_posts_out_total", outcome="filtered") == 1

    answered, ignored = ticket_id("x", "acme", "2"), ticket_id("x", "acme", "1")

    async def responded() -> dict[str, Any] | None:
        ticket = (await latest_tickets(s)).get(answered)
        return ticket if ticket and ticket["status"] == "responded" else None

    ticket = await until(responded, what="the answered ticket to be responded")
    assert ticket["first_response_at"] is not None and ticket["explanation"][-1].endswith("@AcmeHelp")
    assert (await latest_tickets(s))[ignored]["status"] == "open"
    m = await asyncio.to_thread(scrape, worker.metrics_url)
    assert m.value("triage_ticket_events_total", type="public_reply", result="applied") == 1
    assert m.value("triage_tickets_first_responded_total") == 1
    assert m.value("triage_first_responses_within_sla_total") == 1
    assert m.value("triage_posts_out_total", outcome="ticket") == 2


async def _kinds(alerts: Callable[[], Any], tid: str, want: set[str]) -> list[dict[str, Any]]:
    mine = [a for a in await alerts() if a["ticket_id"] == tid]
    return mine if {a["kind"] for a in mine} >= want else []
