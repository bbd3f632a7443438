from schemas.post import Post
from schemas.scores import Scores
from stream.tickets.ids import conversation_of, ticket_id
from stream.tickets.priority import priority_for


def scores(**over):
    base = dict(
        sentiment="neutral",
        negativity=0.2,
        intent="question",
        intent_confidence=0.8,
        actionable=True,
        actionable_proba=0.8,
        clout=10.0,
        urgency=[],
        reasons=[],
    )
    base.update(over)
    return Scores(**base)


def test_priority_rises_with_tone_clout_cues_and_tier():
    assert priority_for(scores())[0] == 3
    assert priority_for(scores(actionable=False))[0] == 4
    assert priority_for(scores(negativity=0.9))[0] == 2
    assert priority_for(scores(negativity=0.9, clout=80))[0] == 1
    assert priority_for(scores(), customer_tier="Elite")[0] == 2
    assert priority_for(scores(urgency=["outage"]))[0] == 2
    p, why = priority_for(scores(urgency=["safety"]))
    assert p == 1 and "safety" in why[0]


def test_ticket_ids_are_deterministic_and_per_conversation():
    a = ticket_id("x", "acme", "100")
    assert a == ticket_id("x", "acme", "100")
    assert a != ticket_id("x", "acme", "101") != ticket_id("facebook", "acme", "100")
    assert a.startswith("tkt_") and len(a) == 24


def test_replies_share_their_thread_root():
    base = {
        "platform": "x",
        "author": {"id": "1", "handle": "h"},
        "text": "t",
        "created_at": "2026-01-01T00:00:00Z",
    }
    root = Post.model_validate({**base, "post_id": "100"})
    reply = Post.model_validate({**base, "post_id": "101", "reply_to": "100", "conversation_id": "100"})
    bare_reply = Post.model_validate({**base, "post_id": "102", "reply_to": "100"})
    assert conversation_of(root) == conversation_of(reply) == conversation_of(bare_reply) == "100"


def test_ticket_partition_is_kafkas_default_partitioner_on_the_ticket_id():
    """CRMs key lifecycle events by ticket id with stock clients: they must meet the ticket's partition."""
    from aiokafka.partitioner import murmur2

    from stream.tickets.ids import ticket_partition

    for i in range(50):
        tid = ticket_id("x", "acme", str(i))
        assert ticket_partition(tid, 12) == (murmur2(tid.encode()) & 0x7FFFFFFF) % 12


def test_a_tickets_post_is_written_as_the_ticket_post_model_writes_it():
    """The route stage builds ticket posts as plain dicts; a CRM must get what the TicketPost model writes."""
    from schemas.ticket import TicketPost
    from stream.tickets.ids import ticket_post_doc

    def ticket_post(post: Post) -> TicketPost:  # the model, filled field by field
        return TicketPost(
            platform=post.platform,
            post_id=post.post_id,
            url=post.url,
            author_id=post.author.id,
            author_handle=post.author.handle,
            author_followers=post.author.followers,
            text=post.text,
            lang=post.lang,
            created_at=post.created_at,
            ingested_at=post.ingested_at or post.created_at,
        )

    base = {
        "platform": "x",
        "post_id": "1",
        "author": {"id": "9", "handle": "kim", "followers": 12},
        "text": "hi",
    }
    for created, ingested in [
        ("2026-11-22T10:00:00Z", None),
        ("2026-11-22T10:00:00.5+02:00", "2026-11-22T08:00:01.000001Z"),
        ("2026-11-22T10:00:00", "2026-11-22T10:00:00.123456-05:00"),
    ]:
        post = Post.model_validate(
            {**base, "created_at": created, "ingested_at": ingested, "url": "https://x"}
        )
        assert ticket_post_doc(post) == ticket_post(post).model_dump(mode="json")
