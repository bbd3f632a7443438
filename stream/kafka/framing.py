"""Frames: many posts in one Kafka record, because Faust's cost is per record (~450 us), not per byte.

A raw-topic record is either one post (a JSON object) or a frame (a JSON array of post objects). Anything
else is a dead letter. Sources write frames; any other system may write single posts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

__all__ = ["RecordError", "decode_record", "encode_frame"]


class RecordError(ValueError):
    """The record as a whole cannot be used; the reason goes to the dead-letter topic."""


def decode_record(value: bytes | None, max_bytes: int) -> list[Any]:
    """The items of a raw record: one for a single post, n for a frame."""
    if value is None or not value:
        raise RecordError("empty record")
    if len(value) > max_bytes:
        raise RecordError(f"record of {len(value)} bytes exceeds the limit of {max_bytes}")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"invalid JSON: {exc}") from None
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        if not doc:
            raise RecordError("empty frame")
        return doc
    raise RecordError(f"expected a post object or a frame (array of posts), got {type(doc).__name__}")


def encode_frame(items: Iterable[Any]) -> bytes:
    return orjson.dumps(list(items))
