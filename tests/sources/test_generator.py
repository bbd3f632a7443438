"""The synthetic firehose: deterministic, valid, shaped like a real stream, and pace-able."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas.post import Post
from stream.pipeline.dedupe import content_tokens
from stream.sources.synthetic.generator import (
    DEFAULT_SAMPLE_PATH,
    MALFORMED_KINDS,
    RAW_MALFORMED_KINDS,
    SAMPLE_N,
    SAMPLE_SEED,
    BurstProfile,
    FirehoseGenerator,
    brand_account_handles,
    malformed_records,
    pregenerate,
    run,
    write_sample,
)

ROOT = Path(__file__).resolve().parents[2]


def _valid(post: dict[str, Any]) -> bool:
    try:
        Post.model_validate(post)
    except ValidationError:
        return False
    return True


@pytest.fixture(scope="module")
def stream10k() -> list[dict[str, Any]]:
    return FirehoseGenerator(11, malformed_rate=0.01).take(10_000)


def test_same_seed_same_posts_other_seed_other_posts() -> None:
    a = FirehoseGenerator(5, malformed_rate=0.02).take(2000)
    b = FirehoseGenerator(5, malformed_rate=0.02).take(2000)
    c = FirehoseGenerator(6, malformed_rate=0.02).take(2000)
    assert orjson.dumps(a) == orjson.dumps(b)
    assert [p["text"] for p in a] != [p["text"] for p in c]


def test_every_post_validates_unless_malformed(stream10k: list[dict[str, Any]]) -> None:
    malformed = [p for p in stream10k if p["_truth"]["kind"] == "malformed"]
    good = [p for p in stream10k if p["_truth"]["kind"] != "malformed"]
    assert malformed and good
    assert all(_valid(p) for p in good)
    assert not any(_valid(p) for p in malformed)
    assert {p["_truth"]["defect"] for p in malformed} == set(MALFORMED_KINDS)
    assert all("ingested_at" not in p for p in stream10k)  # the producer stamps it


def test_no_malformed_posts_unless_asked() -> None:
    posts = FirehoseGenerator(3).take(5000)
    assert all(_valid(p) for p in posts)


def test_each_malformed_kind_fails_validation() -> None:
    gen = FirehoseGenerator(9, malformed_rate=0.5)
    seen: Counter[str] = Counter()
    for post in gen.take(3000):
        if post["_truth"]["kind"] == "malformed":
            seen[post["_truth"]["defect"]] += 1
            assert not _valid(post), post["_truth"]["defect"]
    assert set(seen) == set(MALFORMED_KINDS)


def test_brand_replies_come_from_the_listed_brand_accounts(stream10k: list[dict[str, Any]]) -> None:
    """`triage run` sets these as TRIAGE_BRAND_HANDLES: every brand reply must be written by one of them,
    and no customer may be."""
    handles = set(brand_account_handles())
    from_brand = [
        p for p in stream10k if p.get("_truth", {}).get("from_brand") and p["_truth"]["kind"] == "reply"
    ]
    customers = [
        p for p in stream10k if isinstance(p.get("author"), dict) and not p["_truth"].get("from_brand")
    ]
    assert len(from_brand) > 100
    assert all(p["author"]["handle"] in handles for p in from_brand)
    assert not any(p["author"]["handle"] in handles for p in customers)


def test_structure_proportions_on_10k(stream10k: list[dict[str, Any]]) -> None:
    n = len(stream10k)
    seen: set[tuple[str, str]] = set()
    redeliveries = 0
    kinds: Counter[str] = Counter()
    for p in stream10k:
        kind = p["_truth"]["kind"]
        if kind == "malformed":
            kinds[kind] += 1
            continue
        key = (p["platform"], p["post_id"])
        if key in seen:
            redeliveries += 1
            continue
        seen.add(key)
        kinds["repost" if p["repost_of"] else "reply" if p["reply_to"] else kind] += 1
    assert 0.02 <= redeliveries / n <= 0.04
    assert 0.065 <= kinds["repost"] / n <= 0.095
    assert 0.13 <= kinds["reply"] / n <= 0.17
    assert 0.005 <= kinds["malformed"] / n <= 0.015
    assert kinds["campaign"] >= 10


def test_stream_has_realistic_variety(stream10k: list[dict[str, Any]]) -> None:
    good = [p for p in stream10k if p["_truth"]["kind"] != "malformed"]
    platforms = Counter(p["platform"] for p in good)
    assert platforms.most_common(1)[0][0] == "x"
    assert set(platforms) == {
        "x",
        "facebook",
        "instagram",
        "bluesky",
        "mastodon",
        "reddit",
        "forum",
        "review",
    }
    langs = Counter(p["lang"] for p in good)
    assert langs["en"] / len(good) > 0.7 and {"es", "fr", "de", "pt"} <= set(langs)
    assert len({p["brand"] for p in good}) >= 25
    intents = Counter(p["_truth"]["intent"] for p in good)
    assert set(intents) == {"complaint", "question", "request", "praise", "promo", "chatter"}
    urgency = Counter(u for p in good for u in p["_truth"]["urgency"])
    assert {"safety", "legal_threat", "churn_threat", "outage", "press"} <= set(urgency)
    assert sum(urgency.values()) / len(good) < 0.08  # urgent posts are rare
    originals = list(
        {(p["platform"], p["post_id"]): p for p in good if p["_truth"]["kind"] == "original"}.values()
    )
    assert len({p["text"] for p in originals}) / len(originals) > 0.97  # not a handful of templates
    followers = sorted(p["author"]["followers"] for p in good)
    assert followers[len(followers) // 2] < 1000 and followers[-1] > 100_000  # log-normal, with huge accounts
    assert any(p["author"]["verified"] for p in good)
    authors = Counter(p["author"]["id"] for p in good)
    assert authors.most_common(1)[0][1] > 10 * len(good) / len(authors)  # heavy-tailed activity


def test_replies_point_at_earlier_posts_of_the_same_conversation(stream10k: list[dict[str, Any]]) -> None:
    earlier: dict[tuple[str, str], dict[str, Any]] = {}
    replies = 0
    for p in stream10k:
        if p["_truth"]["kind"] == "malformed":
            continue
        if p["reply_to"] is not None and (p["platform"], p["post_id"]) not in earlier:
            parent = earlier.get((p["platform"], p["reply_to"]))
            assert parent is not None, "reply to a post not seen before"
            assert p["conversation_id"] == (parent["conversation_id"] or parent["post_id"])
            root = earlier[(p["platform"], p["conversation_id"])]
            assert root["reply_to"] is None and root["conversation_id"] == root["post_id"]
            assert p["brand"] == parent["brand"]
            replies += 1
        earlier[(p["platform"], p["post_id"])] = p
    assert replies > 1000


def test_reposts_refer_to_earlier_originals(stream10k: list[dict[str, Any]]) -> None:
    earlier: dict[tuple[str, str], dict[str, Any]] = {}
    checked = 0
    for p in stream10k:
        if p["_truth"]["kind"] == "malformed":
            continue
        if p["repost_of"] and (p["platform"], p["post_id"]) not in earlier:
            original = earlier[(p["platform"], p["repost_of"])]
            if p["platform"] == "x":
                assert p["text"] == f"RT @{original['author']['handle']}: {original['text']}"
            elif p["platform"] == "bluesky":
                assert p["text"] == ""
            checked += 1
        earlier[(p["platform"], p["post_id"])] = p
    assert checked > 500


def test_campaign_copies_normalise_to_one_text(stream10k: list[dict[str, Any]]) -> None:
    by_campaign: dict[int, set[str]] = {}
    authors: dict[int, set[str]] = {}
    for p in stream10k:
        t = p["_truth"]
        if t["kind"] == "campaign":
            tokens = content_tokens(p["text"])
            assert len(tokens) >= 6
            by_campaign.setdefault(t["campaign"], set()).add(" ".join(tokens))
            authors.setdefault(t["campaign"], set()).add(p["author"]["id"])
    assert by_campaign
    assert all(len(texts) == 1 for texts in by_campaign.values())
    assert max(len(a) for a in authors.values()) >= 3


def test_created_at_advances_at_the_nominal_rate() -> None:
    gen = FirehoseGenerator(1, rate=100.0)
    posts = [p for p in gen.take(1001) if p["_truth"]["kind"] in ("original", "reply")]
    first, last = Post.model_validate(posts[0]).created_at, Post.model_validate(posts[-1]).created_at
    assert 9.0 <= (last - first).total_seconds() <= 10.01


def test_burst_profile_is_10x_inside_the_wave_only() -> None:
    b = BurstProfile(at_s=30, for_s=20)
    assert b.rate_at(0, 900) == 900 and b.rate_at(29.99, 900) == 900
    assert b.rate_at(30, 900) == 9000 and b.rate_at(49.9, 900) == 9000
    assert b.rate_at(50, 900) == 900 and b.rate_at(120, 900) == 900
    assert b.expected(60, 900) == pytest.approx(900 * 60 + 9 * 900 * 20)
    assert b.pileon_share(40) == pytest.approx(0.9) and b.pileon_share(10) == 0.0
    with pytest.raises(ValueError):
        BurstProfile(at_s=0, for_s=1, brand="no-such-brand")


def test_pileon_is_mostly_negative_about_one_brand_with_one_hashtag() -> None:
    gen = FirehoseGenerator(4)
    gen.pileon, gen.pileon_share = BurstProfile(0, 10, brand="harbor-bank", hashtag="HarborDown"), 0.9
    posts = [
        p
        for p in gen.take(3000)
        if p["_truth"]["kind"] in ("pileon", "repost") and p["brand"] == "harbor-bank"
    ]
    assert len(posts) > 2400
    assert all("#HarborDown" in p["text"] and "HarborDown" in p["hashtags"] for p in posts if p["text"])
    negative = sum(p["_truth"]["sentiment"] == "negative" for p in posts)
    assert negative / len(posts) > 0.75


class FakeProducer:
    def __init__(self) -> None:
        self.posts: list[Any] = []
        self.flushed = 0

    async def add(self, post: Any) -> None:
        self.posts.append(post)

    async def flush(self) -> None:
        self.flushed += 1


async def test_run_sends_the_requested_count_at_pace() -> None:
    producer = FakeProducer()
    stats = await run(producer, rate=20_000, count=5000, seed=2)
    assert len(producer.posts) == stats.sent == 5000
    assert producer.flushed == 1
    assert 0.2 <= stats.elapsed_s < 2.0  # paced, not dumped at once
    assert stats.generated_per_s > 5000


async def test_run_follows_the_burst_profile() -> None:
    producer = FakeProducer()
    burst = BurstProfile(at_s=0.3, for_s=0.3, brand="streamly", hashtag="StreamlyDown")
    now = [0.0]  # simulated time: the pacing is checked, not how fast this machine happens to be today

    async def sleep(s: float) -> None:
        now[0] += max(s, 0.001)

    stats = await run(
        producer, rate=2000, duration_s=0.9, burst=burst, seed=3, clock=lambda: now[0], sleep=sleep
    )
    assert stats.sent == len(producer.posts) == int(burst.expected(0.9, 2000))  # 1,800 + 5,400
    about = [p for p in producer.posts if "StreamlyDown" in p["hashtags"]]
    assert len(about) > 0.6 * len(producer.posts)


async def test_pregenerated_run_sends_what_a_live_run_sends() -> None:
    """The benchmark source invents its posts before the clock starts: the run must send the same posts,
    wave included, as when they are invented on the clock (less the generator's ``_truth``)."""
    burst = BurstProfile(at_s=0.3, for_s=0.3, brand="streamly", hashtag="StreamlyDown")
    sent: dict[str, list[dict[str, Any]]] = {}
    for how in ("live", "pregenerated"):
        now = [0.0]

        async def sleep(s: float, now: list[float] = now) -> None:
            now[0] += max(s, 0.001)

        def clock(now: list[float] = now) -> float:
            return now[0]

        gen = FirehoseGenerator(3, rate=2000)
        supply = pregenerate(gen, 2000, 0.9, burst=burst) if how == "pregenerated" else gen
        producer = FakeProducer()
        stats = await run(producer, 2000, 0.9, burst=burst, generator=supply, clock=clock, sleep=sleep)
        assert stats.sent == int(burst.expected(0.9, 2000))
        sent[how] = producer.posts
    assert sent["pregenerated"] == [{k: v for k, v in p.items() if k != "_truth"} for p in sent["live"]]
    assert all("_truth" not in p for p in sent["pregenerated"])


def test_pregenerated_posts_run_out_loudly() -> None:
    supply = pregenerate(FirehoseGenerator(1), 1000, count=10)
    assert len(supply) == 10 and len(supply.take(4)) == 4
    with pytest.raises(ValueError, match="6 left"):
        supply.take(7)


def test_malformed_records_are_not_posts() -> None:
    records = malformed_records(20, seed=1)
    assert len(records) == 20
    for raw in records[: len(RAW_MALFORMED_KINDS)]:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        assert not (isinstance(value, list) and value and isinstance(value[0], dict))
    with pytest.raises(UnicodeDecodeError):
        records[RAW_MALFORMED_KINDS.index("invalid_utf8")].decode("utf-8")
    assert b"[]" in records


def test_bundled_sample_regenerates_identically(tmp_path: Path) -> None:
    fresh = write_sample(tmp_path / "sample.jsonl.gz", SAMPLE_N, SAMPLE_SEED)
    assert fresh.read_bytes() == DEFAULT_SAMPLE_PATH.read_bytes()
    assert DEFAULT_SAMPLE_PATH.stat().st_size < 1_000_000


def test_cli_regenerates_identically_in_another_process(tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl.gz"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-m", "stream.sources.synthetic.generator", "--write-sample", "--path", str(out)],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert out.read_bytes() == DEFAULT_SAMPLE_PATH.read_bytes()


def test_bundled_sample_has_the_documented_shape() -> None:
    rows = [orjson.loads(line) for line in gzip.decompress(DEFAULT_SAMPLE_PATH.read_bytes()).splitlines()]
    assert len(rows) == SAMPLE_N
    kinds = Counter(r["_truth"]["kind"] for r in rows)
    keys = Counter((r.get("platform"), r.get("post_id")) for r in rows if r["_truth"]["kind"] != "malformed")
    redeliveries = sum(c - 1 for c in keys.values())
    assert 0.02 <= redeliveries / len(rows) <= 0.04
    assert 0.005 <= kinds["malformed"] / len(rows) <= 0.015
    assert kinds["campaign"] >= 10
