"""The ops API on every worker (``/api/...``, bearer token): see and move tickets, change routing live.

Changes are not made here but written to Kafka (commands topic, rules topic), so the worker that holds a
ticket applies the change in order with everything else about that ticket, and every worker picks up new
rules: any worker can take the request. Listings show the tickets of the partitions this worker holds, and
say which those are.

The handlers are the methods of :class:`OpsApi` and see the worker only through :class:`OpsBackend`, the
few reads and writes they need (``stream.worker.ops_backend.RuntimeOpsBackend`` serves it from the
runtime); :func:`add_ops_routes` mounts them with the bearer-token check.

The API shares its event loop with the worker's records, commits and health checks, so every request is
bounded:

- every query parameter is checked (unknown ones, repeated ones, numbers that do not parse or are out of
  range: 400 with the reason); a listing returns at most :data:`MAX_LIST` rows;
- listings are pages in a stable order (priority, creation time, ticket id) with an opaque ``cursor``;
  the page is the ``limit`` smallest rows after the cursor, kept in O(limit) memory, never a sort of all
  matching tickets;
- open tickets come from the in-memory index, read :data:`OPEN_SLICE` entries at a time with the loop
  yielded in between; closed ones (resolved, expired: not indexed) from
  :meth:`OpsBackend.closed_tickets`, which reads the store in slices and decodes off the loop;
- at most ``max_listings`` open-ticket listings and ``max_scans`` heavy requests (closed-ticket listings,
  rules documents being parsed) run at once; more get 429 with ``Retry-After``;
- a rules document is refused over its size (413, before it is parsed) or count of rules (400); it is
  parsed and validated in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
import hmac
import json
import math
import operator
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, NoReturn, Protocol

import orjson
import yaml
from aiohttp import web
from pydantic import SecretStr, ValidationError

from schemas.ops import OpsCommand
from schemas.rules import MAX_RULES, MAX_RULES_BYTES, RoutingRules
from schemas.ticket import TicketStatus
from stream.documents import problem_list
from stream.ops.sla_clock import SlaSnapshot
from stream.tickets.backlog import OpenTicket
from stream.tickets.ids import ticket_partition
from stream.tickets.state import CLOSED_STATUSES, TicketState

__all__ = [
    "MAX_LIST",
    "OPENAPI",
    "OPEN_SLICE",
    "OpsApi",
    "OpsBackend",
    "OpsLimits",
    "SortKey",
    "TicketRow",
    "add_ops_routes",
    "decode_cursor",
    "encode_cursor",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_LIST = 1000  # rows of one listing page
DEFAULT_LIST = 100
OPEN_SLICE = 10_000  # open-index entries looked at between two yields to the event loop
MAX_TEXT_PARAM = 256  # characters of a queue or agent filter
MAX_CURSOR = 512  # characters of a cursor

SortKey = tuple[int, float, str]  # priority, created_at, ticket id: the order of every listing

_INT = re.compile(r"[+-]?[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{0,9})?|\.[0-9]{1,9}")
_CURSOR = re.compile(r"[A-Za-z0-9_-]+")
_CLOSED = frozenset(s.value for s in CLOSED_STATUSES)
_STATUSES = tuple(s.value for s in TicketStatus)
_LIST_PARAMS = frozenset({"queue", "status", "agent", "priority", "min_age_s", "limit", "cursor"})
_NO_PARAMS: frozenset[str] = frozenset()
_by_key = operator.itemgetter(0)


@dataclass(frozen=True, slots=True)
class OpsLimits:
    """How much the API lets one worker be asked at once (from the settings on a worker)."""

    max_listings: int = 8  # open-ticket listings in progress
    max_scans: int = 2  # closed-ticket listings and rules documents being validated, in progress
    rules_max_count: int = MAX_RULES
    rules_max_bytes: int = MAX_RULES_BYTES


class TicketRow(NamedTuple):
    """A listing's row, before it is shown."""

    ticket_id: str
    queue: str
    priority: int
    agent: str | None
    status: str
    created_at: float

    @classmethod
    def of(cls, s: TicketState) -> TicketRow:
        return cls(s.ticket_id, s.queue, s.priority, s.agent, s.status.value, s.created_at)


class OpsBackend(Protocol):
    """What the ops API needs of a worker: its tickets, SLA clocks and rules, its limits, and two ways to ask
    for a change. Nothing is changed in place: both writes go to Kafka."""

    def limits(self) -> OpsLimits:
        """How much the API may be asked at once, and the rules documents' bounds."""
        ...

    def held_partitions(self) -> list[int]:
        """The ticket partitions this worker holds, ascending."""
        ...

    def open_tickets(self) -> Mapping[str, OpenTicket]:
        """The index of the open tickets held here, ticket id -> entry (live: it changes between awaits)."""
        ...

    def closed_tickets(self, status: TicketStatus) -> AsyncIterator[list[TicketRow]]:
        """The closed tickets held here with ``status`` (resolved or expired), in batches: a scan of the
        store that never holds the event loop for long, decoded off the loop. Each ticket at most once."""
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


