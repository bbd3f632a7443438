"""SLA policy: when each queue's clocks run and how long a ticket may wait, as data users edit (YAML or JSON).

A queue lists the service centres that answer it. Its clock runs whenever *any* of them is open, so a
follow-the-sun queue hands over from centre to centre without stopping, and a queue with no centres (or an
always-open one) runs 24/7. Business hours are local wall-clock times in the centre's IANA time zone, so
daylight-saving changes are the time zone database's business, not the user's.
"""

from __future__ import annotations

import re
from datetime import date
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "PRIORITIES",
    "WEEKDAYS",
    "Priority",
    "QueueSla",
    "ServiceCentre",
    "SlaPolicy",
    "SlaTarget",
    "Weekday",
    "minutes_of",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
PRIORITIES = (1, 2, 3, 4)
Priority = Annotated[int, Field(ge=1, le=4)]

_HHMM = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|24:00)$")
LocalTime = Annotated[
    str, Field(pattern=_HHMM.pattern, description="Local wall-clock time HH:MM; 24:00 ends a day.")
]


def minutes_of(hhmm: str) -> int:
    """Minutes after local midnight of an ``HH:MM`` string (``24:00`` is 1440)."""
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


class ServiceCentre(BaseModel):
    """A team in one time zone: open during its weekly hours except on its holidays, or always."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    timezone: str = Field(description="IANA time zone, e.g. Europe/London.")
    always_open: bool = Field(default=False, description="Open 24/7: no hours, no holidays.")
    hours: dict[Weekday, list[tuple[LocalTime, LocalTime]]] = Field(
        default_factory=dict,
        description="Per weekday, [start, end) local times, e.g. {mon: [['08:00', '20:00']]}. "
        "A day not listed is closed. An overnight shift is two intervals on two days.",
    )
    holidays: list[date] = Field(default_factory=list, description="Local dates the centre is closed.")

    @field_validator("hours", mode="before")
    @classmethod
    def _times_are_strings(cls, value: Any) -> Any:
        """YAML reads an unquoted 20:00 as the sexagesimal number 1200: say so instead of a vague error."""
        if isinstance(value, dict):
            for day, intervals in value.items():
                for interval in intervals if isinstance(intervals, list) else []:
                    for t in interval if isinstance(interval, list | tuple) else []:
                        if not isinstance(t, str):
                            raise ValueError(
                                f"{day}: time {t!r} is not a string; quote times in YAML ('08:00')"
                            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/London)") from None
        return value

    @model_validator(mode="after")
    def _hours_make_sense(self) -> ServiceCentre:
        if self.always_open:
            if self.hours or self.holidays:
                raise ValueError(
                    f"centre {self.name!r} is always_open: give no hours or holidays "
                    "(for a 24/7 centre with holidays, give 00:00-24:00 for every day)"
                )
            return self
        if not any(self.hours.values()):
            raise ValueError(f"centre {self.name!r} has no business hours: give hours or set always_open")
        for day, intervals in self.hours.items():
            spans = sorted((minutes_of(a), minutes_of(b), f"{a}-{b}") for a, b in intervals)
            for start, end, text in spans:
                if end <= start:
                    raise ValueError(
                        f"centre {self.name!r} {day} {text}: end must be after start "
                        "(split an overnight shift over two days: 22:00-24:00 and 00:00-06:00)"
                    )
            for (_, end, a), (start, _, b) in pairwise(spans):
                if start < end:
                    raise ValueError(f"centre {self.name!r} {day}: hours {a} and {b} overlap")
        return self


class SlaTarget(BaseModel):
    """Working-time budgets of one priority; at-risk fires when ``at_risk_fraction`` of a budget is used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_response_s: float = Field(gt=0, description="Working seconds until the first response.")
    resolution_s: float = Field(gt=0, description="Working seconds until resolved (restarts on reopen).")
    at_risk_fraction: float = Field(default=0.8, gt=0, lt=1)

    @model_validator(mode="after")
    def _resolution_after_response(self) -> SlaTarget:
        if self.resolution_s < self.first_response_s:
            raise ValueError(
                f"resolution_s ({self.resolution_s:g}) is shorter than first_response_s "
                f"({self.first_response_s:g}): a unit mistake?"
            )
        return self


Targets = dict[Priority, SlaTarget]
_PRIORITY_KEYS: dict[str, Any] = {"propertyNames": {"pattern": "^[1-4]$"}}


class QueueSla(BaseModel):
    """One queue's centres (follow-the-sun order; the clock runs when any is open) and target overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str = Field(min_length=1, max_length=128)
    centres: list[str] = Field(
        default_factory=list, description="Centres answering this queue; empty means 24/7."
    )
    targets: Targets = Field(
        default_factory=dict,
        description="Per priority 1-4; a missing priority uses the policy default.",
        json_schema_extra=_PRIORITY_KEYS,
    )


class SlaPolicy(BaseModel):
    """Service centres, default targets per priority, and per-queue centres and overrides."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"$id": "sla_policy.schema.json"}
    )

    version: str = "1"
    centres: list[ServiceCentre] = Field(default_factory=list)
    default_targets: Targets = Field(
        description="Targets for priorities 1-4; all four are required.", json_schema_extra=_PRIORITY_KEYS
    )
    default_centres: list[str] = Field(
        default_factory=list, description="Centres of a queue not listed under 'queues' (empty: 24/7)."
    )
    queues: list[QueueSla] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> SlaPolicy:
        """Typos here silently stop or skew clocks nobody watches: refuse them with the name at fault."""
        names = [c.name for c in self.centres]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"centre names must be unique: {dupes}")
        queues = [q.queue for q in self.queues]
        dupes = sorted({n for n in queues if queues.count(n) > 1})
        if dupes:
            raise ValueError(f"queues listed more than once: {dupes}")
        missing = [p for p in PRIORITIES if p not in self.default_targets]
        if missing:
            raise ValueError(f"default_targets must give every priority 1-4; missing {missing}")
        known = set(names)
        for owner, used in [("default_centres", self.default_centres)] + [
            (f"queue {q.queue!r}", q.centres) for q in self.queues
        ]:
            unknown = [c for c in used if c not in known]
            if unknown:
                raise ValueError(f"{owner} names unknown centres {unknown}; declared: {sorted(known)}")
        return self

    def queue(self, name: str) -> QueueSla | None:
        return next((q for q in self.queues if q.queue == name), None)

    def centres_of(self, queue: str) -> list[ServiceCentre]:
        """The centres whose open hours run ``queue``'s clock (none: 24/7)."""
        q = self.queue(queue)
        wanted = q.centres if q is not None else self.default_centres
        by_name = {c.name: c for c in self.centres}
        return [by_name[n] for n in wanted]

    def target(self, queue: str, priority: int) -> SlaTarget:
        """The queue's target for ``priority`` (clamped to 1-4), else the policy default."""
        p = min(max(priority, 1), 4)
        q = self.queue(queue)
        if q is not None and p in q.targets:
            return q.targets[p]
        return self.default_targets[p]
