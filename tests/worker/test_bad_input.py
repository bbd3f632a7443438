"""Bad input never stops the pipeline and is never lost: each bad record or post is dead-lettered with its
reason (or processed correctly), and the accounting adds up. Property-based, plus a corpus of nasty cases."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifiers import LexiconScorer, ScoreBatch, load_scorer
from schemas.events import DeadLetter
from stream.pipeline.triage import TriageOutput, TriageStage
from stream.settings import Settings
from stream.worker.runtime import PipelineRuntime

SETTINGS = Settings(partitions=1, kafka_bootstrap_servers="127.0.0.1:1")
STAGE = TriageStage(SETTINGS, load_scorer())


def triage(value: bytes) -> TriageOutput:
    now = time.time()
    items, out = STAGE.decode(value, "raw", 0, 0, now)
    return STAGE.process(items, "raw", 0, 0, now, out)


def accounted(out: TriageOutput) -> None:
    """Every post that went in has exactly one outcome (actionable ones are in the forwarded frames)."""
    forwarded = sum(len(orjson.loads(r.value)) for r in out.forward)
    assert out.posts_in == sum(out.outcomes.values()) + forwarded
    assert len(out.dead_letters) == out.outcomes["dead_letter"]
    for record in out.dead_letters:
        letter = DeadLetter.model_validate_json(record.value)
        assert letter.reason and letter.original_sha256


def post(**over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "platform": "x",
        "post_id": "1",
        "author": {"id": "a", "handle": "h"},
        "text": "hello @acme my order is late",
        "created_at": "2026-11-22T10:00:00Z",
    }
    p.update(over)
    return p


NASTY: dict[str, tuple[bytes, str | None]] = {
    # name: (record, reason of the dead letter, or None when it must be processed as a post)
    "invalid UTF-8": (b'{"platform":"x","text":"\xff\xfe"}', "invalid JSON"),
    "deeply nested JSON": (b"[" * 5000 + b"]" * 5000, "invalid JSON"),
    "10 MB payload": (
        orjson.dumps([post(post_id=str(i), text="x" * 1000) for i in range(10_000)]),
        "exceeds",
    ),
    "NaN": (b'{"platform":"x","author":{"followers":NaN}}', "invalid JSON"),
    "number too big": (b'{"followers":1e400}', "invalid JSON"),
    "lone surrogate": (b'{"platform":"x","text":"\\ud800 help"}', "invalid JSON"),
    "wrong type": (orjson.dumps(post(text={"a": [1, 2]})), "invalid post"),
    "missing fields": (orjson.dumps({"platform": "x"}), "invalid post"),
    "unknown platform": (orjson.dumps(post(platform="myspace")), "invalid post"),
    "a bare number": (b"42", "expected a post object or a frame"),
    "empty frame": (b"[]", "empty frame"),
    "control characters": (orjson.dumps(post(post_id="c", text="help\x00\x07\x1b[31m me")), None),
    "right-to-left and zero-width": (
        orjson.dumps(post(post_id="r", text="\u202e\u200b@acme refund \u2066")),
        None,
    ),
    "emoji only": (orjson.dumps(post(post_id="e", text="😡😡😡🔥")), None),
    # dates: a post is dated 2006-01-01 to now plus one day; outside, it is dead-lettered with the reason
    "timestamp in the future": (
        orjson.dumps(post(post_id="f", created_at="2999-01-01T00:00:00Z")),
        "invalid post: created_at: 2999-01-01T00:00:00+00:00 is outside the accepted range",
    ),
    "timestamp in 1970": (
        orjson.dumps(post(post_id="z", created_at="1970-01-01T00:00:00Z")),
        "invalid post: created_at: 1970-01-01T00:00:00+00:00 is outside the accepted range",
    ),
    # after the last instant a datetime holds once in UTC, and before the first: these raised OverflowError
    "timestamp 9999 with a negative offset": (
        orjson.dumps(post(post_id="o", created_at="9999-12-31T23:59:59-01:00")),
        "invalid post: created_at: 9999-12-31T23:59:59-01:00 is outside the accepted range",
    ),
    "timestamp 0001 with a positive offset": (
        orjson.dumps(post(post_id="u", created_at="0001-01-01T00:30:00+01:00")),
        "invalid post: created_at: 0001-01-01T00:30:00+01:00 is outside the accepted range",
    ),
    "ingest time 9999 with a negative offset": (
        orjson.dumps(post(post_id="i", ingested_at="9999-12-31T23:59:59-01:00")),
        "invalid post: ingested_at: 9999-12-31T23:59:59-01:00 is outside the accepted range",
    ),
    "timestamp as a number past year 9999": (
        orjson.dumps(post(post_id="n", created_at=1e20)),
        "invalid post: created_at: Input should be a valid datetime",
    ),
    # one poison date among good posts: only that post is dead-lettered, the others have their outcomes
    "a frame with one post dated 9999-12-31T23:59:59-01:00": (
        orjson.dumps(
            [
                post(post_id="a1"),
                post(post_id="a2", created_at="9999-12-31T23:59:59-01:00"),
                post(post_id="a3", text="thanks @acme, all sorted"),
            ]
        ),
        "invalid post: created_at: 9999-12-31T23:59:59-01:00 is outside the accepted range",
    ),
}


@pytest.mark.parametrize("name", sorted(NASTY))
def test_nasty_records_are_dead_lettered_with_a_reason_or_processed(name: str) -> None:
    value, reason = NASTY[name]
    out = triage(value)
    accounted(out)
    if reason is None:
        assert out.outcomes["dead_letter"] == 0 and out.posts_in == 1
    else:
        assert out.outcomes["dead_letter"] >= 1
        assert all(reason in DeadLetter.model_validate_json(r.value).reason for r in out.dead_letters)
    if name.startswith("a frame with one post"):
        assert out.posts_in == 3 and out.outcomes["dead_letter"] == 1


def test_a_huge_frame_of_junk_is_dead_lettered_item_by_item() -> None:
    out = triage(orjson.dumps([1, "x", None, [], {}] * 1000))
    accounted(out)
    assert out.posts_in == out.outcomes["dead_letter"] == 5000


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_are_accounted_for(value: bytes) -> None:
    accounted(triage(value))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_is_accounted_for(doc: Any) -> None:
    accounted(
        triage(json.dumps(doc).encode())
    )  # the stdlib writes what orjson refuses: 2**70, lone surrogates


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(st.characters(codec="utf-8"), max_size=400),
    post_id=st.text(min_size=1, max_size=40),
    followers=st.integers(min_value=-5, max_value=10**12),
    lang=st.one_of(st.none(), st.text(max_size=20)),
)
def test_post_shaped_input_with_hostile_text_is_accounted_for(
    text: str, post_id: str, followers: int, lang: Any
) -> None:
    doc = post(
        text=text, post_id=post_id, lang=lang, author={"id": "a", "handle": "h", "followers": followers}
    )
    accounted(triage(orjson.dumps(doc)))


class PoisonScorer(LexiconScorer):
    """Raises on one text, like a scorer bug a real post could trigger."""

    def score(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> ScoreBatch:
        if any("POISON" in t for t in texts):
            raise ValueError("scorer blew up")
        return super().score(texts, langs)


def test_a_post_that_breaks_the_scorer_is_dead_lettered_and_the_rest_go_on() -> None:
    stage = TriageStage(SETTINGS, PoisonScorer())
    frame = [post(post_id=str(i), text=f"my order {i} never arrived, please help") for i in range(5)]
    frame[2]["text"] = "POISON my order never arrived"
    now = time.time()
    items, out = stage.decode(orjson.dumps(frame), "raw", 0, 7, now)
    stage.process(items, "raw", 0, 7, now, out)
    accounted(out)
    assert out.outcomes["dead_letter"] == 1
    letter = DeadLetter.model_validate_json(out.dead_letters[0].value)
    assert letter.reason.startswith("scoring failed: ValueError") and (letter.topic, letter.offset) == (
        "raw",
        7,
    )


def test_rules_from_the_topic_that_do_not_validate_leave_the_rules_in_force() -> None:
    runtime = PipelineRuntime(SETTINGS, scorer=LexiconScorer())
    before = runtime.router.rules

    def record(value: bytes, offset: int) -> ConsumerRecord:
        return ConsumerRecord("rules", 0, offset, 0, 0, b"rules", value, None, len(b"rules"), len(value), ())

    runtime.shared.on_rules(record(b'{"default_queue": 42}', 0))
    runtime.shared.on_rules(record(b"not json at all", 1))
    assert runtime.router.rules is before
    assert runtime.metrics.rules_updates.labels("rejected")._value.get() == 2
    good = before.model_copy(update={"version": "2"}).model_dump_json().encode()
    runtime.shared.on_rules(record(good, 2))
    assert runtime.router.rules.version == "2" and runtime.rules_source.endswith("@2")


def test_a_nul_inside_a_post_does_not_shift_the_scores_of_the_others() -> None:
    scorer = load_scorer()
    alone = scorer.score(["thank you so much, love it!"])
    batch = scorer.score(["help\x00me", "thank you so much, love it!"])
    assert len(batch) == 2
    assert batch.sentiment[1] == alone.sentiment[0]
    assert abs(float(batch.negativity[1]) - float(alone.negativity[0])) < 1e-9
