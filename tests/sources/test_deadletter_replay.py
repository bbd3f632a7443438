"""Dead letters replayed once their cause is fixed: chosen by reason, time or origin, written back where
they belong, each at most once, on the real embedded broker."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from stream.kafka.batch_sink import BatchSink
from stream.kafka.deadletter import dead_letter
from stream.kafka.readers import read_topic
from stream.settings import Settings
from stream.sources.deadletter_replay import Choice, replay
from tests.factory import post

pytestmark = pytest.mark.integration


async def write_dead_letters(s: Settings) -> None:
    now = time.time()
    raw, events = s.topics.raw, s.topics.ticket_events
    first = orjson.dumps(post(1, "my order never arrived"))
    letters = [
        dead_letter(first, "invalid post: created_at: out of range", "triage", raw, 0, 10, now),
        dead_letter(
            orjson.dumps(post(2, "hello")), "invalid post: text: too long", "triage", raw, 1, 11, now
        ),
        dead_letter(b'{"type": "resolved"}', "invalid event: at: out of range", "route", events, 2, 12, now),
        dead_letter(b"x" * 300_000, "invalid post: created_at: too big", "triage", raw, 3, 13, now),
    ]
    sink = BatchSink(s.kafka, client_id="test-dl", default_partitions=s.partitions)
    await sink.start()
    try:
        await (await sink.send(s.topics.deadletter, letters))
    finally:
        await sink.stop()


async def test_chosen_dead_letters_are_replayed_where_they_belong_and_only_once(topics: Settings) -> None:
    await write_dead_letters(topics)
    dry = await replay(topics, Choice(reason="out of range"), dry_run=True)
    assert (dry.matched, dry.replayed, dry.truncated) == (2, 0, 0)
    done = await replay(topics, Choice(reason="out of range"))
    assert done.replayed == 2 and dict(done.by_target) == {
        topics.topics.raw: 1,
        topics.topics.ticket_events: 1,
    }
    raw = [item for r in await read_topic(topics.kafka, topics.topics.raw) for item in orjson.loads(r.value)]
    assert [p["post_id"] for p in raw] == ["1"] and raw[0]["ingested_at"]  # stamped anew as it entered again
    events = await read_topic(topics.kafka, topics.topics.ticket_events)
    assert [(r.partition, r.value) for r in events] == [(2, b'{"type": "resolved"}')]
    again = await replay(topics, Choice(reason="out of range"))
    assert (again.matched, again.already, again.replayed) == (2, 2, 0)  # at most once


async def test_time_stage_and_origin_choose_and_a_cut_original_is_not_replayed(topics: Settings) -> None:
    await write_dead_letters(topics)
    future = datetime.now(UTC) + timedelta(hours=1)
    assert (await replay(topics, Choice(since=future), dry_run=True)).matched == 0
    assert (await replay(topics, Choice(stage="route"), dry_run=True)).matched == 1
    assert (
        await replay(topics, Choice(topic=topics.topics.raw, from_offset=11, to_offset=13), dry_run=True)
    ).matched == 2
    cut = await replay(topics, Choice(reason="too big"))
    assert (cut.matched, cut.truncated, cut.replayed) == (1, 1, 0)
