"""Helpers shared by the SLA tests: UTC instants, service centres, small policies, a 24/7 tracker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.sla import ServiceCentre, SlaPolicy, SlaTarget
from stream.ops.sla_tracker import SlaTracker

__all__ = ["T0", "WEEK", "H", "at", "centre", "policy", "tracker_247", "utc"]

H = 3600.0
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


def centre(name: str, tz: str, days: tuple[str, ...] = WEEK[:5], start: str = "09:00", end: str = "17:00",
           **kw: Any) -> ServiceCentre:  # fmt: skip
    return ServiceCentre(name=name, timezone=tz, hours={d: [(start, end)] for d in days}, **kw)


def policy(*centres: ServiceCentre, queues: list[dict[str, Any]] | None = None, fr: float = 1000,
           res: float = 10_000) -> SlaPolicy:  # fmt: skip
    return SlaPolicy(
        centres=list(centres),
        default_targets={p: SlaTarget(first_response_s=fr, resolution_s=res) for p in (1, 2, 3, 4)},
        queues=queues or [],
    )


T0 = utc(2026, 1, 14, 12, 0)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def tracker_247(fr: float = 1000, res: float = 10_000) -> SlaTracker:
    return SlaTracker(policy(fr=fr, res=res))
