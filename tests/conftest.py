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
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.broker import EmbeddedBroker, free_port
from stream.producer import PostProducer
from stream.promtext import Scrape, scrape
from stream.runner import WorkerProcess, accounted
from stream.settings import Settings
from stream.topics import ensure_topics

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
    await ensure_topics(settings)
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


async def read_topic(settings: Settings, topic: str, idle_s: float = 1.5) -> list[Any]:
    """Every record of ``topic`` up to its end offsets as of the call: complete however slow the broker is
    (waiting for an idle gap could stop early on a loaded machine). ``idle_s`` bounds one empty fetch."""
    consumer = AIOKafkaConsumer(
        **settings.aiokafka_kwargs(), group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        todo = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + 120
        while todo and time.monotonic() < deadline:
            batch = await consumer.getmany(*todo, timeout_ms=int(idle_s * 1000), max_records=50_000)
            for recs in batch.values():
                records.extend(recs)
            todo = {tp for tp in todo if await consumer.position(tp) < ends[tp]}
        if todo:
            raise AssertionError(f"could not read {topic} to its end within 120 s")
    finally:
        await consumer.stop()
    return records


@pytest.fixture
def kafka_reader(settings: Settings) -> Callable[[str], Any]:
    def reader(topic: str) -> Any:
        return read_topic(settings, topic)

    return reader


__all__ = ["AsyncIterator", "read_topic", "send", "wait_accounted"]
