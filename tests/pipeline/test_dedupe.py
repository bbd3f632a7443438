import os
import subprocess
import sys

import numpy as np
import pytest

from stream.pipeline import dedupe
from stream.pipeline.dedupe import (
    DedupeWindow,
    content_tokens,
    decode_delta,
    encode_delta,
    partition_for,
    post_keys,
)


def test_same_key_is_seen_within_the_window_and_forgotten_after_it():
    w = DedupeWindow(window_s=3600, bucket_s=60)
    assert w.seen_many([1, 2], now=0) == [False, False]
    assert w.seen_many([1], now=1800) == [True]
    # key 2 was last seen at t=0 (bucket 0); at t=3661 bucket 0 has left the window
    assert w.seen_many([2], now=3661) == [False]


def test_repeats_inside_one_batch_count_as_seen():
    w = DedupeWindow(3600, 60)
    assert w.seen_many([7, 8, 7, 7], now=10) == [False, False, True, True]


def test_frozen_buckets_are_still_checked():
    w = DedupeWindow(3600, 60, freeze_at=10)
    keys = list(range(1000, 1100))
    w.seen_many(keys, now=5)  # frozen in several arrays
    w.seen_many([1], now=200)  # a later bucket
    assert all(w.seen_many(keys, now=300))
    assert len(w) == 101


def test_window_memory_is_eight_bytes_a_key_once_frozen():
    w = DedupeWindow(3600, 60)
    rng = np.random.default_rng(1)
    for t in range(10):
        w.add((int(k) for k in rng.integers(0, 2**63, 50_000)), now=t * 60.0)
    w.seen_many([1], now=600.0)
    assert len(w) == 500_001
    assert w.nbytes <= 8 * 500_001


def test_normalisation_ignores_case_urls_mentions_and_rt_prefix():
    a = content_tokens("RT @bob: My ORDER never arrived!! https://t.co/abc @acme")
    b = content_tokens("my order never arrived @AcmeHelp")
    assert a == b == ["my", "order", "never", "arrived"]


def _content_tokens_every_pass(text: str) -> list[str]:
    """The normalisation with every regex pass run: what the skipping version must equal."""
    text = dedupe._RT_PREFIX.sub("", text)
    text = dedupe._URL.sub(" ", text)
    text = dedupe._MENTION.sub(" ", text)
    return dedupe._TOKEN.findall(text.lower())


@pytest.mark.parametrize(
    "text",
    [
        "RT @bob: the app is down https://t.co/x",
        "rt  @bob hello",
        "see WWW.Example.com/help or Www.x.org now",
        "HTTPS://T.CO/ABC and http://a.b/c?d=e",
        "\uff20someone full-width at sign, and an @ascii one",
        "@İstanbul mention with a dotted capital I",
        "a URL inside a mention @user://x and www.after@at.com",
        "no markers at all, just words; and punctuation!",
        "RT@nospace: still not an RT prefix?",
        "",
    ],
)
def test_skipped_passes_give_the_same_tokens(text: str) -> None:
    """Sources and workers must agree on keys: skipping a pass that cannot match changes nothing."""
    assert content_tokens(text) == _content_tokens_every_pass(text)


def test_copy_paste_from_two_authors_shares_a_content_key_and_a_partition():
    a = post_keys("x", "1", "@acme Give us our money back, the flight was cancelled #refundnow", None, 6)
    b = post_keys("x", "2", "give us our money back the flight was cancelled #refundnow @AcmeAir", None, 6)
    assert a.content == b.content is not None
    assert a.identity != b.identity
    assert partition_for(a.routing, 8) == partition_for(b.routing, 8)


def test_short_texts_are_deduplicated_by_id_only():
    a = post_keys("x", "1", "@acme help", None, 6)
    b = post_keys("x", "2", "@acme help", None, 6)
    assert a.content is None and b.content is None
    assert a.routing == a.identity


def test_a_repost_routes_with_its_original_id():
    r = post_keys("bluesky", "9", "", "1", 6)
    assert r.repost_of == "1"
    assert r.routing == post_keys("bluesky", "1", "hi", None, 6).identity


def test_keys_are_stable_across_processes():
    """Sources and workers are different processes: keys must not depend on PYTHONHASHSEED."""
    code = (
        "from stream.pipeline.dedupe import post_keys; print(post_keys('x', '1', 'a b c d e f g', None, 6))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1 and "identity=" in outs.pop()


def test_delta_round_trip():
    data = encode_delta([1, 2**64 - 1, 12345], at=1700000000.5)
    at, keys = decode_delta(data)
    assert at == pytest.approx(1700000000.5)
    assert keys == [1, 2**64 - 1, 12345]
    with pytest.raises(ValueError):
        decode_delta(b"nope" + bytes(8))


def test_the_same_stock_reply_in_two_threads_is_not_a_duplicate():
    text = "all fixed now, really appreciate the quick reply from your team"
    a = post_keys("x", "1", text, None, 6, reply_to="100")
    b = post_keys("x", "2", text, None, 6, reply_to="200")
    c = post_keys("x", "3", text, None, 6, reply_to="100")
    assert a.content != b.content
    assert a.content == c.content
