"""Recovery on the real embedded broker, whose reported end offsets are short (the first offset of the last
write batch plus one): a store is always brought to the changelog's true end, from scratch or from the
offset it recorded, and a store the changelog no longer backs is rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from stream.kafka.admin import ensure_topics
from stream.kafka.batch_sink import BatchSink
from stream.kafka.records import TopicSpec
from stream.settings import Settings
from stream.state.changelog_store import ChangelogStore
from stream.state.partition_store import PartitionStore
from stream.state.recovery import recover_partition

pytestmark = pytest.mark.integration

FORMAT = b"test/1"


def key_partition(key: bytes) -> int:
    return 0


async def write_through(settings: Settings, topic: str, root: Path, rounds: int, keys: int) -> ChangelogStore:
    """Write ``rounds`` batches of ``keys`` keys through a changelog store, each batch stored by Kafka
    before the next: many write batches, as a working worker produces."""
    sink = BatchSink(settings.kafka, client_id="state-test")
    await sink.start()
    store = ChangelogStore(root, key_partition, FORMAT)
    store.open_partition(0)
    try:
        for r in range(rounds):
            for k in range(keys):
                store[f"k{k:03d}".encode()] = f"r{r}".encode()
            if r % 3 == 1:
                store[b"gone"] = b"soon"
            elif r % 3 == 2:
                del store[b"gone"]  # a tombstone on the changelog
            batch = store.drain()
            offsets: dict[int, int] = {}
            await (await sink.send(topic, batch.records, offsets=offsets))
            store.stored(batch, offsets)
    finally:
        await sink.stop()
    return store


async def end_offset(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(**settings.kafka.reader_kwargs())
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


@pytest.fixture
async def changelog(settings: Settings) -> str:
    topic = f"{settings.app_id}-tickets-changelog"
    await ensure_topics(settings.kafka, [TopicSpec(topic, 1, 1, {"cleanup.policy": "compact"})])
    return topic


async def test_a_fresh_store_is_brought_to_the_true_end_past_a_short_reported_end(
    settings: Settings, changelog: str, tmp_path: Path
) -> None:
    written = await write_through(settings, changelog, tmp_path / "writer", rounds=20, keys=10)
    truth = dict(written.items_of([0]))
    total = written.partitions[0].next_offset
    rounds = range(20)
    # every record, tombstones included, at the offsets Kafka gave them
    assert total == 20 * 10 + sum(1 for r in rounds if r % 3 == 1) + sum(1 for r in rounds if r % 3 == 2)
    reported = await end_offset(settings, changelog)
    fresh = PartitionStore(tmp_path / "reader", FORMAT).open()
    got = await recover_partition(settings.kafka, changelog, 0, fresh)
    assert got.next_offset == total and got.records == total and got.reset is None
    assert dict(fresh.items()) == truth and truth[b"gone"] == b"soon" and truth[b"k009"] == b"r19"
    assert fresh.next_offset == total
    # the broker's figure is what a reader that trusts it would stop at (Tansu: short of the end)
    assert reported <= total


async def test_a_restart_replays_only_the_tail(settings: Settings, changelog: str, tmp_path: Path) -> None:
    written = await write_through(settings, changelog, tmp_path / "w", rounds=6, keys=5)
    store = written.partitions[0]
    at = store.next_offset
    written.close()
    more = await write_through(
        settings, changelog, tmp_path / "other", rounds=3, keys=5
    )  # another writer's tail
    truth = dict(more.items_of([0]))
    reopened = PartitionStore(tmp_path / "w" / "0", FORMAT).open()
    assert reopened.next_offset == at
    got = await recover_partition(settings.kafka, changelog, 0, reopened)
    assert got.started_at == at and got.records == 3 * 5 + 2  # gone written, then its tombstone
    assert dict(reopened.items()) == truth


async def test_a_store_the_changelog_no_longer_backs_is_rebuilt(
    settings: Settings, changelog: str, tmp_path: Path
) -> None:
    written = await write_through(settings, changelog, tmp_path / "w", rounds=2, keys=3)
    truth = dict(written.items_of([0]))
    stale = PartitionStore(tmp_path / "stale", FORMAT).open()
    stale.apply([(b"ghost", b"from a broker that came back empty")], next_offset=10_000)
    got = await recover_partition(settings.kafka, changelog, 0, stale)
    assert got.reset is not None and "10000" in got.reset
    assert dict(stale.items()) == truth and stale.next_offset == written.partitions[0].next_offset
