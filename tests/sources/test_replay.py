import csv
import gzip
from pathlib import Path

import orjson
import pytest

from stream.sources.base import ConfigError
from stream.sources.producer import PostProducer
from stream.sources.replay import TWEET_COLUMNS, Pacer, ReplaySource, iter_records, tweet_row_to_post
from stream.sources.testing import FakeClock, MemorySink, run_until
from tests.conftest import read_topic
from tests.sources.contract import PullSourceContract, count
from tests.sources.support import make_settings

CSV = """tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id
1,115712,True,Tue Oct 31 22:10:47 +0000 2017,@sprintcare my phone has had no signal since noon #outage,2,
2,sprintcare,False,Tue Oct 31 22:11:45 +0000 2017,@115712 Sorry! Please DM us.,,1.0
3,115713,True,Tue Oct 31 22:12:47 +0000 2017,"@sprintcare still nothing, ""really"" annoyed",,2.0
4,,True,Tue Oct 31 22:13:00 +0000 2017,no author here,,
5,115714,True,not a date,@sprintcare hello,,
6,115715,True,Tue Oct 31 22:14:47 +0000 2017,@sprintcare fixed now thanks,,
"""


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "twcs.csv"
    path.write_text(CSV)
    return path


def row(i: int, **extra: str) -> dict[str, str]:
    return {
        "tweet_id": str(i),
        "author_id": str(115700 + i),
        "inbound": "True",
        "created_at": f"Tue Oct 31 22:{10 + i:02d}:47 +0000 2017",
        "text": "@sprintcare my phone has had no signal since noon #outage",
        "response_tweet_id": "",
        "in_response_to_tweet_id": "",
        **extra,
    }


class TestReplayContract(PullSourceContract):
    platform = "x"
    config_errors = [
        ({"path": Path("/nonexistent/twcs.csv")}, "no such file"),
        ({"speed": -1}, "--speed must be >= 0"),
    ]

    def make_source(self, sink, clock=None, path=None, speed=0.0, **settings):
        clock = clock or FakeClock()
        return ReplaySource(
            make_settings(self.tmp_path, **settings),
            sink,
            path=path or self.tmp_path / "twcs.csv",
            speed=speed,
            sleep=clock.sleep,
            clock=clock,
        )

    def payload(self, i):
        return row(i)

    def expected(self, i):
        return {
            "post_id": str(i),
            "author": {"id": str(115700 + i), "handle": str(115700 + i)},
            "text": "@sprintcare my phone has had no signal since noon #outage",
            "created_at": f"2017-10-31T22:{10 + i:02d}:47Z",
            "mentions": ["sprintcare"],
            "hashtags": ["outage"],
        }

    def malformed_payloads(self):
        return [
            row(3, author_id=""),
            row(4, created_at="not a date"),
            row(5, created_at="99999999999999999999"),  # digits: fromtimestamp overflows
            row(6, created_at="Fri Dec 31 23:59:59 -0100 9999"),  # the Twitter format of the same poison
        ]

    def dated(self, i, when):
        return row(i, created_at=when)

    def unwanted_payloads(self):
        return [row(5, author_id="sprintcare", inbound="False", text="@115706 Sorry! Please DM us.")]

    def serve(self, payloads):
        with (self.tmp_path / "twcs.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(
                fh, fieldnames=[*TWEET_COLUMNS, "response_tweet_id", "in_response_to_tweet_id"]
            )
            writer.writeheader()
            writer.writerows(payloads)


def test_a_dataset_row_becomes_a_post():
    post = tweet_row_to_post(
        {
            "tweet_id": "3",
            "author_id": "115713",
            "inbound": "True",
            "created_at": "Tue Oct 31 22:12:47 +0000 2017",
            "text": "@sprintcare still nothing #fail",
            "in_response_to_tweet_id": "2.0",
        },
        brand="sprint",
    )
    assert post == {
        "schema_version": 1,
        "platform": "x",
        "post_id": "3",
        "author": {"id": "115713", "handle": "115713", "followers": 0, "verified": False},
        "text": "@sprintcare still nothing #fail",
        "created_at": "2017-10-31T22:12:47Z",
        "reply_to": "2",
        "mentions": ["sprintcare"],
        "hashtags": ["fail"],
        "engagement": {"likes": 0, "reposts": 0, "replies": 0, "quotes": 0},
        "brand": "sprint",
        "source": "replay",
    }


