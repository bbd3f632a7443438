"""Test helpers for source adapters, shipped with the package (as bytewax ships ``testing.py``).

An adapter under test needs no broker and never waits for real: give it a
:class:`~stream.sources.post_sink.MemorySink` (which can also hold writes back or fail them, standing in for a
slow or absent Kafka) and a :class:`FakeClock` as ``sleep`` and ``clock``, so backoff waits are recorded
instead of slept, then :func:`run_until` a condition holds::

    clock, sink = FakeClock(), MemorySink()
    source = MySource(settings, sink, sleep=clock.sleep, clock=clock)
    await run_until(source, lambda: len(sink.stored) == 2)
    assert clock.sleeps == [0.25]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from stream.sources.base import Source
from stream.sources.post_sink import MemorySink

__all__ = ["FakeClock", "MemorySink", "run_until", "wait_for"]


class FakeClock:
    """A wall clock that only moves when the code under test sleeps; sleeps are recorded, not waited."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` every 10 ms; :class:`AssertionError` if it does not hold within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def run_until(source: Source, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Run ``source`` until ``predicate`` holds (or it stops by itself), then stop it; bounded in time."""
    task = asyncio.create_task(source.run())
    try:
        await wait_for(lambda: predicate() or task.done(), timeout)
    finally:
        source.stop()
        await asyncio.wait_for(task, timeout)
