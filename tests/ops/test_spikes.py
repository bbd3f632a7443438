"""Spike detection: a pile-on from the firehose generator alerts within bounded time; steady traffic never."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from stream.ops.spikes import PostSignal, SpikeConfig, SpikeDetector, SpikeEvent
from stream.sources.synthetic.generator import BurstProfile, FirehoseGenerator

RATE = 50  # posts/s of simulated time: enough for every brand to have a baseline, fast to generate
START = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
WAVE_AT, WAVE_FOR, TOTAL = 300, 60, 660  # seconds of simulated time


def _firehose(seconds: int, burst: BurstProfile | None, seed: int) -> Iterator[list[PostSignal]]:
    """One batch per simulated second, paced like ``generator.run`` does, timed by each post's created_at.
    Negativity is the generator's ground truth, standing in for the scorer."""
    gen = FirehoseGenerator(seed, rate=RATE, start=datetime.fromtimestamp(START, UTC))
    for s in range(seconds):
        if burst is None:
            n = RATE
        else:
            n = int(burst.expected(s + 1, RATE)) - int(burst.expected(s, RATE))
            gen.interval_s = 1.0 / burst.rate_at(s, RATE)
            gen.pileon, gen.pileon_share = burst, burst.pileon_share(s)
        yield [
            (
                p["brand"],
                p["hashtags"],
                1.0 if p["_truth"]["sentiment"] == "negative" else 0.0,
                datetime.fromisoformat(p["created_at"]).timestamp(),
            )
            for p in gen.take(n)
        ]


def _run(burst: BurstProfile | None, seed: int) -> list[SpikeEvent]:
    det = SpikeDetector()
    events: list[SpikeEvent] = []
    for batch in _firehose(TOTAL, burst, seed):
        events += det.observe_batch(batch)
    events += det.tick(START + TOTAL + 60)
    return events


@pytest.fixture(scope="module")
def pileon() -> list[SpikeEvent]:
    return _run(BurstProfile(WAVE_AT, WAVE_FOR, 10.0, "volt-mobile", "VoltMobileDown"), seed=3)


def test_a_pile_on_alerts_for_its_brand_and_hashtag_within_30_seconds(pileon: list[SpikeEvent]) -> None:
    started = {(e.kind, e.key): e for e in pileon if e.state == "started"}
    assert set(started) == {("brand", "volt-mobile"), ("hashtag", "voltmobiledown")}
    wave_start = START + WAVE_AT
    for e in started.values():
        assert wave_start < e.at <= wave_start + 30
        assert e.negative and e.negative_share > 0.7 and e.ratio > 5
    assert started["brand", "volt-mobile"].baseline > 5  # a learned baseline, not a cold start


def test_the_surge_ends_after_the_wave(pileon: list[SpikeEvent]) -> None:
    ended = {(e.kind, e.key): e for e in pileon if e.state == "ended"}
    assert set(ended) == {("brand", "volt-mobile"), ("hashtag", "voltmobiledown")}
    wave_end = START + WAVE_AT + WAVE_FOR
    for e in ended.values():
        assert wave_end < e.at <= wave_end + 60


@pytest.mark.parametrize("seed", [3, 8])
def test_steady_traffic_of_the_same_length_never_alerts(seed: int) -> None:
    assert _run(None, seed) == []


# --- the rule, on hand-made traffic -----------------------------------------------------------------------

CFG = SpikeConfig(bucket_s=10, warmup_buckets=3, confirm_buckets=2, end_buckets=2)


def _bucket(t0: float, brand: str, n: int, neg: float = 0.0, tags: tuple[str, ...] = ()) -> list[PostSignal]:
    return [(brand, tags, neg, t0 + 10 * i / max(n, 1)) for i in range(n)]


def _steady(det: SpikeDetector, buckets: int, per_bucket: int = 10, t0: float = 0.0) -> list[SpikeEvent]:
    out: list[SpikeEvent] = []
    for b in range(buckets):
        out += det.observe_batch(_bucket(t0 + 10 * b, "acme", per_bucket, 0.2))
    return out


