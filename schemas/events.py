"""Records the pipeline writes besides tickets: lifecycle events, audit decisions and dead letters."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from schemas.timestamps import EventTime, UtcDatetime

__all__ = [
    "AuditDecision",
    "AuditDecisionDoc",
    "DeadLetter",
    "Outcome",
    "TicketEvent",
    "TicketEventType",
    "audit_decision",
]


class Outcome(StrEnum):
    """What became of a post. Every post that enters ends in exactly one of these."""

    TICKET = "ticket"
    FILTERED = "filtered"  # scored, not actionable (praise, promo, chatter, spam)
    DUPLICATE = "duplicate"  # same post again, a repost, or copy-paste of a recent post
    DEAD_LETTER = "dead_letter"  # could not be parsed or validated; kept with the reason


class TicketEventType(StrEnum):
    ASSIGNED = "assigned"
    FIRST_RESPONSE = "first_response"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    REASSIGNED = "reassigned"


class TicketEvent(BaseModel):
    """A lifecycle event a CRM publishes to the ticket-events topic."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"$id": "ticket_event.schema.json"}
    )

    schema_version: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=128, description="Unique per event, for idempotence.")
    ticket_id: str = Field(pattern=r"^tkt_[0-9a-f]{20}$")
    type: TicketEventType
    at: EventTime
    agent: str | None = Field(default=None, max_length=256)
    queue: str | None = Field(default=None, max_length=256, description="New queue, for reassigned.")
    note: str | None = Field(default=None, max_length=4096)


class AuditDecision(BaseModel):
    """One decision about one post, with its explanation. Audit records carry lists of these."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"$id": "audit.schema.json"})

    stage: Literal["triage", "route"]
    post: str = Field(description="platform:post_id, or '?' when the record could not be parsed.")
    outcome: Outcome | Literal["actionable"]
    reason: str
    ticket_id: str | None = None
    queue: str | None = None
    at: UtcDatetime


class AuditDecisionDoc(TypedDict):
    """:class:`AuditDecision` as the hot path writes it: a plain dict (validating a model per post costs
    13-21 us), with the same fields; ``at`` already in ISO form. Built only by :func:`audit_decision`."""

    stage: Literal["triage", "route"]
    post: str
    outcome: str
    reason: str
    ticket_id: str | None
    queue: str | None
    at: str


def audit_decision(
    stage: Literal["triage", "route"],
    post: str,
    outcome: Outcome | Literal["actionable"],
    reason: str,
    at: str,
    ticket_id: str | None = None,
    queue: str | None = None,
) -> AuditDecisionDoc:
    """One audit decision, the one way both stages build it (tested against :class:`AuditDecision`)."""
    return {
        "stage": stage,
        "post": post,
        "outcome": str(outcome),
        "reason": reason,
        "ticket_id": ticket_id,
        "queue": queue,
        "at": at,
    }


class DeadLetter(BaseModel):
    """A record the pipeline could not use, with the reason and the original bytes (base64)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"$id": "dead_letter.schema.json"}
    )

    reason: str
    stage: Literal["triage", "route"]
    topic: str
    partition: int
    offset: int
    original_b64: str = Field(description="The original bytes, base64; cut at 256 KiB (see truncated).")
    original_size: int = Field(ge=0, description="Size of the original in bytes.")
    original_sha256: str = Field(description="Hash of the whole original, to match it with its source.")
    truncated: bool = False
    at: UtcDatetime
