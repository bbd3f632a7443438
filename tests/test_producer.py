"""Sources and workers must agree on every post's partition, or duplicates reach different workers."""

import collections
import time

import orjson

from classifiers import LexiconScorer
from stream.producer import partition_of
from stream.settings import Settings
from stream.sources.generator import FirehoseGenerator
from stream.triage import TriageStage


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
