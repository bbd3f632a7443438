"""Routing rules: which queue gets which post, as data users edit (YAML or JSON), not code.

A rules document is bounded, so that neither validating it nor routing with it can hold a worker up: at most
:data:`MAX_RULES` rules, :data:`MAX_KEYWORDS` keywords in all (:data:`MAX_RULE_KEYWORDS` per rule, each at
most :data:`MAX_KEYWORD_CHARS` characters), and :data:`MAX_RULES_BYTES` bytes as JSON or YAML. Every check
runs in time linear in the document. A caller may lower the count and size limits (never raise them) with
the validation context ``{"max_rules": n, "max_bytes": n}``, e.g. from the worker's settings.
"""

from __future__ import annotations

import collections
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from schemas.post import Platform
from schemas.scores import Intent

__all__ = [
    "MAX_KEYWORDS",
    "MAX_KEYWORD_CHARS",
    "MAX_RULES",
    "MAX_RULES_BYTES",
    "MAX_RULE_KEYWORDS",
    "QueueSpec",
    "RoutingRule",
    "RoutingRules",
    "RuleMatch",
    "document_too_large",
]

MAX_RULES = 1000  # rules in one document
MAX_RULES_BYTES = 512 * 1024  # a document as JSON or YAML, before it is parsed
MAX_KEYWORDS = 5000  # keywords over all rules of a document
MAX_RULE_KEYWORDS = 200  # keywords of one rule
MAX_KEYWORD_CHARS = 100  # one keyword or phrase
MAX_VALUES = 100  # values of any other list in a rule's match
MAX_QUEUES = 1000  # declared queues

Keyword = Annotated[str, Field(max_length=MAX_KEYWORD_CHARS)]
Value = Annotated[str, Field(max_length=128)]


def _limit(info: ValidationInfo, key: str, hard: int) -> int:
    """The limit in force: ``hard``, or a lower one the caller passed in the validation context."""
    context = info.context
    if isinstance(context, dict):
        given = context.get(key)
        if isinstance(given, int) and 0 < given < hard:
            return given
    return hard


def document_too_large(size: int, limit: int) -> ValidationError:
    """The error of a rules document over its size limit (raised before it is parsed)."""
    return ValidationError.from_exception_data(
        "RoutingRules",
        [
            InitErrorDetails(
                type=PydanticCustomError(
                    "document_too_large",
                    "the rules document is {size} bytes, more than the limit of {limit}",
                    {"size": size, "limit": limit},
                ),
                loc=(),
                input=size,  # not the document itself: it is too large to carry around in an error
            )
        ],
    )


class RuleMatch(BaseModel):
    """All given conditions must hold; a list means any of its values. An empty match matches every post."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intent: list[Intent] | None = Field(default=None, max_length=MAX_VALUES)
    lang: list[Value] | None = Field(default=None, max_length=MAX_VALUES)
    brand: list[Value] | None = Field(default=None, max_length=MAX_VALUES)
    platform: list[Platform] | None = Field(default=None, max_length=MAX_VALUES)
    customer_tier: list[Value] | None = Field(default=None, max_length=MAX_VALUES)
    urgency: list[Value] | None = Field(
        default=None, max_length=MAX_VALUES, description="Any of these urgency cues fired."
    )
    max_priority: int | None = Field(default=None, ge=1, le=4, description="Priority at least this urgent.")
    min_clout: float | None = Field(default=None, ge=0, le=100)
    keywords: list[Keyword] | None = Field(
        default=None,
        max_length=MAX_RULE_KEYWORDS,
        description="Any of these words or phrases in the text (case-insensitive, whole words).",
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
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "$id": "routing_rules.schema.json",
            "description": "Ordered rules: the first that matches chooses the queue; none matching means the "
            f"default queue. At most {MAX_RULES} rules and {MAX_KEYWORDS} keywords in all; a document (as "
            f"JSON or YAML) is at most {MAX_RULES_BYTES} bytes.",
        },
    )

    version: str = Field(default="1", max_length=128)
    default_queue: str = Field(min_length=1)
    queues: list[QueueSpec] = Field(default_factory=list, max_length=MAX_QUEUES)
    rules: list[RoutingRule] = Field(default_factory=list, max_length=MAX_RULES)

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: Any | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """As pydantic's, but a document over the size limit is refused before it is parsed."""
        size = len(json_data.encode()) if isinstance(json_data, str) else len(json_data)
        limit = MAX_RULES_BYTES
        if isinstance(context, dict) and isinstance(context.get("max_bytes"), int):
            limit = min(limit, max(1, context["max_bytes"]))
        if size > limit:
            raise document_too_large(size, limit)
        return super().model_validate_json(
            json_data, strict=strict, extra=extra, context=context, by_alias=by_alias, by_name=by_name
        )

    @field_validator("rules", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any, info: ValidationInfo) -> Any:
        """Counted before each rule is validated, so a huge list costs nothing to refuse."""
        limit = _limit(info, "max_rules", MAX_RULES)
        if isinstance(value, list | tuple) and len(value) > limit:
            raise ValueError(f"at most {limit} rules, not {len(value)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RoutingRules:
        """Linear in the document: sets and counters, no pairwise comparison."""
        if self.queues:  # a typo in a queue name would silently open a queue nobody watches: refuse it
            declared = {q.name for q in self.queues}
            used = {self.default_queue} | {r.queue for r in self.rules}
            unknown = sorted(used - declared)
            if unknown:
                raise ValueError(f"rules use queues that are not declared under 'queues': {unknown}")
        counts = collections.Counter(r.name for r in self.rules)
        dupes = sorted(n for n, c in counts.items() if c > 1)
        if dupes:
            raise ValueError(f"rule names must be unique: {dupes[:20]}")
        keywords = sum(len(r.match.keywords or ()) for r in self.rules)
        if keywords > MAX_KEYWORDS:
            raise ValueError(f"at most {MAX_KEYWORDS} keywords over all rules, not {keywords}")
        return self
