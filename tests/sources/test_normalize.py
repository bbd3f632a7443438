"""The normalisers' shared helpers never let a payload raise anything but NormalizeError."""

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.sources.normalize import NormalizeError, finish, normalizer, parse_time

POST = {
    "platform": "forum",
    "post_id": "p1",
    "author": {"id": "u1", "handle": "jo"},
    "text": "my router died",
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-13T10:00:00Z", datetime(2024, 5, 13, 10, tzinfo=UTC)),
        ("Mon May 13 10:00:00 +0000 2024", datetime(2024, 5, 13, 10, tzinfo=UTC)),
        (1715594400, datetime(2024, 5, 13, 10, tzinfo=UTC)),  # seconds
        (1715594400_000, datetime(2024, 5, 13, 10, tzinfo=UTC)),  # milliseconds
        (1715594400_000_000, datetime(2024, 5, 13, 10, tzinfo=UTC)),  # microseconds (Jetstream's time_us)
        ("1715594400", datetime(2024, 5, 13, 10, tzinfo=UTC)),
    ],
)
def test_times_parse_in_every_form_the_platforms_use(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    "value",
    [1e20, -1e20, 10**30, float("nan"), float("inf"), "9" * 30, "1e20", "soon", "", None, True, [], {}],
)
def test_a_time_out_of_reach_is_a_normalize_error_never_overflow_or_os_error(value):
    with pytest.raises(NormalizeError):
        parse_time(value)


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:30:00+01:00",
        "2999-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
    ],
)
def test_finish_refuses_a_date_out_of_range_with_the_reason(when):
    with pytest.raises(NormalizeError, match=r"^created_at: .* is outside the accepted range, 2006-01-01"):
        finish({**POST, "created_at": parse_time(when)})


def test_a_normalizer_turns_whatever_a_payload_raises_into_a_normalize_error():
    @normalizer
    def to_post(payload: dict) -> dict:
        return finish({**POST, "created_at": payload["meta"].get("time")})  # a list has no .get

    with pytest.raises(NormalizeError, match=r"^AttributeError: 'list' object has no attribute 'get'$"):
        to_post({"meta": []})
    with pytest.raises(NormalizeError, match=r"^KeyError: 'meta'$"):
        to_post({})
    assert to_post({"meta": {"time": "2024-05-13T10:00:00Z"}})["created_at"] == "2024-05-13T10:00:00Z"


@given(st.one_of(st.integers(), st.floats(), st.text(max_size=40), st.datetimes(timezones=st.timezones())))
def test_parse_time_then_finish_raise_nothing_but_normalize_error(value):
    with contextlib.suppress(NormalizeError):
        finish({**POST, "created_at": parse_time(value)})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
# payloads shaped like each platform's, with any value anywhere: what a user of the platform controls
SHAPED = st.fixed_dictionaries(
    {},
    optional={
        key: JSON
        for key in (
            "did", "time_us", "commit", "record", "data", "includes", "id", "account", "reblog", "content",
            "created_at", "createdAt", "created_utc", "title", "author", "name", "text", "facets", "reply",
            "embed", "langs", "mentions", "tags", "referenced_tweets", "entities", "public_metrics",
        )
    },
)  # fmt: skip


@given(SHAPED)
def test_every_normaliser_raises_nothing_but_normalize_error(payload):
    from stream.sources.bluesky import jetstream_to_post, mentioned
    from stream.sources.mastodon import status_to_post
    from stream.sources.reddit import reddit_to_post
    from stream.sources.replay import jsonl_to_post
    from stream.sources.rss import entry_to_post
    from stream.sources.x import tweet_to_post

    for normalise in (
        lambda: jetstream_to_post(payload),
        lambda: jetstream_to_post({"did": "did:plc:a", "commit": {"rkey": "r", "record": payload}}),
        lambda: tweet_to_post(payload),
        lambda: tweet_to_post({"data": payload}),
        lambda: status_to_post(payload),
        lambda: reddit_to_post("t3", payload),
        lambda: entry_to_post(payload, "https://forum.example/feed"),
        lambda: jsonl_to_post(payload),
    ):
        with contextlib.suppress(NormalizeError):
            normalise()
    mentioned(payload)  # the brand filter reads whatever record it is given
