"""Helpers shared by the source adapter tests: settings without Kafka, a fake clock, a bounded runner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.settings import Settings
from stream.sources.base import Source

__all__ = ["FakeClock", "make_settings", "run_until", "wait_for"]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "source_commit_interval_s": 0.05,
        "source_stall_timeout_s": 0.5,
        "source_metrics_port": 0,
        "source_listen_port": 0,
    }
    values.update(overrides)
    return Settings(**values)


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
