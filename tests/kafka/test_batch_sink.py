"""The sink coalesces writes, and when Kafka times out it retries instead of letting a caller skip input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from stream.kafka.batch_sink import BatchSink
from stream.kafka.connection import KafkaConnection
from stream.kafka.records import OutRecord


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    def append(self, *, key: Any, value: bytes, timestamp: Any, headers: Any) -> object:
        self.records.append(value)
        return object()

    def record_count(self) -> int:
        return len(self.records)

    def close(self) -> None:
        pass


class FlakyProducer:
    """Times out ``failures`` times, then stores everything."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.stored: list[tuple[str, int, list[bytes]]] = []
        self.calls = 0

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> asyncio.Future[None]:
        self.calls += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failures > 0:
            self.failures -= 1
            done.set_exception(KafkaTimeoutError())
        else:
            self.stored.append((topic, partition, batch.records))
            done.set_result(None)
        return done

    async def stop(self) -> None:
        pass


async def running_sink(producer: FlakyProducer, linger_s: float = 0.0) -> BatchSink:
    sink = BatchSink(KafkaConnection(bootstrap="127.0.0.1:1"), linger_s=linger_s)
    sink._producer = producer  # type: ignore[assignment]
    sink._flusher = asyncio.create_task(sink._flush_loop())
    return sink


async def test_writes_queued_meanwhile_go_out_together_as_one_batch_per_partition() -> None:
    producer = FlakyProducer(failures=0)
    sink = await running_sink(producer)
    first = await sink.send("t", [OutRecord(b"a", partition=0)])
    second = await sink.send("t", [OutRecord(b"b", partition=0), OutRecord(b"c", partition=1)])
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    by_partition = {p: recs for _, p, recs in producer.stored}
    assert by_partition == {0: [b"a", b"b"], 1: [b"c"]}
    await sink.stop()


async def test_a_timeout_is_retried_until_stored_and_counted() -> None:
    producer = FlakyProducer(failures=2)
    sink = await running_sink(producer)
    stored = await sink.send("t", [OutRecord(b"x", partition=0)])
    await asyncio.wait_for(stored, 10)
    assert stored.exception() is None and producer.stored == [("t", 0, [b"x"])]
    assert sink.retries == 2
    await sink.stop()


async def test_a_record_that_can_never_fit_fails_its_caller_instead_of_retrying_forever() -> None:
    class Full(FakeBatch):
        def append(self, **kwargs: Any) -> None:  # type: ignore[override]
            return None

    producer = FlakyProducer(failures=0)
    producer.create_batch = Full  # type: ignore[method-assign]
    sink = await running_sink(producer)
    stored = await sink.send("t", [OutRecord(b"x" * 10, partition=0)])
    with pytest.raises(ValueError, match="does not fit"):
        await asyncio.wait_for(stored, 5)
    await sink.stop()


async def test_records_sent_within_the_linger_share_one_flush() -> None:
    producer = FlakyProducer(failures=0)
    sink = await running_sink(producer, linger_s=0.05)
    done = [await sink.send("t", [OutRecord(bytes([i]), partition=0)]) for i in range(3)]
    await asyncio.sleep(0.01)
    done.append(await sink.send("t", [OutRecord(b"late", partition=1)]))
    await asyncio.wait_for(asyncio.gather(*done), 5)
    assert sink.flushes == 1 and producer.calls == 2  # one flush, one batch per partition
    assert {p: recs for _, p, recs in producer.stored} == {0: [b"\x00", b"\x01", b"\x02"], 1: [b"late"]}
    await sink.stop()


class CountingProducer(FlakyProducer):
    """Stores everything and answers each batch with its base offset, as Kafka does."""

    def __init__(self) -> None:
        super().__init__(failures=0)
        self.next_offset: dict[int, int] = {}

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> asyncio.Future[Any]:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        base = self.next_offset.get(partition, 100)
        self.next_offset[partition] = base + batch.record_count()
        done.set_result(type("Meta", (), {"offset": base})())
        return done


async def test_a_send_can_learn_the_offsets_its_records_were_stored_at() -> None:
    producer = CountingProducer()
    sink = BatchSink(KafkaConnection(bootstrap="127.0.0.1:1"), linger_s=0.05)
    sink._producer = producer  # type: ignore[assignment]
    sink._flusher = asyncio.create_task(sink._flush_loop())
    first: dict[int, int] = {}
    second: dict[int, int] = {}
    a = await sink.send("t", [OutRecord(b"a", partition=0), OutRecord(b"b", partition=1)], offsets=first)
    b = await sink.send("t", [OutRecord(b"c", partition=0), OutRecord(b"d", partition=0)], offsets=second)
    await asyncio.wait_for(asyncio.gather(a, b), 5)
    # one batch per partition: partition 0 holds a, c, d at 100, 101, 102; partition 1 holds b at 100
    assert first == {0: 100, 1: 100} and second == {0: 102}
    await sink.stop()