def test_brand_replies_are_skipped_unless_asked_for(csv_file):
    kinds = [type(r).__name__ for r in iter_records(csv_file)]
    assert kinds == ["dict", "NoneType", "dict", "NormalizeError", "NormalizeError", "dict"]
    assert sum(isinstance(r, dict) for r in iter_records(csv_file, inbound_only=False)) == 4


def test_pacer_divides_original_gaps_by_the_speed():
    pacer = Pacer(speed=60)
    assert [pacer.due(t) for t in (1000, 1060, 1030, 1180)] == [0, 1, 1, 3]  # out of order: due at once
    assert Pacer(speed=0).due(5000) == 0


async def test_paced_replay_follows_original_times_times_the_speed(tmp_path, csv_file):
    clock = FakeClock()
    src = ReplaySource(
        make_settings(tmp_path), MemorySink(), path=csv_file, speed=60, sleep=clock.sleep, clock=clock
    )
    await run_until(src, lambda: src.finished)
    # 22:10:47 -> 22:12:47 -> 22:14:47 at 60x: 2 s, then 2 s more
    assert clock.sleeps == pytest.approx([2.0, 2.0])


async def test_restart_resumes_after_the_last_stored_record(tmp_path, csv_file):
    settings = make_settings(tmp_path, source_commit_every=1)
    first, second = MemorySink(), MemorySink()
    clock = FakeClock()

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if len(first.stored) >= 2:
            src.stop()  # interrupted while waiting for the third post's time

    src = ReplaySource(settings, first, path=csv_file, speed=1, clock=clock, sleep=sleep)
    await run_until(src, lambda: False)
    assert first.ids == ["1", "3"]
    again = ReplaySource(settings, second, path=csv_file)
    await run_until(again, lambda: again.finished)
    assert second.ids == ["6"]  # nothing lost, nothing twice
    fresh = ReplaySource(settings, MemorySink(), path=csv_file, from_start=True)
    await run_until(fresh, lambda: fresh.finished)
    assert fresh.done == 6


async def test_jsonl_replay_validates_and_counts_bad_lines(tmp_path):
    path = tmp_path / "posts.jsonl.gz"
    good = {
        "platform": "bluesky",
        "post_id": "at://did:plc:a/app.bsky.feed.post/1",
        "author": {"id": "did:plc:a", "handle": "a.bsky.social"},
        "text": "my order never came",
        "created_at": "2024-05-01T10:00:00Z",
        "ingested_at": "2024-05-01T10:00:01Z",
    }
    lines = [orjson.dumps(good), b"{not json", b"", orjson.dumps({"platform": "x"})]
    path.write_bytes(gzip.compress(b"\n".join(lines)))
    sink = MemorySink()
    src = ReplaySource(make_settings(tmp_path, brand="acme"), sink, path=path)
    await run_until(src, lambda: src.finished)
    assert len(sink.added) == 1 and "ingested_at" not in sink.added[0]
    assert sink.added[0]["brand"] == "acme" and sink.added[0]["source"] == "replay"
    assert count(src, "malformed_total") == 2


async def test_a_csv_without_the_dataset_columns_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,hello\n")
    src = ReplaySource(make_settings(tmp_path), MemorySink(), path=bad)
    with pytest.raises(ConfigError, match="lacks columns"):
        await src.run()


@pytest.mark.integration
async def test_replay_into_the_real_broker(topics, csv_file):
    settings = topics.model_copy(update={"data_dir": csv_file.parent / "data"})
    async with PostProducer(settings, linger_s=0.01) as producer:
        src = ReplaySource(settings, producer, path=csv_file)
        await run_until(src, lambda: src.finished, timeout=30)
    records = await read_topic(settings.kafka, settings.topics.raw)
    posts = [p for r in records for p in orjson.loads(r.value)]
    assert sorted(p["post_id"] for p in posts) == ["1", "3", "6"]
    assert all(p["ingested_at"] and p["platform"] == "x" for p in posts)
