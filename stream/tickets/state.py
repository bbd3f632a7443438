"""The life of a ticket: what a new post in its thread, a CRM lifecycle event or an ops command does to it.

Pure: a state and an input in, the new state and what changed out. The route stage keeps states in a Faust
table keyed by ticket id and writes a ticket record after every change, so a CRM that upserts by ticket id
always holds the latest.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson

from schemas.events import TicketEvent, TicketEventType
from schemas.ops import OpsCommand
from schemas.scored import BrandReply, ScoredPost
from schemas.ticket import TICKET_SCHEMA_VERSION, Ticket, TicketPost, TicketStatus
from schemas.timestamps import iso_utc_from_epoch, utc_from_epoch
from stream.tickets.ids import ticket_post_doc

__all__ = [
    "CLOSED_STATUSES",
    "MAX_POSTS",
    "OPEN_STATUSES",
    "STATE_FORMAT",
    "Change",
    "Routed",
    "TicketState",
    "apply_brand_reply",
    "apply_command",
    "apply_event",
    "apply_expiry",
    "apply_post",
]

# The encoding of a TicketState (TicketState.dumps/loads) as the local state stores name it: a store written
# with another is rebuilt from the changelog. Change it with the encoding.
STATE_FORMAT = b"social-triage/ticket-state/1"

MAX_POSTS = 20  # posts kept on a ticket (the first and the latest); the thread itself stays on the platform

Change = Literal[
    "created",
    "updated",
    "reopened",
    "new_episode",
    "assigned",
    "first_response",
    "resolved",
    "reassigned",
    "escalated",
    "expired",
    "unchanged",
]
OPEN_STATUSES = frozenset(
    {TicketStatus.OPEN, TicketStatus.ASSIGNED, TicketStatus.RESPONDED, TicketStatus.REOPENED}
)
CLOSED_STATUSES = frozenset({TicketStatus.RESOLVED, TicketStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class Routed:
    """The routing decision for a post, made by the caller (priority rules, routing rules, enrichment)."""

    queue: str
    tier: int
    priority: int
    rule: str | None
    explanation: list[str]
    customer_id: str | None = None
    customer_tier: str | None = None


@dataclass(frozen=True, slots=True)
class TicketState:
    ticket_id: str
    queue: str
    priority: int
    tier: int
    status: TicketStatus
    platform: str
    brand: str | None
    conversation_id: str
    created_at: float
    updated_at: float
    posts: tuple[dict[str, Any], ...]
    scores: dict[str, Any]
    explanation: tuple[str, ...]
    routing_rule: str | None = None
    agent: str | None = None
    customer_id: str | None = None
    customer_tier: str | None = None
    contacts: int = 1
    episode: int = 1
    reopened: int = 0
    first_response_at: float | None = None
    resolved_at: float | None = None
    events_seen: tuple[str, ...] = field(default=())  # recent event ids, so a replayed event is a no-op
    expired_at: float | None = None  # set while the status is expired

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def closed_at(self) -> float | None:
        """When a closed ticket closed (resolved or expired): its reopen window runs from here."""
        if self.status == TicketStatus.RESOLVED:
            return self.resolved_at if self.resolved_at is not None else self.updated_at
        if self.status == TicketStatus.EXPIRED:
            return self.expired_at if self.expired_at is not None else self.updated_at
        return None

    # --- storage ---------------------------------------------------------------------------------------
    def dumps(self) -> bytes:
        """The stored state: a JSON array ``[2, field, ...]`` in the order of ``_V2_FIELDS``, posts and
        scores as arrays in the order of ``_V2_POST_KEYS`` and ``_V2_SCORE_KEYS``. Without the keys a
        typical state takes ~940 bytes instead of ~1,470 (version 1 was a JSON object).

        Exact-size bytes: the store keeps one per ticket for as long as the ticket lives, and orjson
        >= 3.12 returns its whole working buffer (~16 KB for a 1.5 KB state; home-assistant/core#181240)."""
        row = (  # in the order of _V2_FIELDS (a round-trip test holds them together)
            _V2,
            self.ticket_id,
            self.queue,
            self.priority,
            self.tier,
            self.status.value,
            self.platform,
            self.brand,
            self.conversation_id,
            self.created_at,
            self.updated_at,
            [_post_row(p) for p in self.posts],
            _score_row(self.scores),
            self.explanation,
            self.routing_rule,
            self.agent,
            self.customer_id,
            self.customer_tier,
            self.contacts,
            self.episode,
            self.reopened,
            self.first_response_at,
            self.resolved_at,
            self.events_seen,
            self.expired_at,
        )
        return bytes(memoryview(orjson.dumps(row)))

    @classmethod
    def loads(cls, data: bytes) -> TicketState:
        """Either encoding: version 2 (an array, :meth:`dumps`) or version 1 (an object keyed by field
        name, written by releases before ticket expiry)."""
        doc = orjson.loads(data)
        if type(doc) is dict:
            doc["status"] = TicketStatus(doc["status"])
            doc["posts"] = tuple(doc["posts"])
            doc["explanation"] = tuple(doc["explanation"])
            doc["events_seen"] = tuple(doc.get("events_seen", ()))
            return cls(**doc)
        if type(doc) is not list or not doc or doc[0] != _V2 or len(doc) != len(_V2_FIELDS) + 1:
            raise ValueError(f"not a ticket state: {bytes(data[:40])!r}")
        values = dict(zip(_V2_FIELDS, doc[1:], strict=True))
        values["status"] = TicketStatus(values["status"])
        values["posts"] = tuple(dict(zip(_V2_POST_KEYS, p, strict=True)) for p in values["posts"])
        values["scores"] = dict(zip(_V2_SCORE_KEYS, values["scores"], strict=True))
        values["explanation"] = tuple(values["explanation"])
        values["events_seen"] = tuple(values["events_seen"])
        return cls(**values)

    # --- the contract with CRMs ------------------------------------------------------------------------
    def ticket_json(self) -> bytes:
        """The ticket record: byte for byte what ``to_ticket().model_dump_json()`` writes (a test holds the
        two equal), without building and re-validating a model per change. Its parts were validated on the
        way in (posts and scores are stored as those models dumped them)."""
        return orjson.dumps(
            {
                "schema_version": TICKET_SCHEMA_VERSION,
                "ticket_id": self.ticket_id,
                "queue": self.queue,
                "priority": self.priority,
                "tier": self.tier,
                "status": self.status.value,
                "agent": self.agent,
                "brand": self.brand,
                "platform": self.platform,
                "conversation_id": self.conversation_id,
                "customer_id": self.customer_id,
                "customer_tier": self.customer_tier,
                "posts": self.posts,
                "scores": self.scores,
                "routing_rule": self.routing_rule,
                "explanation": self.explanation,
                "contacts": self.contacts,
                "episode": self.episode,
                "reopened": self.reopened,
                "created_at": _iso(self.created_at),
                "updated_at": _iso(self.updated_at),
                "first_response_at": _iso(self.first_response_at),
                "resolved_at": _iso(self.resolved_at),
                "expired_at": _iso(self.expired_at),
            }
        )

    def to_ticket(self) -> Ticket:
        return Ticket(
            ticket_id=self.ticket_id,
            queue=self.queue,
            priority=self.priority,
            tier=self.tier,
            status=self.status,
            agent=self.agent,
            brand=self.brand,
            platform=self.platform,  # validated by the model
            conversation_id=self.conversation_id,
            customer_id=self.customer_id,
            customer_tier=self.customer_tier,
            posts=[TicketPost.model_validate(p) for p in self.posts],
            scores=self.scores,
            routing_rule=self.routing_rule,
            explanation=list(self.explanation),
            contacts=self.contacts,
            episode=self.episode,
            reopened=self.reopened,
            created_at=utc_from_epoch(self.created_at),
            updated_at=utc_from_epoch(self.updated_at),
            first_response_at=utc_from_epoch(self.first_response_at)
            if self.first_response_at is not None
            else None,
            resolved_at=utc_from_epoch(self.resolved_at) if self.resolved_at is not None else None,
            expired_at=utc_from_epoch(self.expired_at) if self.expired_at is not None else None,
        )


# Encoding version 2, frozen: a new field or key needs a version 3 (and decoding 2 kept). A test holds these
# equal to the fields of TicketState, TicketPost and Scores, so a change there cannot slip past.
_V2 = 2
_V2_FIELDS = (
    "ticket_id",
    "queue",
    "priority",
    "tier",
    "status",
    "platform",
    "brand",
    "conversation_id",
    "created_at",
    "updated_at",
    "posts",
    "scores",
    "explanation",
    "routing_rule",
    "agent",
    "customer_id",
    "customer_tier",
    "contacts",
    "episode",
    "reopened",
    "first_response_at",
    "resolved_at",
    "events_seen",
    "expired_at",
)
_V2_POST_KEYS = (
    "platform",
    "post_id",
    "url",
    "author_id",
    "author_handle",
    "author_followers",
    "text",
    "lang",
    "created_at",
    "ingested_at",
)
_V2_SCORE_KEYS = (
    "sentiment",
    "negativity",
    "intent",
    "intent_confidence",
    "actionable",
    "actionable_proba",
    "clout",
    "urgency",
    "reasons",
    "model_version",
)
_post_row = operator.itemgetter(*_V2_POST_KEYS)
_score_row = operator.itemgetter(*_V2_SCORE_KEYS)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else iso_utc_from_epoch(ts)


def _keep(posts: tuple[dict[str, Any], ...], new: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    if any(p["post_id"] == new["post_id"] for p in posts):
        return posts  # the same post again (at-least-once replay): nothing new
    merged = (*posts, new)
    return merged if len(merged) <= MAX_POSTS else (merged[0], *merged[-(MAX_POSTS - 1) :])


def apply_post(
    state: TicketState | None,
    scored: ScoredPost,
    routed: Routed,
    *,
    reopen_window_s: float,
    escalate_after_contacts: int,
    escalation_queue: str,
) -> tuple[TicketState, Change]:
    """A new actionable post in the ticket's thread (or the first one)."""
    post = scored.post
    at = (post.ingested_at or post.created_at).timestamp()
    tpost = ticket_post_doc(post)
    scores = scored.scores.model_dump(mode="json")
    if (
        state is None
        or state.status == TicketStatus.EXPIRED  # the thread went quiet and came back: a new conversation
        or (state.status == TicketStatus.RESOLVED and at - (state.resolved_at or at) > reopen_window_s)
    ):
        fresh = TicketState(
            ticket_id=scored.ticket_id,
            queue=routed.queue,
            priority=routed.priority,
            tier=routed.tier,
            status=TicketStatus.OPEN,
            platform=post.platform.value,
            brand=post.brand,
            conversation_id=scored.conversation_id,
            created_at=at,
            updated_at=at,
            posts=(tpost,),
            scores=scores,
            explanation=tuple(routed.explanation),
            routing_rule=routed.rule,
            customer_id=routed.customer_id,
            customer_tier=routed.customer_tier,
            episode=1 if state is None else state.episode + 1,
        )
        return fresh, "created" if state is None else "new_episode"

    posts = _keep(state.posts, tpost)
    if posts is state.posts:
        return state, "unchanged"
    contacts = state.contacts + 1
    change: Change = "updated"
    status, resolved_at, reopened = state.status, state.resolved_at, state.reopened
    if state.status == TicketStatus.RESOLVED:
        status, resolved_at, reopened, change = TicketStatus.REOPENED, None, state.reopened + 1, "reopened"
    explanation = list(state.explanation)
    queue, tier = state.queue, state.tier
    priority = min(state.priority, routed.priority)  # a new post can make a ticket more urgent, never less
    if routed.tier > tier:  # the new post needs specialists (legal threat, safety, press...)
        queue, tier, change = routed.queue, routed.tier, "escalated"
        explanation += routed.explanation[-1:]
    elif contacts >= escalate_after_contacts and tier < 2:
        queue, tier, change = escalation_queue, 2, "escalated"
        explanation.append(f"escalated to {escalation_queue}: repeated contact ({contacts} posts)")
    return (
        replace(
            state,
            queue=queue,
            tier=tier,
            priority=priority,
            status=status,
            resolved_at=resolved_at,
            reopened=reopened,
            updated_at=max(state.updated_at, at),
            posts=posts,
            scores=scores,
            explanation=tuple(explanation),
            contacts=contacts,
            customer_id=state.customer_id or routed.customer_id,
            customer_tier=state.customer_tier or routed.customer_tier,
        ),
        change,
    )


def _seen(state: TicketState, event_id: str) -> tuple[str, ...]:
    return (*state.events_seen[-31:], event_id)


def apply_event(state: TicketState, event: TicketEvent) -> tuple[TicketState, Change]:
    """A lifecycle event from the CRM. Replayed events (same id) change nothing."""
    if event.event_id in state.events_seen:
        return state, "unchanged"
    at = event.at.timestamp()
    seen = _seen(state, event.event_id)
    updated = max(state.updated_at, at)
    match event.type:
        case TicketEventType.ASSIGNED:
            status: TicketStatus = (
                state.status if state.status != TicketStatus.OPEN else TicketStatus.ASSIGNED
            )
            return replace(
                state, agent=event.agent, status=status, updated_at=updated, events_seen=seen
            ), "assigned"
        case TicketEventType.FIRST_RESPONSE:
            first = state.first_response_at if state.first_response_at is not None else at
            status = TicketStatus.RESPONDED if state.is_open else state.status  # a closed one stays closed
            return (
                replace(state, first_response_at=first, status=status, updated_at=updated, events_seen=seen),
                "first_response",
            )
        case TicketEventType.RESOLVED:
            return (
                replace(
                    state,
                    status=TicketStatus.RESOLVED,
                    resolved_at=at,
                    expired_at=None,
                    updated_at=updated,
                    events_seen=seen,
                ),
                "resolved",
            )
        case TicketEventType.REOPENED:
            return (
                replace(
                    state,
                    status=TicketStatus.REOPENED,
                    resolved_at=None,
                    expired_at=None,
                    reopened=state.reopened + 1,
                    updated_at=updated,
                    events_seen=seen,
                ),
                "reopened",
            )
        case TicketEventType.REASSIGNED:
            return (
                replace(
                    state,
                    queue=event.queue or state.queue,
                    agent=event.agent if event.agent is not None else state.agent,
                    updated_at=updated,
                    events_seen=seen,
                ),
                "reassigned",
            )
    return state, "unchanged"  # pragma: no cover - the enum is exhaustive


def apply_expiry(state: TicketState, now: float, expire_after_s: float) -> tuple[TicketState, Change]:
    """An open ticket with no activity (post, event, command, brand reply) for more than
    ``expire_after_s`` closes as expired. It expires at its last activity plus ``expire_after_s``, not at
    ``now``: a sweep repeated after a crash writes the very same ticket."""
    due = state.updated_at + expire_after_s
    if not state.is_open or not due < now:
        return state, "unchanged"
    return (
        replace(
            state,
            status=TicketStatus.EXPIRED,
            expired_at=due,
            updated_at=due,
            explanation=(*state.explanation, f"expired: no activity for {_span(expire_after_s)}"),
        ),
        "expired",
    )


def _span(seconds: float) -> str:
    """14 days, 36 hours, 90 minutes, 5000 s."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} s"


def apply_brand_reply(state: TicketState, reply: BrandReply) -> tuple[TicketState, Change]:
    """The brand's own public reply in the thread: the ticket's first response, if it has none yet. Only
    the first answer is measured; whether a reply also resolves anything is the CRM's to say."""
    if state.first_response_at is not None or not state.is_open:
        return state, "unchanged"  # a later reply, a replay, or a reply to a closed ticket
    at = max(reply.at.timestamp(), state.created_at)  # ingest clocks of two workers may disagree a little
    return (
        replace(
            state,
            first_response_at=at,
            status=TicketStatus.RESPONDED,
            updated_at=max(state.updated_at, at),
            explanation=(*state.explanation, f"first response: public reply by @{reply.handle}"),
        ),
        "first_response",
    )


def apply_command(state: TicketState, command: OpsCommand) -> tuple[TicketState, Change]:
    """An ops command: applies to this ticket if it is the one named, or matches a retask's selector."""
    if command.command_id in state.events_seen:
        return state, "unchanged"
    if command.type == "reassign":
        if command.ticket_id != state.ticket_id:
            return state, "unchanged"
    elif not state.is_open or (
        (command.from_queue is not None and state.queue != command.from_queue)
        or (command.from_agent is not None and state.agent != command.from_agent)
    ):
        return state, "unchanged"
    agent = state.agent if command.to_agent is None else (command.to_agent or None)
    who = f" by {command.by}" if command.by else ""
    to_queue = command.to_queue or state.queue
    note = f"{command.type}{who}: {state.queue}/{state.agent or '-'} -> {to_queue}/{agent or '-'}"
    return (
        replace(
            state,
            queue=to_queue,
            agent=agent,
            updated_at=max(state.updated_at, command.at.timestamp()),
            explanation=(*state.explanation, note),
            events_seen=_seen(state, command.command_id),
        ),
        "reassigned",
    )
