"""Sources and workers must agree on every post's partition, or duplicates reach different workers."""

import collections
import time

import orjson

from classifiers import LexiconScorer
from stream.pipeline.triage import TriageStage
from stream.settings import Settings
from stream.sources.producer import partition_of
from stream.sources.synthetic.generator import FirehoseGenerator


def test_the_source_partitions_every_post_where_the_worker_expects_it():
    settings = Settings(partitions=6)
    stage = TriageStage(settings, LexiconScorer())
    posts = [dict(p) for p in FirehoseGenerator(seed=11).take(3000)]
    frames = collections.defaultdict(list)
    for p in posts:
        frames[partition_of(p, settings)].append(p)
    assert len(frames) == 6
    misrouted = 0
    for partition, frame in frames.items():
        items, out = stage.decode(orjson.dumps(frame), "raw", partition, 0, time.time())
        misrouted += stage.process(items, "raw", partition, 0, time.time(), out).misrouted
    assert misrouted == 0


def test_a_post_that_is_not_a_post_goes_to_partition_zero_to_be_dead_lettered_there():
    settings = Settings(partitions=6)
    assert partition_of({"platform": 3}, settings) == 0
    assert partition_of("text", settings) == 0


async def test_posts_added_in_bulk_reach_the_same_partitions_stamped_and_all_stored(topics: Settings) -> None:
    """A firehose source hands over a chunk at a time; every post must land where ``add`` would put it,
    with an ingest time, in frames no bigger than the limit."""
    from stream.sources.producer import PostProducer
    from tests.conftest import read_topic

    settings = topics
    posts = [dict(p) for p in FirehoseGenerator(seed=5).take(2500)]
    posts[0]["ingested_at"] = "2026-01-01T00:00:00+00:00"  # a source's own stamp is kept
    async with PostProducer(settings, frame_posts=400, linger_s=0.05) as producer:
        await producer.add_many(posts[:1200])
        await producer.add_many(posts[1200:])
    records = await read_topic(settings.kafka, settings.topics.raw)
    frames = [orjson.loads(r.value) for r in records]
    got = {p["post_id"]: (r.partition, p) for r, frame in zip(records, frames, strict=True) for p in frame}
    assert len(got) == len({p["post_id"] for p in posts})
    assert max(len(f) for f in frames) <= 400
    for post in posts:
        partition, written = got[post["post_id"]]
        assert partition == partition_of(post, settings)
        assert written["ingested_at"]
    assert got[posts[0]["post_id"]][1]["ingested_at"] == "2026-01-01T00:00:00+00:00"
