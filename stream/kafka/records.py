"""Plain record types shared by the pure stages and the Kafka edge: what to write, and where.

Pure code builds :class:`OutRecord` values and the runtime hands them to a sink; nothing here imports a
Kafka client, so stage logic can use these types and stay testable without a broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Headers", "OutRecord", "TopicPartition", "TopicSpec"]

Headers = list[tuple[str, bytes]]


class TopicPartition(NamedTuple):
    """A partition of a topic. A named tuple of the same two fields as aiokafka's and Faust's, so the
    three compare and hash alike (``TopicPartition("t", 1) == ("t", 1)``); each client gets its own type
    where it is called."""

    topic: str
    partition: int


@dataclass(slots=True)
class OutRecord:
    """One record to write. ``value`` None is a tombstone (a compacted topic forgets the key).
    ``partition`` None: Kafka's default partitioner on the key (murmur2), as any client does."""

    value: bytes | None
    key: bytes | None = None
    partition: int | None = None
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic to create: the caller decides names, counts and configs; the admin code only applies them."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)
