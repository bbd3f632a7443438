"""Every datetime of every contract is bounded: any ISO 8601 string, with any year (1 to 9999) and any UTC
offset (-23:59 to +23:59), either validates to a UTC instant inside the field's documented range or raises
pydantic's ValidationError with a reason. Never anything else (9999-12-31T23:59:59-01:00 once raised
OverflowError), in Python mode and in JSON mode (how events and commands are read off Kafka)."""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import pkgutil
import typing
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import schemas
from schemas.export import EXPORTED
from schemas.timestamps import EVENT_TIME, POST_TIME, UTC_TIME, TimeRange

Path = tuple[str | int, ...]

# --- the contracts and their datetime fields, found by walking the models ------------------------------


def _contracts() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.iter_modules(schemas.__path__):
        module = importlib.import_module(f"schemas.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseModel) and obj.__module__.startswith("schemas."):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


def _walk(annotation: Any) -> typing.Iterator[Any]:
    """The annotation and everything inside it (unions, lists, Annotated metadata)."""
    yield annotation
    if typing.get_origin(annotation) is typing.Annotated:
        yield from annotation.__metadata__
        yield from _walk(annotation.__origin__)
        return
    for arg in typing.get_args(annotation):
        yield from _walk(arg)


def _datetime_fields(model: type[BaseModel], prefix: Path = ()) -> list[tuple[Path, TimeRange | None]]:
    """(path, range) of every datetime field of ``model`` and the models inside it (a list: item 0)."""
    fields: list[tuple[Path, TimeRange | None]] = []
    for name, info in model.model_fields.items():
        parts = [info.annotation, *info.metadata]
        inside = [x for part in parts for x in _walk(part)]
        in_list = any(typing.get_origin(x) is list for x in inside)
        if any(x is datetime for x in inside):
            ranges = [x for x in inside if isinstance(x, TimeRange)]
            fields.append(((*prefix, name), ranges[0] if len(ranges) == 1 else None))
        for x in inside:
            if inspect.isclass(x) and issubclass(x, BaseModel):
                nested = (*prefix, name, 0) if in_list else (*prefix, name)
                fields += _datetime_fields(x, nested)
    return fields


CONTRACTS = _contracts()
WITH_DATES = {m: _datetime_fields(m) for m in CONTRACTS if _datetime_fields(m)}


def test_every_datetime_of_every_contract_is_one_of_the_bounded_types() -> None:
    assert WITH_DATES, "the walk found no datetime field at all"
    unbounded = [(m.__name__, path) for m, fields in WITH_DATES.items() for path, r in fields if r is None]
    assert not unbounded, "use PostTime, EventTime or UtcDatetime (schemas.timestamps) for these"


def test_the_ranges_are_the_documented_ones() -> None:
    ranges = {
        (m.__name__, ".".join(map(str, path))): r for m, fields in WITH_DATES.items() for path, r in fields
    }
    assert ranges["Post", "created_at"] is POST_TIME and ranges["Post", "ingested_at"] is POST_TIME
    assert ranges["ScoredPost", "post.created_at"] is POST_TIME and ranges["BrandReply", "at"] is POST_TIME
    assert ranges["TicketEvent", "at"] is EVENT_TIME and ranges["OpsCommand", "at"] is EVENT_TIME
    for name in ("Ticket", "AuditDecision", "DeadLetter", "Alert"):
        assert all(r is UTC_TIME for (model, _), r in ranges.items() if model == name)
    assert POST_TIME.earliest == datetime(2006, 1, 1, tzinfo=UTC) and POST_TIME.ahead == timedelta(days=1)
    assert EVENT_TIME.earliest == datetime(1970, 1, 1, tzinfo=UTC) and EVENT_TIME.ahead == timedelta(days=1)
    assert UTC_TIME.earliest is None and UTC_TIME.ahead is None


def test_the_json_schemas_carry_the_post_range() -> None:
    created = EXPORTED["post.schema.json"].model_json_schema(mode="serialization")["properties"]["created_at"]
    assert created["format"] == "date-time" and created["formatMinimum"] == "2006-01-01T00:00:00Z"
    assert "plus 1 day" in created["$comment"]


# --- a valid document of each contract with dates ---------------------------------------------------------

TID = "tkt_" + "0" * 20
AT = "2026-11-22T10:00:00Z"
POST = {
    "platform": "x",
    "post_id": "1",
    "author": {"id": "a", "handle": "h"},
    "text": "my order is late",
    "created_at": AT,
    "ingested_at": AT,
}
SCORES = {
    "sentiment": "negative",
    "negativity": 0.8,
    "intent": "complaint",
    "intent_confidence": 0.9,
    "actionable": True,
    "actionable_proba": 0.9,
    "clout": 10.0,
}
TICKET_POST = {
    "platform": "x",
    "post_id": "1",
    "author_id": "a",
    "author_handle": "h",
    "author_followers": 1,
    "text": "my order is late",
    "created_at": AT,
    "ingested_at": AT,
}
SAMPLES: dict[str, dict[str, Any]] = {
    "Post": POST,
    "ScoredPost": {"post": POST, "scores": SCORES, "ticket_id": TID, "conversation_id": "1"},
    "BrandReply": {"post": "x:2", "handle": "acme", "ticket_id": TID, "at": AT},
    "TicketPost": TICKET_POST,
    "Ticket": {
        "ticket_id": TID,
        "queue": "general",
        "priority": 3,
        "platform": "x",
        "conversation_id": "1",
        "posts": [TICKET_POST],
        "scores": SCORES,
        "explanation": ["why"],
        "created_at": AT,
        "updated_at": AT,
        "first_response_at": AT,
        "resolved_at": AT,
        "expired_at": AT,
    },
    "TicketEvent": {"event_id": "e1", "ticket_id": TID, "type": "resolved", "at": AT},
    "OpsCommand": {"command_id": "c1", "type": "reassign", "ticket_id": TID, "to_queue": "vip", "at": AT},
    "AuditDecision": {"stage": "triage", "post": "x:1", "outcome": "ticket", "reason": "r", "at": AT},
    "DeadLetter": {
        "reason": "r",
        "stage": "triage",
        "topic": "t",
        "partition": 0,
        "offset": 0,
        "original_b64": "",
        "original_size": 0,
        "original_sha256": "0",
        "at": AT,
    },
    "Alert": {"alert_id": "a1", "kind": "sla_breached", "detail": "d", "at": AT},
}
CASES = [
    pytest.param(model, path, r, id=f"{model.__name__}.{'.'.join(map(str, path))}")
    for model, fields in WITH_DATES.items()
    for path, r in fields
]


def test_every_contract_with_dates_has_a_sample_that_validates() -> None:
    for model in WITH_DATES:
        assert model.__name__ in SAMPLES, f"add a valid {model.__name__} to SAMPLES"
        model.model_validate(SAMPLES[model.__name__])


def _set(doc: Any, path: Path, value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _get(obj: Any, path: Path) -> Any:
    for key in path:
        obj = obj[key] if isinstance(key, int) else getattr(obj, key)
    return obj


# --- the property ------------------------------------------------------------------------------------------

_FIRST, _LAST = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)
_MAX_OFFSET = 23 * 60 + 59
WALL = st.one_of(
    st.datetimes(min_value=_FIRST, max_value=_LAST),
    st.sampled_from(
        [
            _FIRST,
            _LAST,
            datetime(1, 1, 1, 23, 59),
            datetime(9999, 12, 31),
            datetime(1970, 1, 1),
            datetime(2006, 1, 1),
            datetime(2005, 12, 31, 23, 59, 59, 999999),
        ]
    ),
)
OFFSET = st.one_of(
    st.sampled_from(["Z", "", "+00:00", "-00:00"]),
    st.integers(-_MAX_OFFSET, _MAX_OFFSET).map(
        lambda m: f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
    ),
)


def _instant(wall: datetime, offset: str) -> timedelta:
    """The UTC instant of ``wall`` at ``offset`` as time since 0001-01-01T00:00:00Z: exact, no overflow."""
    minutes = 0 if offset in ("Z", "") else int(offset[1:3]) * 60 + int(offset[4:6])
    sign = -1 if offset.startswith("-") else 1
    return (wall - _FIRST) - sign * timedelta(minutes=minutes)


def _expected(r: TimeRange, since_first: timedelta) -> bool | None:
    """Whether the range takes the instant; ``None`` within a few seconds of "now plus a day"."""
    if since_first < timedelta(0) or since_first > _LAST - _FIRST:
        return False
    instant = (_FIRST + since_first).replace(tzinfo=UTC)
    if r.earliest is not None and instant < r.earliest:
        return False
    latest = r.latest()
    if latest is not None and abs(instant - latest) < timedelta(seconds=5):
        return None
    return latest is None or instant <= latest


@pytest.mark.parametrize(("model", "path", "time_range"), CASES)
@settings(max_examples=150, deadline=None)
@given(wall=WALL, offset=OFFSET)
@example(wall=datetime(9999, 12, 31, 23, 59, 59), offset="-01:00")
@example(wall=datetime(1, 1, 1, 0, 30), offset="+01:00")
@example(wall=_LAST, offset="-23:59")
@example(wall=_FIRST, offset="+23:59")
@example(wall=datetime(2999, 1, 1), offset="Z")
def test_any_date_validates_in_range_or_raises_validation_error(
    model: type[BaseModel], path: Path, time_range: TimeRange, wall: datetime, offset: str
) -> None:
    text = wall.isoformat() + offset
    doc = copy.deepcopy(SAMPLES[model.__name__])
    _set(doc, path, text)
    expected = _expected(time_range, _instant(wall, offset))
    for mode, validate in (("python", model.model_validate), ("json", model.model_validate_json)):
        try:
            parsed = validate(doc if mode == "python" else json.dumps(doc))
        except ValidationError as exc:
            assert expected is not True, (mode, text, exc)
            [error] = exc.errors(include_url=False)
            assert error["loc"] == path and "outside the accepted range" in error["msg"]
            continue
        assert expected is not False, (mode, text)
        value = _get(parsed, path)
        assert value.tzinfo is UTC and value - _FIRST.replace(tzinfo=UTC) == _instant(wall, offset)


def test_sla_holidays_are_dates_without_a_zone_and_cannot_overflow() -> None:
    """The one other kind of date in the contracts: a local calendar date, never converted."""
    from schemas.sla import ServiceCentre

    assert ServiceCentre.model_fields["holidays"].annotation == list[date]
