"""Stage two, on the actionable, ticket-events and commands topics (all partitioned by ticket id): enrich,
prioritise, route, thread into open tickets, apply lifecycle events and ops commands, write tickets.

Keyed by ticket id so that everything about one conversation meets on one worker. Ticket states live in a
store keyed by ticket id (a Faust table in the worker; any mutable mapping in tests); an index of the open
ones keeps backlog and SLA scans cheap.

The working set stays bounded: :meth:`TicketingStage.sweep`, run by the worker every few seconds, closes
open tickets with no activity for ``ticket_expire_after_s`` (status expired, a ticket record like any
change) and forgets closed states whose reopen window has passed (a tombstone on the changelog). A due
index (:mod:`stream.tickets.lifecycle`) finds them without a scan.
"""

from __future__ import annotations

import collections
import logging
import sys
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
from stream.tickets.lifecycle import DueIndex
from stream.tickets.priority import priority_for
from stream.tickets.routing import RouteInput, Router
from stream.tickets.state import (
    Change,
    Routed,
    TicketState,
    apply_brand_reply,
    apply_command,
    apply_event,
    apply_expiry,
    apply_post,
)

__all__ = ["OpenTicket", "TicketChange", "TicketingOutput", "TicketingStage"]

log = logging.getLogger(__name__)

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
    # the sweep's (TicketingStage.sweep)
    expired: collections.Counter[str] = field(default_factory=collections.Counter)  # per queue
    evicted: int = 0  # closed states forgotten: one tombstone each on the changelog, no ticket record
    more_due: bool = False  # the sweep stopped at max_items with more due: sweep again soon


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
        self.due = DueIndex()  # what the sweep will look at, and when

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
        self._index(state, change.before)
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

    def _index(self, state: TicketState, before: TicketState | None = None) -> None:
        """Index a state that was just written or restored. ``before``: the state it replaced, when it is a
        change; None for a new ticket, a restore or a rebuild, which are scheduled afresh. The due index
        gets an entry when a ticket opens or closes (or is indexed afresh), not on every change."""
        tid, cfg = state.ticket_id, self.settings
        partition = ticket_partition(tid, cfg.partitions)
        if state.is_open:
            self.open[tid] = OpenTicket(
                sys.intern(state.queue),  # a few queues and agents, shared by many tickets
                state.priority,
                sys.intern(state.agent) if state.agent is not None else None,
                state.status.value,
                state.created_at,
                state.first_response_at,
                partition,
            )
            if before is None or not before.is_open:
                self.due.expire_at(partition, state.updated_at + cfg.ticket_expire_after_s, tid)
        else:
            self.open.pop(tid, None)
            closed = state.closed_at
            if closed is not None and (before is None or before.closed_at != closed):
                self.due.evict_at(partition, closed + cfg.reopen_window_s, tid)

    def index_state(self, state: TicketState) -> None:
        """A state restored from the changelog joins the index (the worker indexes a partition this way,
        in slices, once its state is whole)."""
        self._index(state)

    def forget_partition(self, partition: int) -> int:
        """A partition went to another worker: its tickets leave the index. Returns how many."""
        gone = [tid for tid, t in self.open.items() if t.partition == partition]
        for tid in gone:
            del self.open[tid]
        self.due.forget(partition)
        return len(gone)

    def rebuild_index(self, partitions: Iterable[int]) -> int:
        """After a rebalance: index the open tickets of the partitions this worker now holds."""
        wanted = set(partitions)
        self.open = OpenTickets()
        self.due = DueIndex()
        for key, value in list(self.store.items()):
            tid = key.decode() if isinstance(key, bytes) else str(key)
            if ticket_partition(tid, self.settings.partitions) in wanted and value is not None:
                self._index(TicketState.loads(value))
        return len(self.open)

    # --- the working set -------------------------------------------------------------------------------
    def sweep(self, now: float, max_items: int = 10_000) -> TicketingOutput:
        """Bound the working set, for the partitions indexed here:

        - an open ticket with no activity for more than ``ticket_expire_after_s`` closes as expired: its
          state is written (changelog), its ticket record goes out, and an audit decision says why;
        - a closed state (resolved or expired) whose reopen window has passed is forgotten: a tombstone on
          the changelog, nothing on the tickets topic. A later post in its thread opens a fresh ticket, and a
          CRM event for it is reported as for an unknown ticket.

        Looks at no more than ``max_items`` due-index entries; ``more_due`` says whether it stopped with more
        due. Counters: ``expired`` (per queue) and ``evicted``."""
        out = TicketingOutput()
        cfg = self.settings
        at = datetime.fromtimestamp(now, UTC).isoformat()
        for _ in range(max_items):
            entry = self.due.pop_due(now)
            if entry is None:
                break
            expiring, partition, tid = entry
            state = self.load(tid)
            if state is None:  # already forgotten (a second entry of the same ticket)
                continue
            if expiring:
                if not state.is_open:  # closed since: closing it scheduled its eviction
                    continue
                after, change = apply_expiry(state, now, cfg.ticket_expire_after_s)
                if change == "unchanged":  # active since this entry was made: look again when due
                    self.due.expire_at(partition, state.updated_at + cfg.ticket_expire_after_s, tid)
                    continue
                self._save(after, out, TicketChange(change, state, after), at)
                out.expired[after.queue] += 1
                last = after.posts[-1]
                out.audit.append(
                    audit_decision(
                        "route",
                        f"{last['platform']}:{last['post_id']}",
                        Outcome.TICKET,
                        after.explanation[-1],  # "expired: no activity for 14 days"
                        at,
                        ticket_id=tid,
                        queue=after.queue,
                    )
                )
            else:
                closed = state.closed_at
                if closed is None:  # reopened since: opening it scheduled its expiry
                    continue
                due = closed + cfg.reopen_window_s
                if not due < now:  # closed again later: look again when due
                    self.due.evict_at(partition, due, tid)
                    continue
                del self.store[tid.encode()]
                out.evicted += 1
        next_due = self.due.next_due()
        out.more_due = next_due is not None and next_due < now
        return out

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
        replies = [it for it in items if type(it) is dict and "brand_reply" in it]
        if replies:
            items = [it for it in items if not (type(it) is dict and "brand_reply" in it)]
        try:  # one call for a clean frame (the common case); item by item to find the bad ones
            valid: list[ScoredPost | None] = list(_SCORED.validate_python(items))
        except Exception:  # a ValidationError, or anything else bad data can raise: never a crash
            valid = []
            for item in items:
                try:
                    valid.append(ScoredPost.model_validate(item))
                except Exception as exc:
                    reason = f"invalid scored post: {_problem(exc)}"
                    self._dead(out, _original(item), reason, topic, partition, offset, now, at)
                    out.dead_posts += 1
                    valid.append(None)
        for scored in valid:
            if scored is None:
                continue
            try:
                self._route_post(scored, out, at)
            except Exception as exc:  # a bug on one post's path: that post is a dead letter, the rest go on
                log.exception("route stage failed on post %s; dead-lettered", scored.post.key)
                reason = f"internal error in the route stage: {_problem(exc)}"
                self._dead(out, _original(scored), reason, topic, partition, offset, now, at)
                out.dead_posts += 1
        for item in replies:
            try:
                self._brand_reply(item, out, topic, partition, offset, now, at)
            except Exception as exc:
                log.exception("route stage failed on a brand reply; dead-lettered")
                reason = f"internal error on a brand reply: {_problem(exc)}"
                self._dead(out, _original(item), reason, topic, partition, offset, now, at)
                out.events["public_reply/error"] += 1
        return out

    def _route_post(self, scored: ScoredPost, out: TicketingOutput, at: str) -> None:
        """One actionable post into its ticket: route, apply, save (or re-emit), audit."""
        cfg = self.settings
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
        out.posts += 1  # counted last: a post that fails above is a dead letter instead

    def _brand_reply(
        self, item: dict[str, Any], out: TicketingOutput, topic: str, partition: int, offset: int, now: float,
        at: str,
    ) -> None:  # fmt: skip
        """Triage already counted the reply as filtered: here it only stops a first-response clock."""
        try:
            reply = BrandReply.model_validate(item["brand_reply"])
        except Exception as exc:
            reason = f"invalid brand reply: {_problem(exc)}"
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
        except Exception as exc:  # a ValidationError, or anything else bad data can raise
            self._dead(
                out,
                value or b"",
                f"invalid event: {_problem(exc)}",
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
        except Exception as exc:  # a ValidationError, or anything else bad data can raise
            reason = f"invalid command: {_problem(exc)}"
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


def _problem(exc: Exception) -> str:
    """A short, readable reason: a validation error's first message, else the exception's type and text."""
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        if errors:
            return str(errors[0]["msg"])
    return f"{type(exc).__name__}: {exc}"[:500]


def _original(item: Any) -> bytes:
    """An item's bytes for its dead letter, whatever it is."""
    if isinstance(item, ScoredPost):
        return item.model_dump_json().encode()
    try:
        return orjson.dumps(item)
    except TypeError:
        return repr(item).encode()