def _bad_request(message: str, **extra: Any) -> NoReturn:
    raise web.HTTPBadRequest(text=json.dumps({"error": message, **extra}), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=orjson.loads)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        _bad_request(f"body is not JSON: {exc}")
    if not isinstance(body, dict):
        _bad_request("body must be a JSON object")
    return body


def _check_params(request: web.Request, allowed: frozenset[str]) -> None:
    """400 for a query parameter the route does not take, or one given twice."""
    q = request.query
    unknown = sorted({k for k in q if k not in allowed})
    if unknown:
        _bad_request(f"unknown query parameters: {', '.join(unknown)}", allowed=sorted(allowed))
    repeated = sorted({k for k in q if len(q.getall(k)) > 1})
    if repeated:
        _bad_request(f"query parameters given more than once: {', '.join(repeated)}")


def encode_cursor(key: SortKey) -> str:
    """The cursor after a row: its sort key, as unpadded URL-safe base64 of a JSON array."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> SortKey:
    """The sort key a cursor carries; ValueError if it is not one :func:`encode_cursor` made."""
    if len(cursor) > MAX_CURSOR or _CURSOR.fullmatch(cursor) is None:
        raise ValueError("not a cursor")
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise ValueError("not a cursor") from None
    if (
        type(doc) is not list
        or len(doc) != 3
        or type(doc[0]) is not int
        or type(doc[1]) not in (int, float)
        or not math.isfinite(doc[1])
        or type(doc[2]) is not str
        or len(doc[2]) > 128
    ):
        raise ValueError("not a cursor")
    return doc[0], float(doc[1]), doc[2]


@dataclass(frozen=True, slots=True)
class _TicketQuery:
    queue: str | None
    status: str | None
    agent: str | None
    priority: int | None
    min_age_s: float
    limit: int
    after: SortKey | None


def _ticket_query(request: web.Request) -> _TicketQuery:
    """The listing's parameters, every one checked: 400 naming each problem."""
    _check_params(request, _LIST_PARAMS)
    q = request.query
    problems: list[str] = []

    def integer(name: str, lo: int, hi: int, default: int | None) -> int | None:
        raw = q.get(name)
        if raw is None:
            return default
        if _INT.fullmatch(raw) is None or not lo <= int(raw) <= hi:
            problems.append(f"{name} must be a whole number from {lo} to {hi}, not {raw[:40]!r}")
            return default
        return int(raw)

    def text(name: str) -> str | None:
        raw = q.get(name)
        if raw is not None and len(raw) > MAX_TEXT_PARAM:
            problems.append(f"{name} is longer than {MAX_TEXT_PARAM} characters")
        return raw

    priority = integer("priority", 1, 4, None)
    limit = integer("limit", 1, MAX_LIST, DEFAULT_LIST)
    min_age = 0.0
    if "min_age_s" in q:
        raw = q["min_age_s"]
        if _DECIMAL.fullmatch(raw) is None:
            problems.append(f"min_age_s must be a number of seconds (0 or more), not {raw[:40]!r}")
        else:
            min_age = float(raw)
    status = q.get("status")
    if status is not None and status not in _STATUSES:
        problems.append(f"unknown status {status[:40]!r}; one of {', '.join(_STATUSES)}")
    after = None
    if "cursor" in q:
        try:
            after = decode_cursor(q["cursor"])
        except ValueError:
            problems.append("cursor is not one this API returned (pass next_cursor as it is)")
    queue, agent = text("queue"), text("agent")
    if problems:
        _bad_request("bad query: " + "; ".join(problems), problems=problems)
    assert limit is not None
    return _TicketQuery(queue, status, agent, priority, min_age, limit, after)


