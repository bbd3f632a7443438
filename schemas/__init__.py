"""Typed records of the pipeline (pydantic v2) and their exported JSON Schemas."""

from schemas.events import AuditDecision, DeadLetter, Outcome, TicketEvent, TicketEventType
from schemas.post import Author, Engagement, Platform, Post
from schemas.rules import QueueSpec, RoutingRule, RoutingRules, RuleMatch
from schemas.scored import ScoredPost
from schemas.scores import Scores
from schemas.ticket import TICKET_SCHEMA_VERSION, Ticket, TicketPost, TicketStatus

__all__ = [
    "TICKET_SCHEMA_VERSION",
    "AuditDecision",
    "Author",
    "DeadLetter",
    "Engagement",
    "Outcome",
    "Platform",
    "Post",
    "QueueSpec",
    "RoutingRule",
    "RoutingRules",
    "RuleMatch",
    "ScoredPost",
    "Scores",
    "Ticket",
    "TicketEvent",
    "TicketEventType",
    "TicketPost",
    "TicketStatus",
]
