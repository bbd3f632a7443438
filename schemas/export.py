"""JSON Schemas of the records other systems read or write; the committed copies are the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.events import AuditDecision, DeadLetter, TicketEvent
from schemas.ops import Alert, CustomerProfile, OpsCommand
from schemas.post import Post
from schemas.rules import RoutingRules
from schemas.scored import BrandReply, ScoredPost
from schemas.sla import SlaPolicy
from schemas.ticket import Ticket

__all__ = ["EXPORTED", "SCHEMA_DIR", "generate", "render", "write_all"]

SCHEMA_DIR = Path(__file__).parent / "json"

EXPORTED: dict[str, type[BaseModel]] = {
    "post.schema.json": Post,
    "ticket.schema.json": Ticket,
    "scored_post.schema.json": ScoredPost,
    "brand_reply.schema.json": BrandReply,
    "ticket_event.schema.json": TicketEvent,
    "audit.schema.json": AuditDecision,
    "dead_letter.schema.json": DeadLetter,
    "routing_rules.schema.json": RoutingRules,
    "customer.schema.json": CustomerProfile,
    "ops_command.schema.json": OpsCommand,
    "alert.schema.json": Alert,
    "sla_policy.schema.json": SlaPolicy,
}


def generate(name: str) -> dict[str, Any]:
    schema = EXPORTED[name].model_json_schema(mode="serialization")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": name, **schema}
    return schema


def render(name: str) -> str:
    return json.dumps(generate(name), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in EXPORTED:
        path = directory / name
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written