class _Page:
    """The ``size`` smallest keys offered, with what they came with, in O(size) memory: kept only while
    below the current cut-off, and trimmed to ``size`` now and then (amortised O(n log size))."""

    __slots__ = ("cut", "items", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: list[tuple[SortKey, Any]] = []
        self.cut: SortKey | None = None  # keys at or beyond this one cannot make the page

    def add(self, key: SortKey, item: Any) -> SortKey | None:
        """Keep ``(key, item)`` (a key below :attr:`cut`); returns the cut-off now in force."""
        self.items.append((key, item))
        if len(self.items) >= 2 * self.size + 64:
            self.items = heapq.nsmallest(self.size, self.items, key=_by_key)
            self.cut = self.items[-1][0]
        return self.cut

    def result(self) -> list[tuple[SortKey, Any]]:
        return heapq.nsmallest(self.size, self.items, key=_by_key)


class OpsApi:
    """The ops API's handlers, one method per route, over an :class:`OpsBackend`.

    ``token`` is the bearer token (None or blank: the API answers 503); ``partitions`` the number of
    ticket partitions, to tell whether a listing is complete and who holds an unknown ticket.
    """

    def __init__(self, backend: OpsBackend, *, token: SecretStr | None, partitions: int) -> None:
        self.backend = backend
        self._token = token
        self.partitions = partitions
        self.limits = backend.limits()
        self._running = {"listings": 0, "scans": 0}

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

    @contextmanager
    def _slot(self, kind: str) -> Iterator[bool]:
        """One of ``kind``'s slots (listings or scans) while the request runs; False when all are taken."""
        limit = self.limits.max_listings if kind == "listings" else self.limits.max_scans
        if self._running[kind] >= limit:
            yield False
            return
        self._running[kind] += 1
        try:
            yield True
        finally:
            self._running[kind] -= 1

    @staticmethod
    def _busy(what: str, limit: int) -> web.Response:
        return web.json_response(
            {"error": f"too many {what} in progress on this worker (at most {limit}); retry shortly"},
            status=429,
            headers={"Retry-After": "1"},
        )

    async def openapi(self, request: web.Request) -> web.Response:
        _check_params(request, _NO_PARAMS)
        return web.json_response(OPENAPI)

    async def list_tickets(self, request: web.Request) -> web.Response:
        q = _ticket_query(request)
        closed = q.status in _CLOSED
        kind = "scans" if closed else "listings"
        with self._slot(kind) as got:
            if not got:
                limit = self.limits.max_scans if closed else self.limits.max_listings
                what = "closed-ticket listings and rules updates" if closed else "ticket listings"
                return self._busy(what, limit)
            now = time.time()
            total, found = await (self._closed_page(q, now) if closed else self._open_page(q, now))
        shown = found[: q.limit]
        next_cursor = encode_cursor(shown[-1][0]) if len(found) > q.limit else None
        held = self.backend.held_partitions()
        return web.json_response(
            {
                "tickets": [
                    {
                        "ticket_id": r.ticket_id,
                        "queue": r.queue,
                        "priority": r.priority,
                        "status": r.status,
                        "agent": r.agent,
                        "age_s": round(now - r.created_at, 1),
                    }
                    for _, r in shown
                ],
                "total": total,
                "next_cursor": next_cursor,
                "partitions": held,
                "complete": len(held) == self.partitions,
            }
        )

    async def _open_page(self, q: _TicketQuery, now: float) -> tuple[int, list[tuple[SortKey, TicketRow]]]:
        """From the open index: a snapshot of its ids (a C-speed copy), then :data:`OPEN_SLICE` entries
        at a time, the loop yielded in between; an entry gone meanwhile is skipped. Returns how many match
        and the page's rows (``limit`` + 1: one more tells there is a next page)."""
        index = self.backend.open_tickets()
        ids = list(index)
        get = index.get
        page = _Page(q.limit + 1)
        queue, agent, status, priority, min_age = q.queue, q.agent, q.status, q.priority, q.min_age_s
        after, cut = q.after, None
        total = 0
        for start in range(0, len(ids), OPEN_SLICE):
            if start:
                await asyncio.sleep(0)
            for tid in ids[start : start + OPEN_SLICE]:
                t = get(tid)
                if (
                    t is None
                    or (queue is not None and t.queue != queue)
                    or (agent is not None and (t.agent or "") != agent)
                    or (status is not None and t.status != status)
                    or (priority is not None and t.priority != priority)
                    or now - t.created_at < min_age
                ):
                    continue
                total += 1
                key = (t.priority, t.created_at, tid)
                if (after is None or key > after) and (cut is None or key < cut):
                    cut = page.add(key, t)
        rows = [
            (key, TicketRow(key[2], t.queue, t.priority, t.agent, t.status, t.created_at))
            for key, t in page.result()
        ]
        return total, rows

    async def _closed_page(self, q: _TicketQuery, now: float) -> tuple[int, list[tuple[SortKey, TicketRow]]]:
        """Closed tickets are not indexed: the backend scans the store, in batches, decoded off the loop."""
        page = _Page(q.limit + 1)
        queue, agent, priority, min_age = q.queue, q.agent, q.priority, q.min_age_s
        after, cut = q.after, None
        total = 0
        assert q.status is not None
        async for batch in self.backend.closed_tickets(TicketStatus(q.status)):
            for r in batch:
                if (
                    (queue is not None and r.queue != queue)
                    or (agent is not None and (r.agent or "") != agent)
                    or r.status != q.status
                    or (priority is not None and r.priority != priority)
                    or now - r.created_at < min_age
                ):
                    continue
                total += 1
                key = (r.priority, r.created_at, r.ticket_id)
                if (after is None or key > after) and (cut is None or key < cut):
                    cut = page.add(key, r)
        return total, page.result()

    async def get_ticket(self, request: web.Request) -> web.Response:
        _check_params(request, _NO_PARAMS)
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
        _check_params(request, _NO_PARAMS)
        tid = request.match_info["ticket_id"]
        return await self._submit(self._command("reassign", await _body(request), ticket_id=tid))

    async def retask(self, request: web.Request) -> web.Response:
        _check_params(request, _NO_PARAMS)
        return await self._submit(self._command("retask", await _body(request)))

    async def get_rules(self, request: web.Request) -> web.Response:
        _check_params(request, _NO_PARAMS)
        return web.json_response(
            {
                "source": self.backend.rules_source(),
                "rules": self.backend.routing_rules().model_dump(mode="json"),
            }
        )

    def _too_large(self, size: int) -> web.Response:
        limit = self.limits.rules_max_bytes
        return _error(
            413, f"the rules document is {size} bytes, more than the limit of {limit}", limit_bytes=limit
        )

    async def put_rules(self, request: web.Request) -> web.Response:
        _check_params(request, _NO_PARAMS)
        limits = self.limits
        declared = request.content_length
        if declared is not None and declared > limits.rules_max_bytes:  # refused before it is read
            return self._too_large(declared)
        raw = await request.read()  # without a length: read up to the server's client_max_size
        if len(raw) > limits.rules_max_bytes:
            return self._too_large(len(raw))
        with self._slot("scans") as got:
            if not got:
                return self._busy("closed-ticket listings and rules updates", limits.max_scans)
            parsed = await asyncio.to_thread(_parse_rules, raw, limits)
        if not isinstance(parsed, RoutingRules):
            status, message, extra = parsed
            return _error(status, message, **extra)
        await self.backend.publish_rules(parsed)
        return web.json_response(
            {
                "status": "accepted",
                "version": parsed.version,
                "note": "every worker applies it within seconds",
            },
            status=202,
        )


_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when there, else pure Python


def _parse_rules(raw: bytes, limits: OpsLimits) -> RoutingRules | tuple[int, str, dict[str, Any]]:
    """Parse and validate a rules document, in a worker thread (a large YAML document takes a while): the
    rules, or the refusal's status, reason and details. The document as the workers will read it from the
    rules topic (JSON, every field written) must be within the size limit too."""
    try:
        data = yaml.load(
            raw.decode("utf-8"), Loader=_YAML_LOADER
        )  # a safe loader; YAML is a superset of JSON
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return 400, f"rules are not valid YAML or JSON: {exc}", {}
    context = {"max_rules": limits.rules_max_count, "max_bytes": limits.rules_max_bytes}
    try:
        rules = RoutingRules.model_validate(data, context=context)
    except ValidationError as exc:
        return 400, "invalid routing rules; the rules in force stay", {"problems": problem_list(exc, "rules")}
    published = len(rules.model_dump_json())
    if published > limits.rules_max_bytes:
        message = (
            f"as the workers read it (JSON, every field written) the rules document is {published} bytes, "
            f"more than the limit of {limits.rules_max_bytes}"
        )
        return 413, message, {"limit_bytes": limits.rules_max_bytes}
    return rules


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
                "summary": "A page of the tickets of the partitions this worker holds, by priority, then "
                "oldest first (then ticket id); open ones by default, status=resolved or expired: a scan "
                "of the state store",
                "parameters": [
                    {
                        "name": "queue",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": MAX_TEXT_PARAM},
                    },
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(_STATUSES)}},
                    {
                        "name": "agent",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": MAX_TEXT_PARAM},
                        "description": "empty: unassigned tickets",
                    },
                    {
                        "name": "priority",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 4},
                    },
                    {"name": "min_age_s", "in": "query", "schema": {"type": "number", "minimum": 0}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_LIST,
                            "default": DEFAULT_LIST,
                        },
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": MAX_CURSOR},
                        "description": "next_cursor of the previous page, as it was returned",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "tickets (one page), total (matching on every page), "
                        "next_cursor (null: the last page), partitions held, complete"
                    },
                    "400": {"description": "a query parameter unknown, repeated, malformed or out of range"},
                    "401": {"description": "missing or wrong bearer token"},
                    "429": {"description": "too many listings in progress on this worker; see Retry-After"},
                },
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
                "responses": {
                    **_ACCEPTED,
                    "400": {"description": "not YAML or JSON, or invalid rules (too many rules among them)"},
                    "413": {"description": "the document is larger than the limit (TRIAGE_RULES_MAX_BYTES)"},
                    "429": {"description": "too many heavy requests in progress on this worker"},
                },
            },
        },
    },
}
