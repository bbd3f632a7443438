"""The ops API's handlers against a small in-memory backend (no runtime, no Kafka), and the runtime adapter's
records against a stand-in sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from schemas.ops import OpsCommand
from schemas.rules import QueueSpec, RoutingRules
from schemas.scores import Scores
from schemas.ticket import TicketStatus
from stream.ops.sla_clock import SlaSnapshot, SlaStatus, SlaTargetKind, TargetState
from stream.tickets.backlog import OpenTicket
from stream.tickets.ids import ticket_id, ticket_partition
from stream.tickets.state import TicketState
from stream.worker.ops_api import OPENAPI, OpsApi, add_ops_routes
from stream.worker.ops_backend import RuntimeOpsBackend

PARTITIONS = 4
AUTH = {"Authorization": "Bearer t0ken"}
RULES = RoutingRules(default_queue="general", queues=[QueueSpec(name="general"), QueueSpec(name="billing")])


def tid(n: int) -> str:
    return ticket_id("x", "acme", str(n))


def state(n: int, status: TicketStatus = TicketStatus.OPEN, age_s: float = 60.0, **kw: Any) -> TicketState:
    created = time.time() - age_s
    post = {
        "platform": "x",
        "post_id": str(n),
        "author_id": "9",
        "author_handle": "kim",
        "author_followers": 10,
        "text": "my parcel is late",
        "created_at": datetime.fromtimestamp(created, UTC).isoformat(),
        "ingested_at": datetime.fromtimestamp(created, UTC).isoformat(),
    }
    scores = Scores(
        sentiment="negative",
        negativity=0.8,
        intent="complaint",
        intent_confidence=0.9,
        actionable=True,
        actionable_proba=0.9,
        clout=10.0,
    ).model_dump(mode="json")
    fields: dict[str, Any] = dict(queue="general", priority=3, agent=None)
    fields.update(kw)
    return TicketState(
        ticket_id=tid(n),
        tier=1,
        status=status,
        platform="x",
        brand="acme",
        conversation_id=str(n),
        created_at=created,
        updated_at=created,
        posts=(post,),
        scores=scores,
        explanation=("queue general",),
        **fields,
    )


def indexed(s: TicketState) -> OpenTicket:
    return OpenTicket(
        s.queue,
        s.priority,
        s.agent,
        s.status.value,
        s.created_at,
        None,
        ticket_partition(s.ticket_id, PARTITIONS),
    )


@dataclass
class FakeBackend:
    """OpsBackend in memory: tickets in a dict, writes recorded."""

    tickets: dict[str, TicketState] = field(default_factory=dict)
    held: list[int] = field(default_factory=lambda: list(range(PARTITIONS)))
    snapshots: dict[str, SlaSnapshot] = field(default_factory=dict)
    rules: RoutingRules = RULES
    source: str = "rules.yaml"
    commands: list[OpsCommand] = field(default_factory=list)
    published: list[RoutingRules] = field(default_factory=list)

    def held_partitions(self) -> list[int]:
        return self.held

    def open_tickets(self) -> Iterable[tuple[str, OpenTicket]]:
        return [(t, indexed(s)) for t, s in self.tickets.items() if s.is_open]

    def ticket_states(self) -> Iterable[TicketState]:
        return list(self.tickets.values())

    def load_ticket(self, ticket_id: str) -> TicketState | None:
        return self.tickets.get(ticket_id)

    def sla_snapshot(self, ticket_id: str, now: datetime) -> SlaSnapshot | None:
        return self.snapshots.get(ticket_id)

    def routing_rules(self) -> RoutingRules:
        return self.rules

    def rules_source(self) -> str:
        return self.source

    async def submit_command(self, command: OpsCommand) -> None:
        self.commands.append(command)

    async def publish_rules(self, rules: RoutingRules) -> None:
        self.published.append(rules)


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@asynccontextmanager
async def serve(backend: FakeBackend, token: str | None = "t0ken") -> AsyncIterator[TestClient]:
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/healthz", healthz)
    secret = SecretStr(token) if token is not None else None
    add_ops_routes(app, OpsApi(backend, token=secret, partitions=PARTITIONS))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def test_the_token_guards_api_routes_only() -> None:
    async with serve(FakeBackend(), token=None) as client:
        assert (await client.get("/api/tickets", headers=AUTH)).status == 503
    async with serve(FakeBackend()) as client:
        assert (await client.get("/api/rules", headers={"Authorization": "Bearer t0ke"})).status == 401
        assert (await client.get("/api/rules", headers=AUTH)).status == 200
        assert (await client.get("/healthz")).status == 200
        spec = await client.get("/api/openapi.json")
        assert spec.status == 200 and await spec.json() == orjson.loads(orjson.dumps(OPENAPI))


async def test_listing_filters_sorts_limits_and_says_which_partitions() -> None:
    tickets = [
        state(1, priority=2, age_s=10),
        state(2, priority=1, age_s=20),
        state(3, priority=2, age_s=300, agent="ana"),
        state(4, priority=2, age_s=50, queue="billing"),
        state(5, TicketStatus.RESOLVED, priority=1),
    ]
    backend = FakeBackend({s.ticket_id: s for s in tickets}, held=[0, 2])
    async with serve(backend) as client:
        resp = await client.get("/api/tickets", headers=AUTH)
        body = await resp.json()
        assert resp.status == 200
        # open ones only, by priority, then oldest first
        assert [r["ticket_id"] for r in body["tickets"]] == [tid(2), tid(3), tid(4), tid(1)]
        assert body["total"] == 4 and body["partitions"] == [0, 2] and body["complete"] is False
        assert set(body["tickets"][1]) == {"ticket_id", "queue", "priority", "status", "agent", "age_s"}

        async def ids(**query: str) -> list[str]:
            resp = await client.get("/api/tickets", params=query, headers=AUTH)
            return [r["ticket_id"] for r in (await resp.json())["tickets"]]

        assert await ids(queue="billing") == [tid(4)]
        assert await ids(agent="ana") == [tid(3)]
        assert await ids(agent="", priority="2") == [tid(4), tid(1)]
        assert await ids(min_age_s="40") == [tid(3), tid(4)]
        assert await ids(limit="1") == [tid(2)]
        assert await ids(status="resolved") == [tid(5)]  # the scan
        assert await ids(status="open", queue="general") == [tid(2), tid(3), tid(1)]
        for bad in ({"priority": "high"}, {"limit": "many"}, {"status": "lost"}):
            resp = await client.get("/api/tickets", params=bad, headers=AUTH)
            assert resp.status == 400 and "error" in await resp.json()


async def test_one_ticket_with_its_sla_or_who_holds_it() -> None:
    s = state(1)
    now = datetime.now(UTC)
    target = {
        "cycle": 1,
        "started_at": now,
        "stopped_at": None,
        "elapsed_s": 60.0,
        "budget_s": 240.0,
        "at_risk_at": now,
        "due_at": now + timedelta(minutes=3),
    }
    snap = SlaSnapshot(
        s.ticket_id,
        "general",
        3,
        True,
        TargetState(SlaTargetKind.FIRST_RESPONSE, status=SlaStatus.OK, **target),
        TargetState(SlaTargetKind.RESOLUTION, status=SlaStatus.AT_RISK, **target),
    )
    backend = FakeBackend({s.ticket_id: s}, snapshots={s.ticket_id: snap})
    async with serve(backend) as client:
        resp = await client.get(f"/api/tickets/{tid(1)}", headers=AUTH)
        doc = await resp.json()
        assert resp.status == 200 and doc["ticket_id"] == tid(1) and doc["queue"] == "general"
        assert doc["sla"]["first_response"] == {
            "status": "ok",
            "due_at": target["due_at"].isoformat(),
            "used": 0.25,
        }
        assert doc["sla"]["resolution"]["status"] == "at_risk"

        here = await client.get(f"/api/tickets/{tid(2)}", headers=AUTH)
        assert here.status == 404 and (await here.json()) == {"error": f"no ticket {tid(2)}"}
        backend.held = []
        elsewhere = await client.get(f"/api/tickets/{tid(2)}", headers=AUTH)
        partition = ticket_partition(tid(2), PARTITIONS)
        assert (await elsewhere.json())["error"].endswith(f"partition {partition} is held by another worker")


async def test_reassign_and_retask_are_submitted_as_commands() -> None:
    backend = FakeBackend()
    async with serve(backend) as client:
        resp = await client.post(
            f"/api/tickets/{tid(1)}/reassign", json={"to_queue": "billing", "by": "sup"}, headers=AUTH
        )
        body = await resp.json()
        assert resp.status == 202 and body["status"] == "accepted"
        (cmd,) = backend.commands
        assert (cmd.command_id, cmd.type, cmd.ticket_id, cmd.to_queue, cmd.by) == (
            body["command_id"],
            "reassign",
            tid(1),
            "billing",
            "sup",
        )

        resp = await client.post("/api/retask", json={"from_agent": "ana", "to_agent": ""}, headers=AUTH)
        assert resp.status == 202
        retask = backend.commands[-1]
        assert (retask.type, retask.ticket_id, retask.from_agent, retask.to_agent) == (
            "retask",
            None,
            "ana",
            "",
        )

        unknown = await client.post(
            f"/api/tickets/{tid(1)}/reassign", json={"to_queue": "nowhere"}, headers=AUTH
        )
        assert unknown.status == 400 and (await unknown.json())["queues"] == ["billing", "general"]
        for path, payload in (
            (f"/api/tickets/{tid(1)}/reassign", b"{not json"),
            (f"/api/tickets/{tid(1)}/reassign", b"[1]"),
            (f"/api/tickets/{tid(1)}/reassign", b"{}"),  # says where to: nowhere
            ("/api/tickets/not-a-ticket/reassign", b'{"to_agent": "ana"}'),
            ("/api/retask", b'{"to_agent": "ana"}'),  # from whom?
        ):
            resp = await client.post(path, data=payload, headers=AUTH)
            assert resp.status == 400, (path, payload)
            assert "error" in await resp.json()
        assert len(backend.commands) == 2


async def test_rules_are_shown_and_new_ones_published() -> None:
    backend = FakeBackend()
    async with serve(backend) as client:
        shown = await (await client.get("/api/rules", headers=AUTH)).json()
        assert shown == {"source": "rules.yaml", "rules": RULES.model_dump(mode="json")}

        resp = await client.put("/api/rules", data=b"version: '7'\ndefault_queue: billing\n", headers=AUTH)
        assert resp.status == 202 and (await resp.json())["version"] == "7"
        assert [r.default_queue for r in backend.published] == ["billing"]

        bad_yaml = await client.put("/api/rules", data=b"default_queue: [", headers=AUTH)
        assert bad_yaml.status == 400
        invalid = await client.put("/api/rules", data=b'{"default_queue": ""}', headers=AUTH)
        assert invalid.status == 400 and (await invalid.json())["problems"]
        assert len(backend.published) == 1


class StandInSink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []
        self.delivered = 0

    async def send(self, topic: str, records: Iterable[Any]) -> asyncio.Future[None]:
        self.sent.append((topic, list(records)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(self._deliver, done)
        return done

    def _deliver(self, done: asyncio.Future[None]) -> None:
        self.delivered += 1
        done.set_result(None)


async def test_the_runtime_adapter_writes_the_records_the_workers_read() -> None:
    open_index = {tid(1): indexed(state(1))}
    runtime = SimpleNamespace(
        settings=SimpleNamespace(
            topics=SimpleNamespace(actionable="actionable", commands="commands", rules="rules"), partitions=3
        ),
        assigned_tps=lambda: {("actionable", 2), ("actionable", 0), ("raw", 1)},
        ticketing=SimpleNamespace(open=open_index, load=lambda t: None, states=lambda: iter(())),
        router=SimpleNamespace(rules=RULES),
        rules_source="bundled default",
        sink=StandInSink(),
    )
    backend = RuntimeOpsBackend(runtime)
    sink = runtime.sink
    assert backend.held_partitions() == [0, 2]
    assert list(backend.open_tickets()) == list(open_index.items())
    assert backend.routing_rules() is RULES and backend.rules_source() == "bundled default"

    at = datetime.now(UTC)
    reassign = OpsCommand(command_id="c1", type="reassign", ticket_id=tid(1), to_agent="ana", at=at)
    retask = OpsCommand(command_id="c2", type="retask", from_queue="general", to_queue="billing", at=at)
    await backend.submit_command(reassign)
    assert sink.delivered == 1  # each write returns once Kafka has it
    await backend.submit_command(retask)
    assert sink.delivered == 2
    await backend.publish_rules(RULES)
    assert sink.delivered == 3
    (topic, (one,)), (topic2, every), (topic3, (rules,)) = sink.sent
    assert topic == topic2 == "commands" and topic3 == "rules"
    assert (one.key, one.partition, one.value) == (tid(1).encode(), None, reassign.model_dump_json().encode())
    assert [(r.key, r.partition) for r in every] == [(None, 0), (None, 1), (None, 2)]
    assert all(r.value == retask.model_dump_json().encode() for r in every)
    assert (rules.key, rules.partition, rules.value) == (b"rules", 0, RULES.model_dump_json().encode())


@pytest.mark.parametrize("token", ["", "   "])
async def test_a_blank_token_closes_the_api(token: str) -> None:
    async with serve(FakeBackend(), token=token) as client:
        assert (await client.get("/api/tickets", headers={"Authorization": "Bearer "})).status == 503
