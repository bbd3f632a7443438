"""Priority 1 (drop everything) to 4 (answer in turn), from tone, reach, urgency cues and customer tier."""

from __future__ import annotations

from schemas.scores import Scores

__all__ = ["HIGH_CLOUT", "TOP_TIERS", "priority_for"]

HIGH_CLOUT = 60.0
TOP_TIERS = frozenset({"vip", "elite"})
_CRITICAL_CUES = frozenset({"safety", "legal_threat"})


def priority_for(scores: Scores, customer_tier: str | None = None) -> tuple[int, list[str]]:
    """Start at 3 for anything actionable, 4 otherwise; each cue moves it up; never above 1."""
    reasons: list[str] = []
    level = 3 if scores.actionable else 4
    critical = sorted(_CRITICAL_CUES.intersection(scores.urgency))
    if critical:
        reasons.append(f"priority 1: {', '.join(critical)}")
        return 1, reasons
    if scores.urgency:
        level -= 1
        reasons.append(f"raised: urgency cue {', '.join(scores.urgency)}")
    if scores.negativity >= 0.7:
        level -= 1
        reasons.append(f"raised: strongly negative tone ({scores.negativity:.2f})")
    if scores.clout >= HIGH_CLOUT:
        level -= 1
        reasons.append(f"raised: high clout ({scores.clout:.0f})")
    if customer_tier and customer_tier.lower() in TOP_TIERS:
        level -= 1
        reasons.append(f"raised: {customer_tier} customer")
    return max(level, 1), reasons
