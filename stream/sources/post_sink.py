"""What a source writes to: anything with ``add(post)`` and ``flush()``; :class:`PostProducer` in production.

The protocol keeps adapters testable with :class:`MemorySink`, which can also hold writes back (``gate``) or
fail them, standing in for a slow or absent Kafka.
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO, Any, Protocol

import orjson

__all__ = ["JsonlSink", "MemorySink", "PostSink"]


class PostSink(Protocol):
    async def add(self, post: Any) -> None: ...

    async def flush(self) -> None: ...


class MemorySink:
    """Keeps posts in lists: ``added`` (handed over) and ``stored`` (covered by a completed flush)."""

    def __init__(self) -> None:
        self.added: list[Any] = []
        self.stored: list[Any] = []
        self.flushes = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: BaseException | None = None

    async def add(self, post: Any) -> None:
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.added.append(post)

    async def flush(self) -> None:
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.stored = list(self.added)
        self.flushes += 1

    def crash(self) -> None:
        """Forget what was added but not flushed, like a process killed before Kafka acknowledged."""
        self.added = list(self.stored)

    @property
    def ids(self) -> list[str]:
        return [p["post_id"] for p in self.added if isinstance(p, dict)]


class JsonlSink:
    """Writes posts as JSON lines (``triage source ... --dry-run``): see what a source would produce."""

    def __init__(self, out: IO[bytes] | None = None) -> None:
        self.out = out if out is not None else sys.stdout.buffer
        self.count = 0

    async def add(self, post: Any) -> None:
        self.out.write(orjson.dumps(post, option=orjson.OPT_APPEND_NEWLINE))
        self.count += 1

    async def flush(self) -> None:
        self.out.flush()
