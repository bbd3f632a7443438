"""The ops API on every worker (``/api/...``, bearer token): see and move tickets, change routing live.

Changes are not made here but written to Kafka (commands topic, rules topic), so the worker that holds a
ticket applies the change in order with everything else about that ticket, and every worker picks up new
rules: any worker can take the request. Listings show the tickets of the partitions this worker holds, and
say which those are.

The handlers are the methods of :class:`OpsApi` and see the worker only through :class:`OpsBackend`, the
few reads and writes they need (``stream.worker.ops_backend.RuntimeOpsBackend`` serves it from the
runtime); :func:`add_ops_routes` mounts them with the bearer-token check.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import yaml
from aiohttp import web
from pydantic import SecretStr, ValidationError

from schemas.ops import OpsCommand
from schemas.rules import RoutingRules
from schemas.ticket import TicketStatus
from stream.documents import problem_list
from stream.ops.sla_clock import SlaSnapshot
from stream.tickets.backlog import OpenTicket
from stream.tickets.ids import ticket_partition
from stream.tickets.state import CLOSED_STATUSES, OPEN_STATUSES, TicketState

__all__ = ["OPENAPI", "OpsApi", "OpsBackend", "add_ops_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_LIST = 1000


class OpsBackend(Protocol):
    """What the ops API needs of a worker: its tickets, SLA clocks and rules, and two ways to ask for a
    change. Nothing is changed in place: both writes go to Kafka."""

    def held_partitions(self) -> list[int]:
        """The ticket partitions this worker holds, ascending."""
        ...

    def open_tickets(self) -> Iterable[tuple[str, OpenTicket]]:
        """(ticket id, index entry) of every open ticket held here."""
        ...

    def ticket_states(self) -> Iterable[TicketState]:
        """Every ticket state held here, resolved ones too (a scan)."""
        ...

    def load_ticket(self, ticket_id: str) -> TicketState | None:
        """One ticket's state, or None when it is not held here."""
        ...

    def sla_snapshot(self, ticket_id: str, now: datetime) -> SlaSnapshot | None:
        """Where the ticket's SLA targets stand at ``now``, or None when no clock runs for it."""
        ...

    def routing_rules(self) -> RoutingRules:
        """The routing rules in force."""
        ...

    def rules_source(self) -> str:
        """Where the rules in force came from."""
        ...

    async def submit_command(self, command: OpsCommand) -> None:
        """Write a command to the commands topic and wait until Kafka has it: one with a ticket id to that
        ticket's partition, a retask to every partition."""
        ...

    async def publish_rules(self, rules: RoutingRules) -> None:
        """Write new routing rules to the rules topic and wait until Kafka has them."""
        ...


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=orjson.loads)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body is not JSON: {exc}"}), content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body must be a JSON object"}), content_type="application/json"
        )
    return body


