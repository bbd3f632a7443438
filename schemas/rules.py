"""Routing rules: which queue gets which post, as data users edit (YAML or JSON), not code."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.post import Platform
from schemas.scores import Intent

__all__ = ["QueueSpec", "RoutingRule", "RoutingRules", "RuleMatch"]


class RuleMatch(BaseModel):
    """All given conditions must hold; a list means any of its values. An empty match matches every post."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intent: list[Intent] | None = None
    lang: list[str] | None = None
    brand: list[str] | None = None
    platform: list[Platform] | None = None
    customer_tier: list[str] | None = None
    urgency: list[str] | None = Field(default=None, description="Any of these urgency cues fired.")
    max_priority: int | None = Field(default=None, ge=1, le=4, description="Priority at least this urgent.")
    min_clout: float | None = Field(default=None, ge=0, le=100)
    keywords: list[str] | None = Field(
        default=None, description="Any of these words or phrases in the text (case-insensitive, whole words)."
    )


class RoutingRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    match: RuleMatch = Field(default_factory=RuleMatch)
    queue: str = Field(min_length=1, max_length=128)
    tier: int = Field(default=1, ge=1, le=3)
    priority_boost: int = Field(default=0, ge=0, le=3, description="Raise priority by this many levels.")


class QueueSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    service_centre: str | None = None
    description: str | None = None


class RoutingRules(BaseModel):
    """Ordered rules: the first that matches chooses the queue; none matching means the default queue."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"$id": "routing_rules.schema.json"}
    )

    version: str = "1"
    default_queue: str = Field(min_length=1)
    queues: list[QueueSpec] = Field(default_factory=list)
    rules: list[RoutingRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _queues_declared(self) -> RoutingRules:
        """A typo in a queue name would silently open a queue nobody watches: refuse it."""
        if self.queues:
            declared = {q.name for q in self.queues}
            used = {self.default_queue} | {r.queue for r in self.rules}
            unknown = sorted(used - declared)
            if unknown:
                raise ValueError(f"rules use queues that are not declared under 'queues': {unknown}")
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique: {dupes}")
        return self
