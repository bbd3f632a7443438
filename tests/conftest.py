"""Shared fixtures: the real embedded broker (never a mock) and pipeline workers as subprocesses."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stream.kafka.admin import ensure_topics
from stream.kafka.readers import read_topic
from stream.local.broker import EmbeddedBroker, free_port
from stream.local.promtext import Scrape, scrape
from stream.local.worker_process import WorkerProcess, accounted
from stream.settings import Settings
from stream.sources.producer import PostProducer

_ids = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Fresh topics and consumer group per test, so tests share one broker without seeing each other."""
    tag = f"t{next(_ids)}{uuid.uuid4().hex[:6]}"
    return Settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=tag,
        app_id=f"triage-{tag}",
        partitions=4,
        web_port=free_port(),
        data_dir=tmp_path / "data",
    )


@pytest.fixture
async def topics(settings: Settings) -> Settings:
    await ensure_topics(settings.kafka, settings.topic_specs())
    return settings


@pytest.fixture
def start_worker(topics: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        s = topics.model_copy(update={"web_port": free_port()})
        w = WorkerProcess(s, tmp_path / f"worker{len(workers)}.log", extra_env=env).start()
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()


async def send(settings: Settings, items: list[Any]) -> None:
    async with PostProducer(settings) as producer:
        for item in items:
            if isinstance(item, bytes):
                await producer.add_raw(item)
            else:
                await producer.add(item)


async def wait_accounted(worker: WorkerProcess, expected_in: int, timeout: float = 180.0) -> Scrape:
    """Wait until the worker has taken in ``expected_in`` posts and given each a final outcome."""
    await worker.wait_ready()
    deadline = time.monotonic() + timeout
    s = await asyncio.to_thread(scrape, worker.metrics_url)
    while time.monotonic() < deadline:
        s = await asyncio.to_thread(scrape, worker.metrics_url)
        posts_in, out = accounted(s)
        if posts_in >= expected_in and out == posts_in:
            return s
        await asyncio.sleep(0.3)
    raise AssertionError(f"not drained in {timeout}s: in/out {accounted(s)}, expected {expected_in}")


@pytest.fixture
def kafka_reader(settings: Settings) -> Callable[[str], Any]:
    def reader(topic: str) -> Any:
        return read_topic(settings.kafka, topic)

    return reader


__all__ = ["AsyncIterator", "read_topic", "send", "wait_accounted"]