class OpsApi:
    """The ops API's handlers, one method per route, over an :class:`OpsBackend`.

    ``token`` is the bearer token (None or blank: the API answers 503); ``partitions`` the number of
    ticket partitions, to tell whether a listing is complete and who holds an unknown ticket.
    """

    def __init__(self, backend: OpsBackend, *, token: SecretStr | None, partitions: int) -> None:
        self.backend = backend
        self._token = token
        self.partitions = partitions

    @web.middleware
    async def auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/") or request.path == "/api/openapi.json":
            return await handler(request)
        token = self._token
        if token is None or not token.get_secret_value().strip():  # an empty token would let "Bearer " in
            return _error(503, "the ops API is disabled: set TRIAGE_OPS_TOKEN")
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(401, "missing or wrong bearer token")
        return await handler(request)

    async def openapi(self, _: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    async def list_tickets(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            priority = int(q["priority"]) if "priority" in q else None
            min_age = float(q.get("min_age_s", 0))
            limit = min(int(q.get("limit", 100)), MAX_LIST)
        except ValueError as exc:
            return _error(400, f"bad query: {exc}")
        status = q.get("status")
        if status is not None and status not in {s.value for s in TicketStatus}:
            return _error(400, f"unknown status {status!r}")
        now = time.time()
        rows: list[dict[str, Any]] = []
        if status in (None, *(s.value for s in OPEN_STATUSES)):
            candidates = (
                (tid, t.queue, t.priority, t.agent, t.status, t.created_at)
                for tid, t in self.backend.open_tickets()
            )
        else:  # closed (resolved, expired) tickets are not indexed: scan, bounded by the limit
            candidates = (
                (s.ticket_id, s.queue, s.priority, s.agent, s.status.value, s.created_at)
                for s in self.backend.ticket_states()
                if s.status in CLOSED_STATUSES
            )
        for tid, queue, prio, agent, st, created in candidates:
            if (
                ("queue" in q and queue != q["queue"])
                or ("agent" in q and (agent or "") != q["agent"])
                or (status is not None and st != status)
                or (priority is not None and prio != priority)
                or now - created < min_age
            ):
                continue
            rows.append(
                {
                    "ticket_id": tid,
                    "queue": queue,
                    "priority": prio,
                    "status": st,
                    "agent": agent,
                    "age_s": round(now - created, 1),
                }
            )
        rows.sort(key=lambda r: (int(r["priority"]), -float(r["age_s"])))
        held = self.backend.held_partitions()
        return web.json_response(
            {
                "tickets": rows[:limit],
                "total": len(rows),
                "partitions": held,
                "complete": len(held) == self.partitions,
            }
        )

    async def get_ticket(self, request: web.Request) -> web.Response:
        tid = request.match_info["ticket_id"]
        state = self.backend.load_ticket(tid)
        if state is None:
            partition = ticket_partition(tid, self.partitions)
            where = (
                ""
                if partition in self.backend.held_partitions()
                else f"; partition {partition} is held by another worker"
            )
            return _error(404, f"no ticket {tid}{where}")
        doc = state.to_ticket().model_dump(mode="json")
        snap = self.backend.sla_snapshot(tid, datetime.now(UTC))
        if snap is not None:
            doc["sla"] = {
                t.target.value: {
                    "status": t.status.value,
                    "due_at": t.due_at.isoformat(),
                    "used": round(t.used, 3),
                }
                for t in (snap.first_response, snap.resolution)
            }
        return web.json_response(doc)

    def _command(self, kind: str, body: dict[str, Any], **extra: Any) -> OpsCommand | web.Response:
        fields = {k: body.get(k) for k in ("from_queue", "from_agent", "to_queue", "to_agent", "by")}
        to_queue = fields["to_queue"]
        queues = {q.name for q in self.backend.routing_rules().queues}
        if to_queue is not None and queues and to_queue not in queues:
            return _error(400, f"unknown queue {to_queue!r}", queues=sorted(queues))
        try:
            return OpsCommand(command_id=uuid.uuid4().hex, type=kind, at=datetime.now(UTC), **fields, **extra)
        except ValidationError as exc:
            return _error(400, "invalid command", problems=[e["msg"] for e in exc.errors(include_url=False)])

    async def _submit(self, command: OpsCommand | web.Response) -> web.Response:
        if isinstance(command, web.Response):
            return command
        await self.backend.submit_command(command)
        return web.json_response({"command_id": command.command_id, "status": "accepted"}, status=202)

    async def reassign(self, request: web.Request) -> web.Response:
        tid = request.match_info["ticket_id"]
        return await self._submit(self._command("reassign", await _body(request), ticket_id=tid))

    async def retask(self, request: web.Request) -> web.Response:
        return await self._submit(self._command("retask", await _body(request)))

    async def get_rules(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "source": self.backend.rules_source(),
                "rules": self.backend.routing_rules().model_dump(mode="json"),
            }
        )

    async def put_rules(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            data = yaml.safe_load(raw.decode("utf-8"))  # YAML is a superset of JSON
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            return _error(400, f"rules are not valid YAML or JSON: {exc}")
        try:
            rules = RoutingRules.model_validate(data)
        except ValidationError as exc:
            return _error(
                400, "invalid routing rules; the rules in force stay", problems=problem_list(exc, "rules")
            )
        await self.backend.publish_rules(rules)
        return web.json_response(
            {
                "status": "accepted",
                "version": rules.version,
                "note": "every worker applies it within seconds",
            },
            status=202,
        )


def add_ops_routes(app: web.Application, api: OpsApi) -> None:
    """Mount the ops API's routes on ``app``, and its bearer-token check (on ``/api/...`` only)."""
    app.middlewares.append(api.auth)
    app.add_routes(
        [
            web.get("/api/openapi.json", api.openapi),
            web.get("/api/tickets", api.list_tickets),
            web.get("/api/tickets/{ticket_id}", api.get_ticket),
            web.post("/api/tickets/{ticket_id}/reassign", api.reassign),
            web.post("/api/retask", api.retask),
            web.get("/api/rules", api.get_rules),
            web.put("/api/rules", api.put_rules),
        ]
    )


_MOVE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "to_queue": {"type": "string"},
        "to_agent": {"type": "string", "description": "empty string: unassign"},
        "by": {"type": "string", "description": "who asked, for the audit trail"},
    },
}
_ACCEPTED = {
    "202": {"description": "written to Kafka; the worker holding the ticket applies it in order"},
    "400": {"description": "invalid request, with the reasons"},
    "401": {"description": "missing or wrong bearer token"},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "social-triage ops API", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/api/tickets": {
            "get": {
                "summary": "Open tickets of the partitions this worker holds (status=resolved: a scan)",
                "parameters": [
                    {"name": n, "in": "query", "schema": {"type": t}}
                    for n, t in (
                        ("queue", "string"),
                        ("status", "string"),
                        ("agent", "string"),
                        ("priority", "integer"),
                        ("min_age_s", "number"),
                        ("limit", "integer"),
                    )
                ],
                "responses": {"200": {"description": "tickets, total, partitions held, complete"}},
            }
        },
        "/api/tickets/{ticket_id}": {
            "get": {
                "summary": "One ticket with its SLA state",
                "parameters": [
                    {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "the ticket (ticket.schema.json) plus sla"},
                    "404": {"description": "unknown here"},
                },
            }
        },
        "/api/tickets/{ticket_id}/reassign": {
            "post": {
                "summary": "Move one ticket to another queue and/or agent",
                "parameters": [
                    {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {"content": {"application/json": {"schema": _MOVE}}},
                "responses": _ACCEPTED,
            }
        },
        "/api/retask": {
            "post": {
                "summary": "Move every open ticket of a queue and/or agent (a workgroup) elsewhere",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                **_MOVE,
                                "properties": {
                                    **_MOVE["properties"],
                                    "from_queue": {"type": "string"},
                                    "from_agent": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": _ACCEPTED,
            }
        },
        "/api/rules": {
            "get": {
                "summary": "The routing rules in force and where they came from",
                "responses": {"200": {"description": "source and rules"}},
            },
            "put": {
                "summary": "Replace the routing rules on every worker (YAML or JSON body)",
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "routing_rules.schema.json"}}}
                },
                "responses": _ACCEPTED,
            },
        },
    },
}
