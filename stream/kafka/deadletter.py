"""Dead-letter records: the reason, where the record came from and its original bytes, so nothing is lost
silently. A plain Kafka dead-letter format, shared by both stages."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Literal

import orjson

from stream.kafka.records import OutRecord

__all__ = ["MAX_ORIGINAL_BYTES", "dead_letter", "reason_kind"]

MAX_ORIGINAL_BYTES = 256 * 1024


def reason_kind(reason: str) -> str:
    """A low-cardinality label for metrics: the reason up to its first colon."""
    return reason.split(":", 1)[0].strip().replace(" ", "_")[:40] or "unknown"


def dead_letter(
    original: bytes,
    reason: str,
    stage: Literal["triage", "route"],
    topic: str,
    partition: int,
    offset: int,
    at: float,
) -> OutRecord:
    kept = original[:MAX_ORIGINAL_BYTES]
    doc = {
        "reason": reason[:2000],
        "stage": stage,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "original_b64": base64.b64encode(kept).decode("ascii"),
        "original_size": len(original),
        "original_sha256": hashlib.sha256(original).hexdigest(),
        "truncated": len(kept) < len(original),
        "at": datetime.fromtimestamp(at, UTC).isoformat(),
    }
    return OutRecord(
        value=orjson.dumps(doc),
        key=f"{topic}/{partition}/{offset}".encode(),
        headers=[("reason-kind", reason_kind(reason).encode()), ("stage", stage.encode())],
    )