def test_nothing_alerts_during_warm_up() -> None:
    det = SpikeDetector(CFG)
    assert det.observe_batch(_bucket(0, "acme", 500, 1.0) + _bucket(10, "acme", 500, 1.0)) == []
    assert det.tick(25) == []


def test_a_cheerful_surge_needs_two_high_buckets_a_negative_one_only_one() -> None:
    cheerful, angry = SpikeDetector(CFG), SpikeDetector(CFG)
    for det in (cheerful, angry):
        assert _steady(det, 30) == []
    assert cheerful.observe_batch(_bucket(300, "acme", 100, 0.0)) == []
    assert cheerful.tick(310) == []  # one high bucket: not yet
    cheerful.observe_batch(_bucket(310, "acme", 100, 0.0))
    (e,) = cheerful.tick(320)
    assert (e.state, e.key, e.at, e.negative) == ("started", "acme", 320, False)
    angry.observe_batch(_bucket(300, "acme", 100, 0.9))
    (e,) = angry.tick(310)
    assert (e.state, e.at, e.negative, e.volume) == ("started", 310, True, 100)
    assert [x.key for x in angry.active()] == ["acme"]


def test_small_or_modest_rises_do_not_alert() -> None:
    det = SpikeDetector(CFG)
    _steady(det, 30, per_bucket=10)
    # 2.5x the baseline (below min_ratio), then a quiet key jumping to a handful (below min_volume)
    for b in range(30, 40):
        assert det.observe_batch(_bucket(10 * b, "acme", 25, 0.9) + _bucket(10 * b, "tiny", 15, 1.0)) == []


def test_a_surge_ends_when_traffic_stops_even_without_posts() -> None:
    det = SpikeDetector(CFG)
    _steady(det, 30)
    det.observe_batch(_bucket(300, "acme", 200, 0.9))
    assert [e.state for e in det.tick(310)] == ["started"]
    events = det.tick(400)  # silence: the empty buckets are closed on the timer
    assert [(e.state, e.at) for e in events] == [("ended", 330)]
    assert det.active() == []


def test_hashtags_are_case_insensitive_and_a_new_hashtag_can_surge_at_once() -> None:
    det = SpikeDetector(CFG)
    _steady(det, 30)
    tags = [("AcmeDown",), ("acmedown",), ("ACMEDOWN",)]
    det.observe_batch([("acme", tags[i % 3], 1.0, 300 + i * 0.1) for i in range(90)])
    started = {(e.kind, e.key) for e in det.tick(310)}
    assert ("hashtag", "acmedown") in started
    assert det.baseline("hashtag", "AcmeDown") is not None


def test_late_posts_count_in_the_open_bucket() -> None:
    det = SpikeDetector(CFG)
    _steady(det, 30)
    late = [("acme", (), 1.0, 100.0)] * 100  # stamped long ago, arriving now
    det.observe_batch([("acme", (), 0.0, 300.0), *late])
    assert [e.state for e in det.tick(310)] == ["started"]


def test_memory_is_bounded_under_a_flood_of_new_keys() -> None:
    det = SpikeDetector(SpikeConfig(bucket_s=10, warmup_buckets=1, max_keys=100, idle_buckets=5))
    _steady(det, 10)
    for b in range(10, 20):  # 1,000 distinct hashtags a bucket, one of them loud
        batch = [(None, (f"tag{b}x{i}",), 0.0, 10.0 * b + i / 100) for i in range(1000)]
        batch += [(None, (f"loud{b}",), 0.0, 10.0 * b + 5)] * 50
        det.observe_batch(batch)
        assert len(det) <= 100
    det.tick(200)
    assert det.baseline("hashtag", "loud19") is not None  # the loudest newcomer got in
    assert det.dropped_keys > 0
    det.tick(1000)  # everyone idle for long enough is forgotten
    assert len(det) == 0


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        SpikeConfig(bucket_s=0)
    with pytest.raises(ValueError):
        SpikeConfig(min_ratio=0.5)
