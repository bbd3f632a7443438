from datetime import UTC, datetime, timedelta

import pytest

from schemas.events import TicketEvent
from schemas.ops import OpsCommand
from schemas.post import Post
from schemas.scored import BrandReply, ScoredPost
from schemas.scores import Scores
from schemas.ticket import TicketStatus
from stream.tickets.ids import ticket_id
from stream.tickets.state import (
    Routed,
    TicketState,
    apply_brand_reply,
    apply_command,
    apply_event,
    apply_post,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TID = ticket_id("x", "acme", "100")
RULES = dict(reopen_window_s=3 * 86400, escalate_after_contacts=3, escalation_queue="tier2-escalations")


def scored(post_id: str, minutes: float, text: str = "my parcel is late", **score) -> ScoredPost:
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    post = Post.model_validate(
        {
            "platform": "x",
            "post_id": post_id,
            "author": {"id": "9", "handle": "kim"},
            "text": text,
            "created_at": at,
            "ingested_at": at,
            "conversation_id": "100",
            "brand": "acme",
        }
    )
    s = dict(
        sentiment="negative",
        negativity=0.8,
        intent="complaint",
        intent_confidence=0.9,
        actionable=True,
        actionable_proba=0.9,
        clout=10.0,
    )
    s.update(score)
    return ScoredPost(post=post, scores=Scores(**s), ticket_id=TID, conversation_id="100")


def routed(queue="social-x", tier=1, priority=3, tier_name=None):
    return Routed(queue, tier, priority, "x-front-line", [f"queue {queue}"], None, tier_name)


def event(kind: str, minutes: float, eid: str, **kw) -> TicketEvent:
    return TicketEvent(event_id=eid, ticket_id=TID, type=kind, at=T0 + timedelta(minutes=minutes), **kw)


def test_replies_update_one_ticket_and_keep_its_queue():
    s, change = apply_post(None, scored("100", 0), routed(), **RULES)
    assert change == "created" and s.status == TicketStatus.OPEN and s.contacts == 1
    s, change = apply_post(s, scored("101", 5), routed(queue="billing", priority=2), **RULES)
    assert change == "updated" and s.queue == "social-x" and s.priority == 2 and s.contacts == 2
    assert [p["post_id"] for p in s.posts] == ["100", "101"]
    again, change = apply_post(s, scored("101", 5), routed(), **RULES)
    assert change == "unchanged" and again == s


def test_repeated_contact_escalates_to_tier_two():
    s, _ = apply_post(None, scored("100", 0), routed(), **RULES)
    s, _ = apply_post(s, scored("101", 1), routed(), **RULES)
    s, change = apply_post(s, scored("102", 2), routed(), **RULES)
    assert change == "escalated" and (s.queue, s.tier) == ("tier2-escalations", 2)
    assert "repeated contact (3 posts)" in s.explanation[-1]


def test_a_legal_threat_in_the_thread_moves_the_ticket_to_specialists():
    s, _ = apply_post(None, scored("100", 0), routed(), **RULES)
    s, change = apply_post(
        s, scored("101", 1), routed(queue="tier2-escalations", tier=2, priority=1), **RULES
    )
    assert change == "escalated" and s.queue == "tier2-escalations" and s.priority == 1


def test_lifecycle_events_and_idempotence():
    s, _ = apply_post(None, scored("100", 0), routed(), **RULES)
    s, c = apply_event(s, event("assigned", 2, "e1", agent="ana"))
    assert c == "assigned" and s.agent == "ana" and s.status == TicketStatus.ASSIGNED
    s, c = apply_event(s, event("first_response", 7, "e2"))
    assert (
        s.status == TicketStatus.RESPONDED and s.first_response_at == (T0 + timedelta(minutes=7)).timestamp()
    )
    s2, c = apply_event(s, event("first_response", 9, "e3"))
    assert s2.first_response_at == s.first_response_at  # the first one counts
    s, c = apply_event(s, event("resolved", 30, "e4"))
    assert s.status == TicketStatus.RESOLVED and not s.is_open
    replay, c = apply_event(s, event("reopened", 31, "e4"))
    assert c == "unchanged" and replay is s


def test_a_customer_coming_back_reopens_within_the_window_and_starts_afresh_after_it():
    s, _ = apply_post(None, scored("100", 0), routed(), **RULES)
    s, _ = apply_event(s, event("resolved", 30, "e1"))
    reopened, change = apply_post(s, scored("101", 60), routed(), **RULES)
    assert change == "reopened" and reopened.status == TicketStatus.REOPENED and reopened.reopened == 1
    later, change = apply_post(s, scored("102", 60 * 24 * 4), routed(), **RULES)
    assert change == "new_episode" and later.episode == 2 and later.status == TicketStatus.OPEN
    assert later.contacts == 1 and [p["post_id"] for p in later.posts] == ["102"]


def test_reassign_and_retask_commands():
    s, _ = apply_post(None, scored("100", 0), routed(), **RULES)
    s, _ = apply_event(s, event("assigned", 1, "e1", agent="ana"))
    cmd = OpsCommand(command_id="c1", type="retask", from_agent="ana", to_agent="bo", at=T0, by="sup")
    s, change = apply_command(s, cmd)
    assert change == "reassigned" and s.agent == "bo" and "retask by sup" in s.explanation[-1]
    other = OpsCommand(command_id="c2", type="retask", from_queue="billing", to_queue="x", at=T0)
    assert apply_command(s, other)[1] == "unchanged"
    one = OpsCommand(command_id="c3", type="reassign", ticket_id=TID, to_queue="vip-care", to_agent="", at=T0)
    s, _ = apply_command(s, one)
    assert (s.queue, s.agent) == ("vip-care", None)


def test_state_round_trips_and_renders_a_schema_valid_ticket():
    s, _ = apply_post(None, scored("100", 0), routed(tier_name="vip"), **RULES)
    s, _ = apply_event(s, event("assigned", 1, "e1", agent="ana"))
    assert TicketState.loads(s.dumps()) == s
    ticket = s.to_ticket()
    assert ticket.ticket_id == TID and ticket.agent == "ana" and ticket.customer_tier == "vip"


def test_bad_commands_are_refused():
    with pytest.raises(ValueError, match="where to"):
        OpsCommand(command_id="c", type="retask", from_queue="a", at=T0)
    with pytest.raises(ValueError, match="ticket_id"):
        OpsCommand(command_id="c", type="reassign", to_queue="a", at=T0)


def test_the_ticket_record_is_exactly_what_the_schema_model_writes():
    """Tickets are serialised straight from the state; a CRM must get what the Ticket model would write,
    through every change: new posts, escalation, lifecycle events with odd timestamps, a resolution."""
    s, _ = apply_post(None, scored("100", 0), routed(), **RULES)
    states = [s]
    for i, minutes in enumerate([0.5, 7.25, 61.000001]):
        s, _ = apply_post(s, scored(f"10{i + 1}", minutes, text='still late 😡 "quoted"'), routed(), **RULES)
        states.append(s)
    for kind, minutes, eid, kw in [
        ("assigned", 62.123456, "e1", {"agent": "ana"}),
        ("first_response", 63.5, "e2", {}),
        ("resolved", 90.0, "e3", {}),
    ]:
        s, _ = apply_event(s, event(kind, minutes, eid, **kw))
        states.append(s)
    for state in states:
        again = TicketState.loads(state.dumps())
        assert again.ticket_json() == again.to_ticket().model_dump_json().encode()
        assert state.ticket_json() == state.to_ticket().model_dump_json().encode()
    assert states[-1].to_ticket().resolved_at is not None


def reply(minutes: float, post_id: str = "200") -> BrandReply:
    at = T0 + timedelta(minutes=minutes)
    return BrandReply(post=f"x:{post_id}", handle="AcmeHelp", ticket_id=TID, at=at)


def test_the_brands_public_reply_is_the_first_response_and_only_the_first_counts():
    s, _ = apply_post(None, scored("100", 0), routed(), **RULES)
    s, change = apply_brand_reply(s, reply(12))
    assert change == "first_response" and s.status == TicketStatus.RESPONDED
    assert s.first_response_at == (T0 + timedelta(minutes=12)).timestamp()
    assert s.explanation[-1] == "first response: public reply by @AcmeHelp"
    for later in (reply(12), reply(30, "201")):  # a replay, then a second answer
        assert apply_brand_reply(s, later) == (s, "unchanged")
    # a CRM's first_response event after the public reply keeps the first time
    s, _ = apply_event(s, event("first_response", 40, "e1"))
    assert s.first_response_at == (T0 + timedelta(minutes=12)).timestamp()


def test_a_brand_reply_to_a_closed_ticket_changes_nothing_and_a_skewed_clock_never_precedes_creation():
    s, _ = apply_post(None, scored("100", 10), routed(), **RULES)
    resolved, _ = apply_event(s, event("resolved", 20, "e1"))
    assert apply_brand_reply(resolved, reply(25)) == (resolved, "unchanged")
    early, change = apply_brand_reply(s, reply(9))  # ingested a minute "before" the post by another worker
    assert change == "first_response" and early.first_response_at == early.created_at
