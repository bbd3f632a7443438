"""Stage two, on the actionable topic (partitioned by ticket id): prioritise, route, write tickets.

Keyed by ticket id so that everything about one conversation meets on one worker: the place for
threading, CRM enrichment and SLA clocks.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import Outcome
from schemas.scored import ScoredPost
from schemas.ticket import Ticket
from stream.deadletter import dead_letter, reason_kind
from stream.priority import priority_for
from stream.routing import RouteInput, Router
from stream.sink import OutRecord
from stream.tickets import ticket_post

__all__ = ["EmittedTicket", "TicketingOutput", "TicketingStage"]


@dataclass(frozen=True, slots=True)
class EmittedTicket:
    queue: str
    priority: int
    platform: str
    ingested_at: float


@dataclass
class TicketingOutput:
    tickets: list[OutRecord] = field(default_factory=list)
    emitted: list[EmittedTicket] = field(default_factory=list)
    dead_letters: list[OutRecord] = field(default_factory=list)
    dead_kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    audit: list[dict[str, Any]] = field(default_factory=list)

    @property
    def posts(self) -> int:
        return len(self.emitted) + len(self.dead_letters)


class TicketingStage:
    def __init__(self, router: Router) -> None:
        self.router = router

    def process(
        self, value: bytes | None, topic: str, partition: int, offset: int, now: float
    ) -> TicketingOutput:
        out = TicketingOutput()
        at = datetime.fromtimestamp(now, UTC).isoformat()
        try:
            items = orjson.loads(value or b"")
            if not isinstance(items, list):
                raise TypeError("expected a frame (array) of scored posts")
        except (orjson.JSONDecodeError, TypeError) as exc:
            # Only this pipeline writes here; a broken record still counts as one post, dead-lettered.
            self._dead(out, value or b"", f"invalid frame: {exc}", topic, partition, offset, now, at)
            return out
        for item in items:
            try:
                scored = ScoredPost.model_validate(item)
            except ValidationError as exc:
                self._dead(
                    out,
                    orjson.dumps(item),
                    f"invalid scored post: {exc.errors()[0]['msg']}",
                    topic,
                    partition,
                    offset,
                    now,
                    at,
                )
                continue
            ticket = self.build(scored)
            post = scored.post
            out.tickets.append(
                OutRecord(
                    value=ticket.model_dump_json().encode(),
                    key=ticket.ticket_id.encode(),
                    headers=[
                        ("queue", ticket.queue.encode()),
                        ("priority", str(ticket.priority).encode()),
                        ("schema-version", str(ticket.schema_version).encode()),
                    ],
                )
            )
            ingested = post.ingested_at or post.created_at
            out.emitted.append(
                EmittedTicket(ticket.queue, ticket.priority, post.platform.value, ingested.timestamp())
            )
            out.audit.append(
                {
                    "stage": "route",
                    "post": post.key,
                    "outcome": str(Outcome.TICKET),
                    "reason": "; ".join(ticket.explanation[-2:]),
                    "ticket_id": ticket.ticket_id,
                    "queue": ticket.queue,
                    "at": at,
                }
            )
        return out

    def build(self, scored: ScoredPost) -> Ticket:
        post, scores = scored.post, scored.scores
        customer_tier: str | None = None  # CRM enrichment fills this in (issue 5)
        priority, priority_reasons = priority_for(scores, customer_tier)
        decision = self.router.route(
            RouteInput(
                intent=scores.intent,
                lang=post.lang,
                brand=post.brand,
                platform=post.platform.value,
                customer_tier=customer_tier,
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
            *priority_reasons,
            *decision.reasons,
        ]
        ingested = post.ingested_at or post.created_at
        return Ticket(
            ticket_id=scored.ticket_id,
            queue=decision.queue,
            priority=decision.priority,
            tier=decision.tier,
            brand=post.brand,
            platform=post.platform,
            conversation_id=scored.conversation_id,
            customer_tier=customer_tier,
            posts=[ticket_post(post)],
            scores=scores,
            routing_rule=decision.rule,
            explanation=explanation,
            created_at=ingested,
            updated_at=ingested,
        )

    @staticmethod
    def _dead(
        out: TicketingOutput,
        original: bytes,
        reason: str,
        topic: str,
        partition: int,
        offset: int,
        now: float,
        at: str,
    ) -> None:
        out.dead_letters.append(dead_letter(original, reason, "route", topic, partition, offset, now))
        out.dead_kinds[reason_kind(reason)] += 1
        out.audit.append(
            {
                "stage": "route",
                "post": "?",
                "outcome": str(Outcome.DEAD_LETTER),
                "reason": reason,
                "ticket_id": None,
                "queue": None,
                "at": at,
            }
        )
