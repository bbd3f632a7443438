"""The firehose generator and the replay source drive the whole pipeline on the real embedded broker."""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from stream.sources.synthetic.generator import FirehoseGenerator, malformed_records
from tests.conftest import read_topic, send, wait_accounted

pytestmark = pytest.mark.integration

ACTIONABLE = {"complaint", "question", "request"}


def out(s, outcome):
    return s.value("triage_posts_out_total", outcome=outcome)


async def test_generated_firehose_is_accounted_for_and_judged_like_its_ground_truth(topics, start_worker):
    posts = [dict(p) for p in FirehoseGenerator(seed=3, malformed_rate=0.01).take(3000)]
    broken = malformed_records(10, seed=1)
    stream: list[object] = [*posts[:1500], *broken, *posts[1500:]]
    valid = [p for p in posts if p["_truth"]["kind"] != "malformed"]
    seen: set[tuple[str, str]] = set()
    must_be_duplicates = 0
    for p in valid:
        key = (p["platform"], p["post_id"])
        if p.get("repost_of") or key in seen:
            must_be_duplicates += 1
        seen.add(key)

    worker = start_worker()
    await send(topics, stream)
    s = await wait_accounted(worker, len(stream))

    assert s.value("triage_posts_in_total") == len(stream)
    assert out(s, "dead_letter") == len(posts) - len(valid) + len(broken)
    assert out(s, "duplicate") >= must_be_duplicates
    assert out(s, "ticket") + out(s, "filtered") + out(s, "duplicate") == len(valid)

    # Judged against the generator's ground truth: hidden calls for help found, chatter left alone.
    truth = {p["post_id"]: p["_truth"]["intent"] for p in valid}
    counts: collections.Counter[tuple[bool, str]] = collections.Counter()
    for record in await read_topic(topics.kafka, topics.topics.audit):
        for d in orjson.loads(record.value):
            if d["stage"] == "triage" and d["outcome"] in ("actionable", "filtered"):
                intent = truth[d["post"].split(":", 1)[1]]
                counts[(intent in ACTIONABLE, d["outcome"])] += 1
    recall = counts[(True, "actionable")] / (counts[(True, "actionable")] + counts[(True, "filtered")])
    specificity = counts[(False, "filtered")] / (counts[(False, "filtered")] + counts[(False, "actionable")])
    assert recall >= 0.75, counts
    assert specificity >= 0.6, counts


CSV = """tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id
1,115712,True,Tue Oct 31 22:10:47 +0000 2017,@sprintcare no signal for two days and nobody can say why,2,
2,sprintcare,False,Tue Oct 31 22:11:45 +0000 2017,@115712 Sorry to hear that! Please DM us.,,1
3,115713,True,Tue Oct 31 22:14:02 +0000 2017,@sprintcare how do I cancel my plan and get a refund?,,
4,115714,True,Tue Oct 31 22:16:40 +0000 2017,@AppleSupport the update broke my battery it dies in an hour,,
5,115715,True,Tue Oct 31 22:18:12 +0000 2017,@AppleSupport what a lovely morning lol,,
"""


async def test_replayed_customer_history_becomes_tickets(topics, start_worker, tmp_path: Path):
    history = tmp_path / "twcs.csv"
    history.write_text(CSV)
    worker = start_worker()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": topics.bootstrap,
        "TRIAGE_TOPIC_PREFIX": topics.topic_prefix,
        "TRIAGE_PARTITIONS": str(topics.partitions),
        "TRIAGE_DATA_DIR": str(tmp_path / "source"),
    }
    command = ["source", "replay", str(history), "--speed", "0", "--metrics-port", "0"]
    replay = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "stream", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replay.returncode == 0, replay.stderr
    s = await wait_accounted(worker, 4)  # the four customer tweets; the brand's reply is not replayed
    assert s.value("triage_posts_in_total") == 4
    tickets = [orjson.loads(r.value) for r in await read_topic(topics.kafka, topics.topics.tickets)]
    ticketed = {t["posts"][0]["post_id"] for t in tickets}
    assert {"1", "3", "4"} <= ticketed
    assert "5" not in ticketed
