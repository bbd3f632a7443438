"""Stage two, on the actionable, ticket-events and commands topics (all partitioned by ticket id): enrich,
prioritise, route, thread into open tickets, apply lifecycle events and ops commands, write tickets.

Keyed by ticket id so that everything about one conversation meets on one worker. Ticket states live in a
store keyed by ticket id (a Faust table in the worker; any mutable mapping in tests); an index of the open
ones keeps backlog and SLA scans cheap.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from schemas.events import AuditDecisionDoc, Outcome, TicketEvent, audit_decision
from schemas.ops import OpsCommand
from schemas.scored import BrandReply, ScoredPost
from schemas.ticket import TICKET_SCHEMA_VERSION
from stream.kafka.deadletter import dead_letter, reason_kind
from stream.kafka.records import OutRecord
from stream.settings import Settings
from stream.tickets.backlog import OpenTicket, OpenTickets
from stream.tickets.customers import CustomerDirectory
from stream.tickets.ids import ticket_partition
from stream.tickets.priority import priority_for
from stream.tickets.routing import RouteInput, Router
from stream.tickets.state import (
    Change,
    Routed,
    TicketState,
    apply_brand_reply,
    apply_command,
    apply_event,
    apply_post,
)

__all__ = ["OpenTicket", "TicketChange", "TicketingOutput", "TicketingStage"]

_SCHEMA_VERSION = str(TICKET_SCHEMA_VERSION).encode()
_SCORED: TypeAdapter[list[ScoredPost]] = TypeAdapter(list[ScoredPost])


@dataclass(frozen=True, slots=True)
class TicketChange:
    change: Change
    before: TicketState | None
    after: TicketState
    platform: str = ""
    ingested_at: float | None = None  # for posts: starts the ingest-to-ticket clock


@dataclass
class TicketingOutput:
    tickets: list[OutRecord] = field(default_factory=list)
    changes: list[TicketChange] = field(default_factory=list)
    posts: int = 0  # actionable posts that went into a ticket
    events: collections.Counter[str] = field(default_factory=collections.Counter)  # "type/result"
    dead_letters: list[OutRecord] = field(default_factory=list)
    dead_kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    audit: list[AuditDecisionDoc] = field(default_factory=list)
    dead_posts: int = 0  # dead letters that were posts (not events or commands), for the accounting


class TicketingStage:
    def __init__(
        self,
        router: Router,
        settings: Settings,
        store: MutableMapping[bytes, bytes] | None = None,
        customers: CustomerDirectory | None = None,
    ) -> None:
        self.router = router
        self.settings = settings
        self.store: MutableMapping[bytes, bytes] = store if store is not None else {}
        self.customers = customers
        self.open = OpenTickets()

    # --- state -----------------------------------------------------------------------------------------
    def load(self, tid: str) -> TicketState | None:
        data = self.store.get(tid.encode())
        return TicketState.loads(data) if data is not None else None

    def states(self) -> Iterator[TicketState]:
        """Every ticket state held here (a scan: for rare requests, not the hot path)."""
        for value in list(self.store.values()):
            if value is not None:
                yield TicketState.loads(value)

    def _save(self, state: TicketState, out: TicketingOutput, change: TicketChange, at: str) -> None:
        self.store[state.ticket_id.encode()] = state.dumps()
        self._index(state)
        self._emit(state, out)
        out.changes.append(change)

    def _emit(self, state: TicketState, out: TicketingOutput) -> None:
        """Write the ticket as it is now. Also for a replayed post, event or command that changes nothing:
        the table's changelog may have been stored before the ticket record when a worker died, and the
        CRM (which upserts by id) must still get that version."""
        out.tickets.append(
            OutRecord(
                value=state.ticket_json(),
                key=state.ticket_id.encode(),
                headers=[
                    ("queue", state.queue.encode()),
                    ("priority", str(state.priority).encode()),
                    ("status", state.status.value.encode()),
                    ("schema-version", _SCHEMA_VERSION),
                ],
            )
        )

    def _index(self, state: TicketState) -> None:
        if state.is_open:
            self.open[state.ticket_id] = OpenTicket(
                state.queue,
                state.priority,
                state.agent,
                state.status.value,
                state.created_at,
                state.first_response_at,
                ticket_partition(state.ticket_id, self.settings.partitions),
            )
        else:
            self.open.pop(state.ticket_id, None)

    def rebuild_index(self, partitions: Iterable[int]) -> int:
        """After a rebalance: index the open tickets of the partitions this worker now holds."""
        wanted = set(partitions)
        self.open = OpenTickets()
        for key, value in list(self.store.items()):
            tid = key.decode() if isinstance(key, bytes) else str(key)
            if ticket_partition(tid, self.settings.partitions) in wanted and value is not None:
                self._index(TicketState.loads(value))
        return len(self.open)

    # --- posts -----------------------------------------------------------------------------------------
    def route(self, scored: ScoredPost) -> Routed:
        post, scores = scored.post, scored.scores
        profile = self.customers.get(post.platform.value, post.author.handle) if self.customers else None
        tier = profile.tier if profile else None
        priority, priority_reasons = priority_for(scores, tier)
        decision = self.router.route(
            RouteInput(
                intent=scores.intent,
                lang=post.lang,
                brand=post.brand,
                platform=post.platform.value,
                customer_tier=tier,
                urgency=tuple(scores.urgency),
                priority=priority,
                clout=scores.clout,
                text=post.text,
            )
        )
        explanation = [
            f"actionable: {scores.intent} ({scores.intent_confidence:.2f}), "
            f"P(actionable) {scores.actionable_proba:.2f}",
            f"sentiment {scores.sentiment} (negativity {scores.negativity:.2f}), clout {scores.clout:.0f}",
            *([f"known customer {profile.customer_id} ({tier or 'no tier'})"] if profile else []),
            *priority_reasons,
            *decision.reasons,
        ]
        return Routed(
            decision.queue,
            decision.tier,
            decision.priority,
            decision.rule,
            explanation,
            profile.customer_id if profile else None,
            tier,
        )

    def process(
        self, value: bytes | None, topic: str, partition: int, offset: int, now: float
    ) -> TicketingOutput:
        """A frame of actionable posts (and the brand's replies in their threads, after them)."""
        out = TicketingOutput()
        at = datetime.fromtimestamp(now, UTC).isoformat()
        try:
            items = orjson.loads(value or b"")
            if not isinstance(items, list):
                raise TypeError("expected a frame (array) of scored posts")
        except (orjson.JSONDecodeError, TypeError) as exc:
            # Only this pipeline writes here; a broken record still counts as one post, dead-lettered.
            self._dead(out, value or b"", f"invalid frame: {exc}", topic, partition, offset, now, at)
            out.dead_posts += 1
            return out
        cfg = self.settings
        replies = [it for it in items if type(it) is dict and "brand_reply" in it]
        if replies:
            items = [it for it in items if not (type(it) is dict and "brand_reply" in it)]
        try:  # one call for a clean frame (the common case); item by item to find the bad ones
            valid: list[ScoredPost | None] = list(_SCORED.validate_python(items))
        except ValidationError:
            valid = []
            for item in items:
                try:
                    valid.append(ScoredPost.model_validate(item))
                except ValidationError as exc:
                    reason = f"invalid scored post: {exc.errors()[0]['msg']}"
                    self._dead(out, orjson.dumps(item), reason, topic, partition, offset, now, at)
                    out.dead_posts += 1
                    valid.append(None)
        for scored in valid:
            if scored is None:
                continue
            before = self.load(scored.ticket_id)
            after, change = apply_post(
                before,
                scored,
                self.route(scored),
                reopen_window_s=cfg.reopen_window_s,
                escalate_after_contacts=cfg.escalate_after_contacts,
                escalation_queue=cfg.escalation_queue,
            )
            post = scored.post
            out.posts += 1
            ingested = (post.ingested_at or post.created_at).timestamp()
            if change != "unchanged":
                self._save(after, out, TicketChange(change, before, after, post.platform.value, ingested), at)
            else:
                self._emit(after, out)
            out.audit.append(
                audit_decision(
                    "route",
                    post.key,
                    Outcome.TICKET,
                    f"{change}: " + "; ".join(after.explanation[-2:]),
                    at,
                    ticket_id=after.ticket_id,
                    queue=after.queue,
                )
            )
        for item in replies:
            self._brand_reply(item, out, topic, partition, offset, now, at)
        return out

    def _brand_reply(
        self, item: dict[str, Any], out: TicketingOutput, topic: str, partition: int, offset: int, now: float,
        at: str,
    ) -> None:  # fmt: skip
        """Triage already counted the reply as filtered: here it only stops a first-response clock."""
        try:
            reply = BrandReply.model_validate(item["brand_reply"])
        except ValidationError as exc:
            reason = f"invalid brand reply: {exc.errors()[0]['msg']}"
            self._dead(out, orjson.dumps(item), reason, topic, partition, offset, now, at)
            out.events["public_reply/invalid"] += 1
            return
        before = self.load(reply.ticket_id)
        if before is None:  # the brand answered a post that needed no ticket (thanks for praise...)
            out.events["public_reply/no_ticket"] += 1
            return
        after, change = apply_brand_reply(before, reply)
        if change == "unchanged":  # a later reply, a replay, or a closed ticket
            out.events["public_reply/unchanged"] += 1
            return
        out.events["public_reply/applied"] += 1
        self._save(after, out, TicketChange(change, before, after), at)

    # --- lifecycle events and commands -----------------------------------------------------------------
    def process_event(
        self, value: bytes | None, topic: str, partition: int, offset: int, now: float
    ) -> TicketingOutput:
        out = TicketingOutput()
        at = datetime.fromtimestamp(now, UTC).isoformat()
        try:
            event = TicketEvent.model_validate_json(value or b"")
        except ValidationError as exc:
            self._dead(
                out,
                value or b"",
                f"invalid event: {exc.errors()[0]['msg']}",
                topic,
                partition,
                offset,
                now,
                at,
            )
            out.events["invalid/dead_letter"] += 1
            return out
        before = self.load(event.ticket_id)
        if before is None:
            reason = f"unknown ticket: {event.ticket_id}"
            self._dead(out, value or b"", reason, topic, partition, offset, now, at)
            out.events[f"{event.type.value}/unknown_ticket"] += 1
            return out
        after, change = apply_event(before, event)
        out.events[f"{event.type.value}/{'duplicate' if change == 'unchanged' else 'applied'}"] += 1
        if change != "unchanged":
            self._save(after, out, TicketChange(change, before, after), at)
        else:
            self._emit(after, out)
        return out

    def process_command(
        self, value: bytes | None, topic: str, partition: int, offset: int, now: float
    ) -> TicketingOutput:
        out = TicketingOutput()
        at = datetime.fromtimestamp(now, UTC).isoformat()
        try:
            command = OpsCommand.model_validate_json(value or b"")
        except ValidationError as exc:
            reason = f"invalid command: {exc.errors()[0]['msg']}"
            self._dead(out, value or b"", reason, topic, partition, offset, now, at)
            out.events["command/invalid"] += 1
            return out
        if command.type == "reassign" and command.ticket_id is not None:
            candidates = [command.ticket_id]
        else:  # a retask reaches every partition; each applies it to the open tickets it holds
            candidates = [tid for tid, t in self.open.items() if t.partition == partition]
        for tid in candidates:
            before = self.load(tid)
            if before is None:
                out.events["command/unknown_ticket"] += 1
                continue
            after, change = apply_command(before, command)
            if change != "unchanged":
                out.events[f"{command.type}/applied"] += 1
                self._save(after, out, TicketChange(change, before, after), at)
            elif command.command_id in before.events_seen:  # a replay: write the ticket as it is again
                out.events[f"{command.type}/duplicate"] += 1
                self._emit(after, out)
        return out

    def _dead(
        self,
        out: TicketingOutput,
        original: bytes,
        reason: str,
        topic: str,
        partition: int,
        offset: int,
        now: float,
        at: str,
    ) -> None:
        kind = reason_kind(reason)
        out.dead_letters.append(dead_letter(original, reason, "route", topic, partition, offset, now))
        out.dead_kinds[kind] += 1
        out.audit.append(audit_decision("route", "?", Outcome.DEAD_LETTER, reason, at))
