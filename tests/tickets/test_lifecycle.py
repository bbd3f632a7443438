"""A bounded working set: the sweep closes idle open tickets as expired and forgets closed states after
their reopen window, finding them through a small due index rather than a scan (pure: a dict for the
ticket table, whose deletes stand for the changelog's tombstones)."""

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from schemas.events import AuditDecision
from schemas.scores import Scores
from schemas.ticket import Ticket, TicketPost, TicketStatus
from stream.settings import Settings
from stream.tickets import state as state_module
from stream.tickets.ids import ticket_id, ticket_partition
from stream.tickets.lifecycle import Deadlines, pack, unpack
from stream.tickets.routing import Router, load_rules
from stream.tickets.stage import TicketingOutput, TicketingStage
from stream.tickets.state import TicketState

DAY = 86400.0
EXPIRE, WINDOW = 2 * DAY, 1 * DAY
SETTINGS = Settings(partitions=4, ticket_expire_after_s=int(EXPIRE), reopen_window_s=int(WINDOW))
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
T = T0.timestamp()
ROUTER = Router(load_rules())


class Table(dict[bytes, bytes]):
    """The ticket table as the stage sees it; a delete is what writes a tombstone on the changelog."""

    def __init__(self) -> None:
        super().__init__()
        self.tombstones: list[bytes] = []

    def __delitem__(self, key: bytes) -> None:
        super().__delitem__(key)
        self.tombstones.append(key)


