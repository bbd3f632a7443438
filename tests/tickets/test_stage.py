"""The route stage as a whole (pure, with a dict for the ticket table): what it writes for posts, events
and commands, and what a replay after a crash writes."""

from datetime import UTC, datetime

import orjson

from schemas.ticket import Ticket
from stream.settings import Settings
from stream.tickets.ids import ticket_id, ticket_partition
from stream.tickets.routing import Router, load_rules
from stream.tickets.stage import TicketingStage

SETTINGS = Settings(partitions=4)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()


def scored(i: int, conversation: str) -> dict:
    tid = ticket_id("x", "acme", conversation)
    at = "2026-11-22T09:00:00+00:00"
    return {
        "post": {
            "platform": "x",
            "post_id": str(i),
            "author": {"id": "9", "handle": "kim"},
            "text": f"my parcel {i} is late",
            "created_at": at,
            "ingested_at": at,
            "brand": "acme",
            "conversation_id": conversation,
        },
        "scores": {
            "sentiment": "negative",
            "negativity": 0.8,
            "intent": "complaint",
            "intent_confidence": 0.9,
            "actionable": True,
            "actionable_proba": 0.9,
            "clout": 10.0,
        },
        "ticket_id": tid,
        "conversation_id": conversation,
    }


def stage() -> TicketingStage:
    return TicketingStage(Router(load_rules()), SETTINGS, {})


def test_a_replayed_frame_writes_the_same_tickets_again_and_changes_nothing():
    s = stage()
    frame = orjson.dumps([scored(1, "100"), scored(2, "100"), scored(3, "300")])
    first = s.process(frame, "act", 0, 0, NOW)
    assert len(first.tickets) == 3 and len(first.changes) == 3 and first.posts == 3
    replay = s.process(frame, "act", 0, 0, NOW)
    assert replay.changes == [] and replay.posts == 3
    latest = {r.key: r.value for r in first.tickets}  # the last version of each ticket
    assert {r.key: r.value for r in replay.tickets} == latest
    for record in replay.tickets:
        Ticket.model_validate_json(record.value)


def test_a_replayed_event_rewrites_the_ticket_and_unknown_tickets_are_dead_lettered():
    s = stage()
    s.process(orjson.dumps([scored(1, "100")]), "act", 0, 0, NOW)
    tid = ticket_id("x", "acme", "100")
    ev = orjson.dumps({"event_id": "e1", "ticket_id": tid, "type": "resolved", "at": "2026-11-22T09:30:00Z"})
    applied = s.process_event(ev, "ev", 0, 1, NOW)
    assert [c.change for c in applied.changes] == ["resolved"] and tid not in s.open
    again = s.process_event(ev, "ev", 0, 1, NOW)
    assert again.changes == [] and [r.value for r in again.tickets] == [r.value for r in applied.tickets]
    unknown = orjson.dumps(
        {"event_id": "e2", "ticket_id": "tkt_" + "1" * 20, "type": "resolved", "at": "2026-11-22T09:30:00Z"}
    )
    dead = s.process_event(unknown, "ev", 0, 2, NOW)
    assert (
        len(dead.dead_letters) == 1 and dead.dead_posts == 0 and dead.events["resolved/unknown_ticket"] == 1
    )


def test_a_retask_moves_only_matching_tickets_of_its_partition():
    s = stage()
    s.process(orjson.dumps([scored(i, str(100 + i)) for i in range(12)]), "act", 0, 0, NOW)
    queue = next(iter(s.open.values())).queue
    command = {
        "command_id": "c1",
        "type": "retask",
        "from_queue": queue,
        "to_queue": "social-general",
        "at": "2026-11-22T09:40:00Z",
    }
    moved = 0
    for partition in range(SETTINGS.partitions):
        out = s.process_command(orjson.dumps(command), "cmd", partition, 0, NOW)
        assert all(ticket_partition(r.key.decode(), SETTINGS.partitions) == partition for r in out.tickets)
        moved += len(out.tickets)
        replay = s.process_command(orjson.dumps(command), "cmd", partition, 0, NOW)
        assert replay.changes == [] and len(replay.tickets) == len(out.tickets)
    assert moved == 12 and {t.queue for t in s.open.values()} == {"social-general"}


def brand_reply(conversation: str, post_id: str = "900", **over: object) -> dict:
    reply = {
        "post": f"x:{post_id}",
        "handle": "AcmeHelp",
        "ticket_id": ticket_id("x", "acme", conversation),
        "at": "2026-11-22T09:07:00+00:00",
    }
    return {"brand_reply": {**reply, **over}}


def test_a_brand_reply_stops_the_first_response_clock_without_counting_as_a_post():
    s = stage()
    tid = ticket_id("x", "acme", "100")
    out = s.process(orjson.dumps([scored(1, "100"), brand_reply("100")]), "act", 0, 0, NOW)
    assert out.posts == 1 and out.dead_posts == 0 and out.events == {"public_reply/applied": 1}
    assert [c.change for c in out.changes] == ["created", "first_response"]
    latest = Ticket.model_validate_json(out.tickets[-1].value)
    assert latest.ticket_id == tid and latest.status == "responded"
    assert latest.first_response_at == datetime(2026, 11, 22, 9, 7, tzinfo=UTC)

    again = s.process(orjson.dumps([brand_reply("100", "901")]), "act", 0, 1, NOW)
    assert again.events == {"public_reply/unchanged": 1} and again.changes == [] and again.tickets == []


def test_brand_replies_with_no_ticket_are_counted_and_broken_ones_dead_lettered_not_double_counted():
    s = stage()
    frame = [brand_reply("555"), brand_reply("100", ticket_id="tkt_nope"), scored(1, "100")]
    out = s.process(orjson.dumps(frame), "act", 0, 7, NOW)
    assert out.posts == 1 and [c.change for c in out.changes] == ["created"]
    assert out.events == {"public_reply/no_ticket": 1, "public_reply/invalid": 1}
    assert out.dead_posts == 0  # triage already counted the reply as filtered: it is not a lost post
    [dead] = out.dead_letters
    assert orjson.loads(dead.value)["reason"].startswith("invalid brand reply: String should match pattern")
