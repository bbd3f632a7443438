"""Follow a whole topic on every worker (no consumer group): for small, shared, latest-wins data such as
CRM customer profiles and routing rules, which every worker needs in full whatever partitions it owns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.structs import TopicPartition as ClientTopicPartition  # aiokafka's own type, at its calls

from stream.kafka.connection import KafkaConnection

__all__ = ["TopicFollower"]

log = logging.getLogger(__name__)


class TopicFollower:
    """Reads every partition of ``topic`` from the beginning, then keeps reading; ``caught_up`` is set once
    everything that existed at start has been handed to ``on_record``."""

    def __init__(
        self, connection: KafkaConnection, topic: str, on_record: Callable[[ConsumerRecord], None]
    ) -> None:
        self.connection = connection
        self.topic = topic
        self.on_record = on_record
        self.caught_up = asyncio.Event()
        self.records = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"follow-{self.topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broker hiccup must not stop the follower
                log.warning("following %s failed (%r); retrying", self.topic, exc)
                await asyncio.sleep(2)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(**self.connection.reader_kwargs(fetch_max_wait_ms=200))
        try:
            await consumer.start()  # inside: a start that fails (broker down) must still stop the client
            await consumer.topics()  # partitions_for_topic only answers from metadata already fetched
            parts = consumer.partitions_for_topic(self.topic)
            if not parts:
                raise RuntimeError(f"topic {self.topic} does not exist")
            tps = [ClientTopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            if all(end == 0 for end in ends.values()):
                self.caught_up.set()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batch.values():
                    for record in records:
                        self.records += 1
                        try:
                            self.on_record(record)
                        except Exception:  # one bad record must not stop the others
                            log.exception("bad record on %s at offset %d", self.topic, record.offset)
                if not self.caught_up.is_set():
                    positions = {tp: await consumer.position(tp) for tp in tps}
                    if all(positions[tp] >= ends[tp] for tp in tps):
                        self.caught_up.set()
        finally:
            await consumer.stop()
