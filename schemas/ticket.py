"""The ticket: the contract with downstream CRMs, one per Kafka record on the tickets topic.

Delivery is at-least-once, so a CRM must upsert by ``ticket_id``: a record may repeat, and a later record
with the same id (a new post in the same conversation) supersedes the earlier one.

Versions: 2 added the status ``expired`` and ``expired_at`` (an open ticket with no activity for
``TRIAGE_TICKET_EXPIRE_AFTER_S`` closes as expired). A version-1 record is also a valid version-2 record.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.post import Platform
from schemas.scores import Scores
from schemas.timestamps import UtcDatetime

__all__ = ["TICKET_SCHEMA_VERSION", "Ticket", "TicketPost", "TicketStatus"]

TICKET_SCHEMA_VERSION = 2


class TicketStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    RESPONDED = "responded"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    EXPIRED = "expired"  # closed by the service: no activity for TRIAGE_TICKET_EXPIRE_AFTER_S


class TicketPost(BaseModel):
    """The post that triggered (or updated) the ticket, enough for an agent to answer without a lookup."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Platform
    post_id: str
    url: str | None = None
    author_id: str
    author_handle: str
    author_followers: int = Field(ge=0)
    text: str
    lang: str | None = None
    created_at: UtcDatetime
    ingested_at: UtcDatetime


class Ticket(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"$id": "ticket.schema.json"})

    schema_version: Literal[1, 2] = Field(
        default=2, description="2 since the status expired and expired_at; a version-1 record is valid too."
    )
    ticket_id: str = Field(
        pattern=r"^tkt_[0-9a-f]{20}$",
        description="Deterministic: derived from platform, brand and conversation (or post) id, so a "
        "replayed post never yields a different ticket id.",
    )
    queue: str = Field(min_length=1, description="Queue or workgroup the ticket is routed to.")
    priority: int = Field(ge=1, le=4, description="1 is most urgent.")
    tier: int = Field(default=1, ge=1, le=3, description="Escalation tier: 1 front line, 2 specialists.")
    status: TicketStatus = TicketStatus.OPEN
    agent: str | None = Field(default=None, description="Agent working on it, from the CRM or the ops API.")
    brand: str | None = None
    platform: Platform
    conversation_id: str = Field(description="Thread root id, or the post id when it starts a thread.")
    customer_id: str | None = Field(default=None, description="CRM customer id when the author is known.")
    customer_tier: str | None = Field(default=None, description="CRM tier, e.g. vip or elite.")
    posts: list[TicketPost] = Field(min_length=1, description="The triggering post(s), oldest first.")
    scores: Scores
    routing_rule: str | None = Field(default=None, description="Name of the rule that chose the queue.")
    explanation: list[str] = Field(description="Why actionable, why this queue, why this priority.")
    contacts: int = Field(default=1, ge=1, description="Posts from the customer in this episode.")
    episode: int = Field(
        default=1, ge=1, description="Counts fresh starts: a thread that comes back after the reopen period."
    )
    reopened: int = Field(default=0, ge=0, description="Times this episode was reopened.")
    created_at: UtcDatetime = Field(description="Ingest time of the first triggering post of this episode.")
    updated_at: UtcDatetime = Field(description="Time of the latest change.")
    first_response_at: UtcDatetime | None = None
    resolved_at: UtcDatetime | None = None
    expired_at: UtcDatetime | None = Field(
        default=None,
        description="Set while the status is expired: the last activity plus the configured expiry time "
        "(TRIAGE_TICKET_EXPIRE_AFTER_S). A later post in the thread starts a new episode.",
    )
