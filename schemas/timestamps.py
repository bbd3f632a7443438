"""Instants as the contracts write them: one definition for every stage.

Pipelines keep times as epoch seconds (floats are cheap to compare and store); the JSON contracts carry
ISO 8601 in UTC with a ``Z``, as pydantic writes it. These helpers convert between the two.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

__all__ = ["epoch_seconds", "iso_utc", "iso_utc_from_epoch", "utc_from_epoch"]


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
