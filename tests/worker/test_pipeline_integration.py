"""The whole pipeline on the real embedded broker: exact accounting, valid routed tickets, idempotent replay,
and dedupe state that survives a worker restart."""

from __future__ import annotations

import json

import jsonschema
import orjson
import pytest

from schemas.events import AuditDecision, DeadLetter
from schemas.export import SCHEMA_DIR
from schemas.post import Post
from schemas.scores import Scores
from stream.tickets.priority import priority_for
from stream.tickets.routing import RouteInput, Router, load_rules
from tests.conftest import read_topic, send, wait_accounted
from tests.factory import build

pytestmark = pytest.mark.integration

TICKET_SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "ticket.schema.json").read_text()))


def out(s, outcome):
    return s.value("triage_posts_out_total", outcome=outcome)


async def test_posts_in_equal_tickets_filtered_duplicates_and_dead_letters(topics, start_worker):
    stream = build(2000)
    worker = start_worker()
    await send(topics, stream.posts)
    s = await wait_accounted(worker, stream.total)

    assert s.value("triage_posts_in_total") == stream.total
    assert out(s, "duplicate") == stream.duplicates
    assert out(s, "dead_letter") == stream.dead_letters
    assert out(s, "ticket") + out(s, "filtered") == stream.originals
    assert out(s, "ticket") > 0.4 * stream.originals  # most of this stream asks for an answer
    assert s.value("triage_duplicates_total", kind="repost") == stream.originals // 20

    # Tickets: valid against the committed schema, keyed and headed by what CRMs route on.
    records = await read_topic(topics.kafka, topics.topics.tickets)
    assert len(records) == out(s, "ticket")
    router = Router(load_rules())
    by_post = {p["post_id"]: p for p in stream.posts if isinstance(p, dict) and "author" in p}
    history: dict[str, list[dict]] = {}
    for rec in records:  # one partition per ticket id, so a ticket's records are in order
        ticket = orjson.loads(rec.value)
        TICKET_SCHEMA.validate(ticket)
        assert rec.key.decode() == ticket["ticket_id"]
        assert dict(rec.headers)["queue"].decode() == ticket["queue"]
        history.setdefault(ticket["ticket_id"], []).append(ticket)
    for versions in history.values():
        # The first version was made from one post: its queue and priority are that post's routing.
        first = versions[0]
        assert len(first["posts"]) == 1 and first["contacts"] == 1
        post = Post.model_validate(by_post[first["posts"][0]["post_id"]])
        scores = Scores.model_validate(first["scores"])
        priority, _ = priority_for(scores)
        expected = router.route(
            RouteInput(
                scores.intent,
                post.lang,
                post.brand,
                post.platform.value,
                None,
                tuple(scores.urgency),
                priority,
                scores.clout,
                post.text,
            )
        )
        assert (first["queue"], first["priority"]) == (expected.queue, expected.priority)
        if post.post_id in stream.spanish and first["tier"] == 1:
            assert first["queue"] == "care-es"
        # Later versions add the thread's posts; priority only rises.
        last = versions[-1]
        assert last["contacts"] == len(versions) == len({p["post_id"] for p in last["posts"]})
        assert last["priority"] <= first["priority"]
    # Replies share their thread root's ticket: every post of a ticket is the root or a reply to it.
    threads = [v[-1] for v in history.values() if v[-1]["contacts"] > 1]
    assert threads
    for ticket in threads:
        root = ticket["conversation_id"]
        assert all(
            p["post_id"] == root or by_post[p["post_id"]].get("reply_to") == root for p in ticket["posts"]
        )

    # Dead letters keep the reason and the original; the audit has one decision per post and ticket.
    dead = [
        DeadLetter.model_validate_json(r.value)
        for r in await read_topic(topics.kafka, topics.topics.deadletter)
    ]
    assert len(dead) == stream.dead_letters
    assert {d.reason.split(":")[0] for d in dead} == {"invalid post", "invalid JSON"}
    audit = [
        AuditDecision.model_validate(d)
        for r in await read_topic(topics.kafka, topics.topics.audit)
        for d in orjson.loads(r.value)
    ]
    assert sum(1 for a in audit if a.stage == "triage") == stream.total
    assert sum(1 for a in audit if a.stage == "route") == out(s, "ticket") == len(records)

    # Replaying the same input yields no new ticket: every post is now a duplicate or dead letter.
    await send(topics, stream.posts)
    s2 = await wait_accounted(worker, 2 * stream.total)
    assert out(s2, "ticket") == out(s, "ticket")
    assert out(s2, "filtered") == out(s, "filtered")
    assert out(s2, "duplicate") == stream.duplicates + stream.total - stream.dead_letters
    assert len(await read_topic(topics.kafka, topics.topics.tickets)) == len(records)


async def test_dedupe_state_survives_a_worker_restart(topics, start_worker):
    stream = build(600, seed_offset=50_000)
    first = start_worker()
    await send(topics, stream.posts)
    s = await wait_accounted(first, stream.total)
    tickets_before = {
        orjson.loads(r.value)["ticket_id"] for r in await read_topic(topics.kafka, topics.topics.tickets)
    }
    assert len(tickets_before) > 0 and out(s, "ticket") > 0
    first.stop()

    second = start_worker()
    await send(topics, stream.posts)
    s2 = await wait_accounted(second, stream.total)
    assert s2.value("triage_dedupe_restored_keys_total") >= stream.originals
    assert out(s2, "ticket") == 0 and out(s2, "filtered") == 0
    assert out(s2, "duplicate") + out(s2, "dead_letter") == s2.value("triage_posts_in_total")
    tickets_after = {
        orjson.loads(r.value)["ticket_id"] for r in await read_topic(topics.kafka, topics.topics.tickets)
    }
    assert tickets_after == tickets_before