def stage(table: Table | None = None, settings: Settings = SETTINGS) -> TicketingStage:
    return TicketingStage(ROUTER, settings, table if table is not None else Table())


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def scored(post_id: str, conversation: str, at: float) -> dict[str, Any]:
    return {
        "post": {
            "platform": "x",
            "post_id": post_id,
            "author": {"id": "9", "handle": "kim"},
            "text": f"my parcel {post_id} is late",
            "created_at": iso(at),
            "ingested_at": iso(at),
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
        "ticket_id": ticket_id("x", "acme", conversation),
        "conversation_id": conversation,
    }


def post(s: TicketingStage, post_id: str, conversation: str, at: float) -> TicketingOutput:
    return s.process(orjson.dumps([scored(post_id, conversation, at)]), "act", 0, 0, at)


def event(s: TicketingStage, kind: str, conversation: str, at: float, eid: str) -> TicketingOutput:
    doc = {"event_id": eid, "ticket_id": ticket_id("x", "acme", conversation), "type": kind, "at": iso(at)}
    return s.process_event(orjson.dumps(doc), "ev", 0, 0, at)


def tickets(out: TicketingOutput) -> list[Ticket]:
    return [Ticket.model_validate_json(r.value) for r in out.tickets if r.value is not None]


def test_an_idle_open_ticket_expires_after_the_configured_time_and_not_before():
    s = stage()
    tid = ticket_id("x", "acme", "100")
    post(s, "1", "100", T)
    queue = s.open[tid].queue

    early = s.sweep(T + EXPIRE - 1)
    assert early.tickets == [] and not early.expired and early.changes == [] and tid in s.open

    out = s.sweep(T + EXPIRE + 1)
    [ticket] = tickets(out)
    assert ticket.ticket_id == tid and ticket.status == TicketStatus.EXPIRED
    assert ticket.expired_at == ticket.updated_at == T0 + timedelta(seconds=EXPIRE)  # not the sweep's time
    assert ticket.explanation[-1] == "expired: no activity for 2 days" and ticket.schema_version == 2
    assert dict(out.expired) == {queue: 1} and out.evicted == 0 and not out.more_due
    assert [(c.change, c.before.status if c.before else None) for c in out.changes] == [
        ("expired", TicketStatus.OPEN)
    ]
    [decision] = out.audit
    audit = AuditDecision.model_validate(decision)
    assert audit.ticket_id == tid and audit.queue == queue and audit.post == "x:1"
    assert audit.reason == "expired: no activity for 2 days"
    assert dict(out.tickets[0].headers)["status"] == b"expired"
    assert tid not in s.open and s.load(tid).status == TicketStatus.EXPIRED
    again = s.sweep(T + EXPIRE + 3600)
    assert again.tickets == [] and not again.expired


def test_activity_keeps_a_ticket_open_however_old_it_is():
    """Posts, CRM events, the brand's replies and ops commands are all activity: a ticket that has any
    within the expiry time is never expired, and a busy ticket costs one due-index entry."""
    s = stage()
    tid = ticket_id("x", "acme", "100")
    post(s, "1", "100", T)
    post(s, "2", "200", T)  # an idle neighbour, for contrast
    at = T
    reply = {"brand_reply": {"post": "x:900", "handle": "AcmeHelp", "ticket_id": tid, "at": None}}
    command = {"command_id": "c1", "type": "reassign", "ticket_id": tid, "to_queue": "social-general"}
    expired: set[str] = set()
    for i, kind in enumerate(["post", "assigned", "brand_reply", "command", "post", "first_response"]):
        at += EXPIRE * 0.9
        if kind == "post":
            post(s, f"1{i}", "100", at)
        elif kind == "brand_reply":
            reply["brand_reply"]["at"] = iso(at)
            assert s.process(orjson.dumps([reply]), "act", 0, 0, at).changes
        elif kind == "command":
            assert s.process_command(orjson.dumps({**command, "at": iso(at)}), "cmd", 0, 0, at).changes
        else:
            assert event(s, kind, "100", at, f"e{i}").changes
        out = s.sweep(at + EXPIRE * 0.5)
        expired |= {t.ticket_id for t in tickets(out)}
        assert tid in s.open and tid not in expired, kind
        assert len([e for e in s.due.expiring[ticket_partition(tid, 4)] if e[1] == tid]) == 1
    assert expired == {ticket_id("x", "acme", "200")}
    assert s.sweep(at + EXPIRE - 1).tickets == []
    [ticket] = tickets(s.sweep(at + EXPIRE + 1))
    assert ticket.ticket_id == tid and ticket.status == TicketStatus.EXPIRED


def test_a_post_after_expiry_opens_a_new_episode_and_crm_events_apply_as_on_a_resolved_ticket():
    s = stage()
    tid = ticket_id("x", "acme", "100")
    post(s, "1", "100", T)
    s.sweep(T + EXPIRE + 1)
    for kind, eid in (("assigned", "e1"), ("first_response", "e2")):
        out = event(s, kind, "100", T + EXPIRE + 10, eid)
        assert tickets(out)[0].status == TicketStatus.EXPIRED and tid not in s.open

    later = post(s, "2", "100", T + EXPIRE + 3600)
    [change] = later.changes
    [ticket] = tickets(later)
    assert change.change == "new_episode" and ticket.episode == 2 and ticket.status == TicketStatus.OPEN
    assert ticket.expired_at is None and [p.post_id for p in ticket.posts] == ["2"] and tid in s.open

    s.sweep(T + 2 * EXPIRE + 3601)  # idle again: expires again, and a CRM can reopen it
    reopened = event(s, "reopened", "100", T + 2 * EXPIRE + 3700, "e3")
    [ticket] = tickets(reopened)
    assert ticket.status == TicketStatus.REOPENED and ticket.expired_at is None and ticket.episode == 2
    assert tid in s.open


def test_a_closed_state_is_forgotten_after_the_reopen_window_and_a_later_post_opens_a_fresh_ticket():
    table = Table()
    s = stage(table)
    tid = ticket_id("x", "acme", "100")
    post(s, "1", "100", T)
    post(s, "2", "100", T + 60)
    resolved_at = T + 3600
    event(s, "resolved", "100", resolved_at, "e1")

    assert s.sweep(resolved_at + WINDOW - 1).evicted == 0 and tid.encode() in table
    out = s.sweep(resolved_at + WINDOW + 1)
    assert out.evicted == 1 and out.tickets == [] and out.changes == [] and out.audit == []
    assert table.tombstones == [tid.encode()] and s.load(tid) is None and tid not in s.open

    unknown = event(s, "assigned", "100", resolved_at + WINDOW + 2, "e2")
    assert unknown.events == {"assigned/unknown_ticket": 1} and len(unknown.dead_letters) == 1
    fresh = post(s, "3", "100", resolved_at + WINDOW + 3)
    [ticket] = tickets(fresh)
    assert fresh.changes[0].change == "created" and ticket.episode == 1 and ticket.contacts == 1
    assert [p.post_id for p in ticket.posts] == ["3"] and tid in s.open


def test_an_expired_state_is_forgotten_its_reopen_window_after_it_expired():
    table = Table()
    s = stage(table)
    tid = ticket_id("x", "acme", "100")
    post(s, "1", "100", T)
    assert sum(s.sweep(T + EXPIRE + 1).expired.values()) == 1
    assert s.sweep(T + EXPIRE + WINDOW - 1).evicted == 0 and tid.encode() in table
    out = s.sweep(T + EXPIRE + WINDOW + 1)
    assert out.evicted == 1 and table.tombstones == [tid.encode()] and out.tickets == []

    # A worker that was down for days expires a ticket at its due time and forgets it in the same sweep:
    # the CRM still gets the expired record first.
    post(s, "2", "200", T)
    late = s.sweep(T + EXPIRE + WINDOW + 5 * DAY)
    [ticket] = tickets(late)
    assert ticket.status == TicketStatus.EXPIRED and ticket.expired_at == T0 + timedelta(seconds=EXPIRE)
    assert late.evicted == 1 and table.tombstones[-1] == ticket.ticket_id.encode()


def test_a_reopened_ticket_is_not_evicted():
    table = Table()
    s = stage(table)
    by_post, by_event = ticket_id("x", "acme", "100"), ticket_id("x", "acme", "200")
    for i, conversation in enumerate(("100", "200")):
        post(s, str(i), conversation, T)
        event(s, "resolved", conversation, T + 3600, f"r{i}")
    reopened_at = T + 3600 + WINDOW / 2
    assert post(s, "10", "100", reopened_at).changes[0].change == "reopened"
    assert event(s, "reopened", "200", reopened_at, "o1").changes[0].change == "reopened"
    resolved_again = reopened_at + 600
    event(s, "resolved", "200", resolved_again, "r9")

    out = s.sweep(T + 3600 + WINDOW + 1)  # the first resolution's window has passed
    assert out.evicted == 0 and table.tombstones == []
    assert s.load(by_post).status == TicketStatus.REOPENED and by_post in s.open
    assert s.load(by_event).status == TicketStatus.RESOLVED

    out = s.sweep(resolved_again + WINDOW + 1)  # the second resolution's window: gone
    assert out.evicted == 1 and table.tombstones == [by_event.encode()]
    assert s.load(by_post) is not None


def test_each_sweep_does_bounded_work_and_says_when_more_is_due():
    s = stage()
    for i in range(25):
        post(s, str(i), str(1000 + i), T + i)
    late = T + EXPIRE + 100
    done = []
    while True:
        out = s.sweep(late, max_items=10)
        done.append(sum(out.expired.values()))
        assert len(out.tickets) <= 10
        if not out.more_due:
            break
    assert done == [10, 10, 5] and not s.open
    # the expired ones come due for eviction: still at most max_items per sweep
    evicted = [s.sweep(late + WINDOW + EXPIRE, max_items=10).evicted for _ in range(4)]
    assert evicted == [10, 10, 5, 0] and len(s.store) == 0 and len(s.due) == 0


def test_the_due_index_survives_rebuild_index_and_forgets_partitions_that_left():
    """After a restart or rebalance the index is rebuilt from the states; only the partitions indexed
    here are swept, so a worker never expires or forgets a ticket another worker now owns."""
    table = Table()
    first = stage(table)
    conversations = [str(100 + i) for i in range(16)]
    for i, conversation in enumerate(conversations):
        post(first, str(i), conversation, T)
        if i % 2:
            event(first, "resolved", conversation, T + 60, f"r{i}")
    by_partition: dict[int, set[str]] = {}
    for conversation in conversations:
        tid = ticket_id("x", "acme", conversation)
        by_partition.setdefault(ticket_partition(tid, 4), set()).add(tid)
    assert len(by_partition) > 2

    restarted = stage(table)  # same table, a fresh process
    held = sorted(by_partition)[:-1]
    restarted.rebuild_index(held)
    left = sorted(by_partition)[-1]
    out = restarted.sweep(T + EXPIRE + 1)
    swept = {r.key.decode() for r in out.tickets}
    assert swept and all(ticket_partition(t, 4) in held for t in swept)
    out = restarted.sweep(T + EXPIRE + WINDOW + 2)  # the resolved ones and the just expired ones
    gone = {k.decode() for k in table.tombstones}
    assert gone == set().union(*(by_partition[p] for p in held))
    assert all(tid.encode() in table for tid in by_partition[left])

    for partition in held:  # a rebalance: the partitions leave, another one is restored and indexed
        restarted.forget_partition(partition)
    for tid in by_partition[left]:
        restarted.index_state(TicketState.loads(table[tid.encode()]))
    assert set(restarted.due.expiring) | set(restarted.due.evictable) == {left}
    out = restarted.sweep(T + EXPIRE + WINDOW + 2)
    assert {r.key.decode() for r in out.tickets} | {k.decode() for k in table.tombstones[len(gone) :]} == (
        by_partition[left]
    )


def test_a_repeated_sweep_writes_the_very_same_expired_ticket():
    """A crash after the ticket record went out but before the state's changelog record was stored: the
    next owner expires the ticket again, and the CRM gets the same bytes, whenever it sweeps."""
    table = Table()
    s = stage(table)
    post(s, "1", "100", T)
    before = dict(table)
    first = s.sweep(T + EXPIRE + 1)
    replay = stage(Table())
    replay.store.update(before)
    replay.rebuild_index(range(4))
    second = replay.sweep(T + EXPIRE + 7200)
    assert [r.value for r in first.tickets] == [r.value for r in second.tickets]
    assert replay.store == s.store


V1_STATE = (
    '{"ticket_id":"tkt_97abd8b6f1d37bc0a0c8","queue":"social-x","priority":3,"tier":1,"status":"resolved",'
    '"platform":"x","brand":"acme","conversation_id":"100","created_at":1795165200.0,"updated_at":1795167000.0,'
    '"posts":[{"platform":"x","post_id":"100","url":"https://x.com/kim/status/100","author_id":"9",'
    '"author_handle":"kim","author_followers":120,"text":"my parcel is late 😡","lang":"en",'
    '"created_at":"2026-11-20T09:00:00Z","ingested_at":"2026-11-20T09:00:00Z"},{"platform":"x",'
    '"post_id":"101","url":"https://x.com/kim/status/101","author_id":"9","author_handle":"kim",'
    '"author_followers":120,"text":"still \\"late\\"","lang":"en","created_at":"2026-11-20T09:05:00Z",'
    '"ingested_at":"2026-11-20T09:05:00Z"}],"scores":{"sentiment":"negative","negativity":0.8,'
    '"intent":"complaint","intent_confidence":0.9,"actionable":true,"actionable_proba":0.9,"clout":10.0,'
    '"urgency":["churn_threat"],"reasons":["intent complaint 0.90: late"],"model_version":"m1"},'
    '"explanation":["queue social-x"],"routing_rule":"x-front-line","agent":"ana","customer_id":"c-1",'
    '"customer_tier":"vip","contacts":2,"episode":1,"reopened":0,"first_response_at":1795165620.0,'
    '"resolved_at":1795167000.0,"events_seen":["e1","e2","e3"]}'
).encode()  # written by the release before ticket expiry (TicketState.dumps, encoding 1)


def test_states_of_the_previous_release_still_decode_and_the_new_encoding_is_smaller():
    old = TicketState.loads(V1_STATE)
    assert old.status == TicketStatus.RESOLVED and old.expired_at is None and old.agent == "ana"
    assert [p["text"] for p in old.posts] == ["my parcel is late 😡", 'still "late"']
    assert old.events_seen == ("e1", "e2", "e3") and old.scores["urgency"] == ["churn_threat"]
    assert old.ticket_json() == old.to_ticket().model_dump_json().encode()
    new = old.dumps()
    assert new.startswith(b"[2,") and TicketState.loads(new) == old
    assert len(new) < 0.75 * len(V1_STATE)
    with pytest.raises(ValueError, match="not a ticket state"):
        TicketState.loads(b"[3]")


def test_the_encoding_s_frozen_field_lists_match_the_models():
    """Encoding 2 is positional: a new field in TicketState, TicketPost or Scores needs encoding 3."""
    assert tuple(f.name for f in fields(TicketState)) == state_module._V2_FIELDS
    assert tuple(TicketPost.model_fields) == state_module._V2_POST_KEYS
    assert tuple(Scores.model_fields) == state_module._V2_SCORE_KEYS


def test_due_index_entries_pack_a_second_and_a_ticket_id():
    tid = ticket_id("x", "acme", "100")
    assert unpack(pack(T + 0.2, tid)) == (int(T) + 1, tid)  # rounded up: never early
    heap = Deadlines()
    for i, due in enumerate((30.0, 10.0, 20.0)):
        heap.push(due, ticket_id("x", "acme", str(i)))
    assert [heap.pop()[0] for _ in range(3)] == [10, 20, 30] and heap.next_due() is None
    with pytest.raises(ValueError, match="not a ticket id"):
        pack(T, "tkt_short")
