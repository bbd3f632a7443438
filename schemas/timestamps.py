"""Instants as the contracts write them: one definition for every stage.

Pipelines keep times as epoch seconds (floats are cheap to compare and store); the JSON contracts carry
ISO 8601 in UTC with a ``Z``, as pydantic writes it. These helpers convert between the two.

Every datetime field of a contract is one of three bounded types, so a date that cannot be an instant the
pipeline can compute with is refused at the schema with a reason (a pydantic ``ValidationError``), never
an ``OverflowError`` further on. A time with an offset is converted to UTC; a naive one is taken as UTC.

- :data:`PostTime`, when a post was written or ingested (a brand reply's ``at`` too): from
  2006-01-01T00:00:00Z to the time of validation plus one day (clocks of platforms and senders drift a
  little, never by a day).
- :data:`EventTime`, when a CRM lifecycle event or an ops command happened: from 1970-01-01T00:00:00Z to
  the time of validation plus one day.
- :data:`UtcDatetime`, times the service writes itself (tickets, audit, dead letters, alerts): any instant
  that exists in UTC, from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

__all__ = [
    "EVENT_TIME",
    "POST_TIME",
    "UTC_TIME",
    "EventTime",
    "PostTime",
    "TimeRange",
    "UtcDatetime",
    "epoch_seconds",
    "iso_utc",
    "iso_utc_from_epoch",
    "utc_from_epoch",
]


def utc_from_epoch(ts: float) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def epoch_seconds(at: datetime) -> float:
    """An aware datetime as epoch seconds; a naive one is refused (its zone would be a guess)."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: give an aware (UTC) one")
    return at.timestamp()


def iso_utc(at: datetime) -> str:
    """A UTC datetime as pydantic writes it ("...Z", microseconds only when there are any)."""
    text = at.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@functools.lru_cache(maxsize=4096)
def iso_utc_from_epoch(ts: float) -> str:
    """Cached: a source stamps a whole chunk of posts with one ingest time, and a frame's decisions share
    the frame's time, so the same instants are formatted over and over."""
    return iso_utc(utc_from_epoch(ts))


def _as_utc(value: datetime) -> datetime | None:
    """Sources disagree on time zones; naive times are taken as UTC so clocks compare. ``None`` when the
    UTC instant falls outside what a datetime holds (9999-12-31T23:59:59-01:00): refused, not overflowed."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _show(value: datetime) -> str:
    try:
        return value.isoformat()
    except Exception:  # a tzinfo of the caller's that fails: say what we can
        return repr(value)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The instants a contract's datetime field accepts: from ``earliest`` (inclusive) to ``ahead`` after
    the time of validation (inclusive); ``None`` leaves that side bounded only by what UTC can hold.

    Also the field's JSON Schema annotation: ``formatMinimum`` (the ajv-formats keyword, ignored by
    validators that do not know it) and a ``$comment`` naming the range.
    """

    earliest: datetime | None = None
    ahead: timedelta | None = None

    def describe(self) -> str:
        low = iso_utc(self.earliest) if self.earliest is not None else "0001-01-01T00:00:00Z"
        if self.ahead is None:
            return f"{low} to 9999-12-31T23:59:59.999999Z"
        days = self.ahead / timedelta(days=1)
        return f"{low} to the time of validation plus {days:g} day{'' if days == 1 else 's'}"

    def latest(self) -> datetime | None:
        """The latest instant accepted now."""
        return None if self.ahead is None else datetime.now(UTC) + self.ahead

    def check(self, value: datetime) -> datetime:
        """``value`` in UTC, or a ``PydanticCustomError`` saying why it is refused."""
        utc = _as_utc(value)
        if (
            utc is None
            or (self.earliest is not None and utc < self.earliest)
            or (self.ahead is not None and utc > datetime.now(UTC) + self.ahead)
        ):
            raise PydanticCustomError(
                "datetime_out_of_range",
                "{value} is outside the accepted range, {range}",
                {"value": _show(value), "range": self.describe()},
            )
        return utc

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema: dict[str, Any] = handler(core_schema)
        if self.earliest is not None:
            schema["formatMinimum"] = iso_utc(self.earliest)
        if self.earliest is not None or self.ahead is not None:
            schema["$comment"] = f"accepted: {self.describe()}"
        return schema


POST_TIME = TimeRange(earliest=datetime(2006, 1, 1, tzinfo=UTC), ahead=timedelta(days=1))
EVENT_TIME = TimeRange(earliest=datetime(1970, 1, 1, tzinfo=UTC), ahead=timedelta(days=1))
UTC_TIME = TimeRange()

PostTime = Annotated[datetime, AfterValidator(POST_TIME.check), POST_TIME]
"""When a post was written or ingested: 2006-01-01T00:00:00Z to the time of validation plus one day."""
EventTime = Annotated[datetime, AfterValidator(EVENT_TIME.check), EVENT_TIME]
"""When a CRM event or an ops command happened: 1970-01-01T00:00:00Z to the time of validation plus a day."""
UtcDatetime = Annotated[datetime, AfterValidator(UTC_TIME.check), UTC_TIME]
"""A time the service writes itself: any instant that exists in UTC."""
