"""Consumer lag per topic partition: how many records the group has not committed yet.

Each worker reports the partitions it holds, so summing over workers gives the group's lag without double
counting; kafka-exporter or Burrow give the same figure from outside.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition as ClientTopicPartition  # aiokafka's own type, at its calls

from stream.kafka.connection import KafkaConnection
from stream.kafka.records import TopicPartition

__all__ = ["LagMonitor"]


class LagMonitor:
    def __init__(self, connection: KafkaConnection, group_id: str) -> None:
        self.connection = connection
        self.group_id = group_id
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(**self.connection.client_kwargs())
        self._consumer = AIOKafkaConsumer(**self.connection.reader_kwargs())
        try:
            await self._admin.start()
            await self._consumer.start()
        except BaseException:  # a start that fails (broker down) must still close both clients
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._consumer = self._admin = None

    async def measure(self, held: set[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """(lag, committed offset) of each held partition; lag is the end offset minus the group's committed
        offset (all of it if none)."""
        if self._admin is None or self._consumer is None or not held:
            return {}
        tps = [ClientTopicPartition(t, p) for t, p in sorted(held)]
        committed = await self._admin.list_consumer_group_offsets(self.group_id, partitions=tps)
        ends = await self._consumer.end_offsets(tps)
        lag = {}
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag[TopicPartition(tp.topic, tp.partition)] = (max(0, ends[tp] - done), done)
        return lag

    async def start_offset(self, topic: str, partition: int) -> int | None:
        """Where the group's reading of a partition begins: its committed offset, else the log start (also
        when retention has deleted records past the commit). None when the broker cannot tell us now."""
        if self._admin is None or self._consumer is None:
            return None
        tp = ClientTopicPartition(topic, partition)
        committed = await self._admin.list_consumer_group_offsets(self.group_id, partitions=[tp])
        start = (await self._consumer.beginning_offsets([tp]))[tp]
        meta = committed.get(tp)
        return max(start, meta.offset) if meta is not None and meta.offset >= 0 else start
