"""Replay a changelog partition into its local store, from the offset the store reflects to the true end.

Never trusts a reported end offset alone: the embedded broker reports the first offset of the last write
batch plus one (one batch of 10 records reports an end of 1), and a reader that stops there stops short.
So after reaching the reported end it keeps fetching until a fetch brings nothing more. Before replaying
from a stored offset it checks the changelog still reaches that far (the record just before it exists):
a changelog that was deleted and created again, or a broker that came back empty, would otherwise leave
states on disk that no longer exist; then the local store is discarded and rebuilt from the start.

Nobody else writes a changelog partition while its one owner recovers it, so "nothing more comes" is the
true end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as ClientTopicPartition  # aiokafka's own type, at its calls

from stream.kafka.connection import KafkaConnection
from stream.state.partition_store import PartitionStore

__all__ = ["Recovered", "recover_partition"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Recovered:
    partition: int
    started_at: int  # the offset replay started from
    next_offset: int  # the offset just past the last record replayed (the true end)
    records: int
    seconds: float
    reset: str | None = None  # why the local store was discarded, if it was


async def _record_before(
    consumer: AIOKafkaConsumer, tp: ClientTopicPartition, offset: int, wait_s: float
) -> bool:
    consumer.seek(tp, offset - 1)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        batch = await consumer.getmany(tp, timeout_ms=int(wait_s * 1000), max_records=1)
        for record in batch.get(tp, []):
            return bool(record.offset == offset - 1)
    return False


async def recover_partition(
    connection: KafkaConnection,
    topic: str,
    partition: int,
    store: PartitionStore,
    *,
    progress: Callable[[int, int], None] | None = None,
    idle_s: float = 0.5,
    max_records: int = 5000,
) -> Recovered:
    """Bring ``store`` up to the end of ``topic``/``partition``. ``progress(records_replayed, to_replay)``
    is called after each batch (``to_replay`` from the reported end: an estimate, it can be short)."""
    started = time.monotonic()
    tp = ClientTopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**connection.reader_kwargs(fetch_max_wait_ms=int(idle_s * 1000)))
    reset = None
    replayed = 0
    try:
        await consumer.start()  # inside: a start that fails (broker down) must still stop the client
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        reported_end = (await consumer.end_offsets([tp]))[tp]
        start = store.next_offset
        if start > first and not await _record_before(consumer, tp, start, wait_s=max(idle_s, 1.0)):
            reset = f"the changelog no longer reaches offset {start} (it starts at {first})"
        elif start < first:
            reset = f"the changelog now starts at offset {first}, after the stored offset {start}"
        if reset is not None:
            store.reset(reset)
            start = first
        consumer.seek(tp, start)
        position = start
        to_replay = max(0, reported_end - start)
        empty = 0
        while True:
            batch = await consumer.getmany(tp, timeout_ms=int(idle_s * 1000), max_records=max_records)
            records = batch.get(tp, [])
            if not records:
                empty += 1
                # past the reported end and nothing more comes: the true end. Short of it, a few empty
                # fetches in a row also end it (compaction can leave the last offsets without records).
                if position >= reported_end or empty >= 3:
                    break
                continue
            empty = 0
            store.apply(((r.key, r.value) for r in records if r.key is not None), records[-1].offset + 1)
            position = records[-1].offset + 1
            replayed += len(records)
            if progress is not None:
                progress(replayed, max(to_replay, replayed))
            await asyncio.sleep(0)  # a long replay must not starve the heartbeat and the web server
    finally:
        await consumer.stop()
    done = Recovered(partition, start, max(position, start), replayed, time.monotonic() - started, reset)
    log.info(
        "state partition %d: replayed %d changelog records from offset %d to %d in %.2fs%s",
        partition,
        replayed,
        done.started_at,
        done.next_offset,
        done.seconds,
        f" (local state discarded: {reset})" if reset else "",
    )
    return done
