"""Routing decisions: first matching rule wins. Pure, so a rule change can be tested before it ships.

Keywords are matched as escaped whole words in one compiled alternation per rule: users never supply
regular expressions, so no rule can make a worker backtrack forever.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from schemas.rules import RoutingRule, RoutingRules
from stream.documents import load_document

__all__ = ["DEFAULT_RULES_PATH", "RouteDecision", "RouteInput", "Router", "RulesError", "load_rules"]

DEFAULT_RULES_PATH = Path(__file__).parent / "default_rules.yaml"


class RulesError(ValueError):
    """A rules file that cannot be used; the message says where and why."""


def load_rules(path: Path | None = None) -> RoutingRules:
    return load_document(path or DEFAULT_RULES_PATH, RoutingRules, "routing rules", RulesError)


@dataclass(frozen=True, slots=True)
class RouteInput:
    intent: str
    lang: str | None
    brand: str | None
    platform: str
    customer_tier: str | None
    urgency: tuple[str, ...]
    priority: int
    clout: float
    text: str


@dataclass(frozen=True, slots=True)
class RouteDecision:
    queue: str
    tier: int
    priority: int
    rule: str | None
    reasons: list[str] = field(default_factory=list)


def _lower_set(values: list[str] | None) -> frozenset[str] | None:
    return frozenset(v.lower() for v in values) if values is not None else None


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: RoutingRule
    intent: frozenset[str] | None
    lang: frozenset[str] | None
    brand: frozenset[str] | None
    platform: frozenset[str] | None
    tier: frozenset[str] | None
    urgency: frozenset[str] | None
    keywords: re.Pattern[str] | None

    @classmethod
    def of(cls, rule: RoutingRule) -> _Compiled:
        m = rule.match
        kw = None
        if m.keywords:
            kw = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(k.lower()) for k in m.keywords) + r")(?!\w)")
        return cls(
            rule,
            _lower_set(list(m.intent) if m.intent else None),
            _lower_set(m.lang),
            _lower_set(m.brand),
            _lower_set([p.value for p in m.platform] if m.platform else None),
            _lower_set(m.customer_tier),
            _lower_set(m.urgency),
            kw,
        )

    def matches(self, x: RouteInput) -> bool:
        m = self.rule.match
        return (
            (self.intent is None or x.intent in self.intent)
            and (self.lang is None or (x.lang or "").lower() in self.lang)
            and (self.brand is None or (x.brand or "").lower() in self.brand)
            and (self.platform is None or x.platform in self.platform)
            and (self.tier is None or (x.customer_tier or "").lower() in self.tier)
            and (self.urgency is None or not self.urgency.isdisjoint(x.urgency))
            and (m.max_priority is None or x.priority <= m.max_priority)
            and (m.min_clout is None or x.clout >= m.min_clout)
            and (self.keywords is None or self.keywords.search(x.text.lower()) is not None)
        )


class Router:
    def __init__(self, rules: RoutingRules) -> None:
        self.rules = rules
        self._compiled = [_Compiled.of(r) for r in rules.rules]

    def route(self, x: RouteInput) -> RouteDecision:
        for c in self._compiled:
            if c.matches(x):
                rule = c.rule
                priority = max(1, x.priority - rule.priority_boost)
                reasons = [f"queue {rule.queue}: rule '{rule.name}' matched"]
                if priority != x.priority:
                    reasons.append(f"priority {x.priority} -> {priority}: rule '{rule.name}' boost")
                return RouteDecision(rule.queue, rule.tier, priority, rule.name, reasons)
        return RouteDecision(
            self.rules.default_queue,
            1,
            x.priority,
            None,
            [f"queue {self.rules.default_queue}: no rule matched"],
        )
