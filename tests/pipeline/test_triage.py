"""Stage one on its own: what becomes a ticket, and why the rest does not."""

import time

import orjson

from classifiers import load_scorer
from stream.pipeline.triage import TriageOutput, TriageStage
from stream.settings import Settings
from stream.tickets.ids import ticket_id, ticket_partition
from tests.factory import post

SCORER = load_scorer()
APOLOGY = (
    "@jo sorry Jo, that shouldn't have happened and refund {n} is late. Can you DM us your order number?"
)


def triage(stage: TriageStage, frame: list[dict[str, object]]) -> TriageOutput:
    now = time.time()
    items, out = stage.decode(orjson.dumps(frame), "raw", 0, 0, now)
    return stage.process(items, "raw", 0, 0, now, out)


def forwarded_ids(out: TriageOutput) -> set[str]:
    """The posts sent on to become tickets (not the brand's replies, which only stop a clock)."""
    return {item["post"]["post_id"] for r in out.forward for item in orjson.loads(r.value) if "post" in item}


def forwarded_replies(out: TriageOutput) -> list[dict[str, object]]:
    items = [item for r in out.forward for item in orjson.loads(r.value)]
    return [item["brand_reply"] for item in items if "brand_reply" in item]


def brand_reply(post_id: int, handle: str) -> dict[str, object]:
    p = post(post_id, "")
    p["text"] = APOLOGY.format(n=post_id)  # without the factory's "@acme": the brand is the author here
    p["author"] = {"id": f"brand-{handle}", "handle": handle, "followers": 900_000, "verified": True}
    return p


def test_the_brands_own_posts_open_no_ticket_and_say_why() -> None:
    settings = Settings(partitions=1, brand_handles=["@AcmeHelp", "acmehelp.bsky.social"])
    stage = TriageStage(settings, SCORER)
    customer = post(1, "my refund is late and nobody answers, can you help?")
    frame = [brand_reply(2, "AcmeHelp"), brand_reply(3, "ACMEHELP"), brand_reply(4, "AcmeHelp.bsky.social")]
    frame.append(customer)
    out = triage(stage, frame)

    assert forwarded_ids(out) == {"1"}
    assert out.outcomes["filtered"] == 3
    assert out.posts_in == sum(out.outcomes.values()) + len(forwarded_ids(out))
    reasons = {d["post"]: d["reason"] for d in out.audit}
    assert reasons["x:2"] == "filtered: the brand's own post (@AcmeHelp)"
    assert reasons["x:4"] == "filtered: the brand's own post (@AcmeHelp.bsky.social)"


def test_without_brand_handles_a_brand_reply_is_scored_like_any_post() -> None:
    """The filter is the configuration's, not the model's: the same reply reads as a complaint."""
    stage = TriageStage(Settings(partitions=1), SCORER)
    out = triage(stage, [brand_reply(2, "AcmeHelp")])
    assert forwarded_ids(out) == {"2"}


def test_only_the_listed_accounts_are_the_brand() -> None:
    """A longer handle, or the same name on another Mastodon server, is somebody else: a customer."""
    stage = TriageStage(Settings(partitions=1, brand_handles=["AcmeHelp@mastodon.social"]), SCORER)
    frame = [brand_reply(2, "AcmeHelpIsUseless"), brand_reply(3, "AcmeHelp@other.social")]
    frame.append(brand_reply(4, "acmehelp@mastodon.social"))
    out = triage(stage, frame)
    assert forwarded_ids(out) == {"2", "3"}


def test_blank_brand_handles_are_ignored() -> None:
    """An empty entry in TRIAGE_BRAND_HANDLES must not make an author without a handle the brand."""
    settings = Settings(partitions=1, brand_handles=["", " @ ", " @AcmeHelp "])
    assert settings.brand_handles == ["AcmeHelp"]
    out = triage(TriageStage(settings, SCORER), [brand_reply(2, ""), brand_reply(3, "acmehelp")])
    assert forwarded_ids(out) == {"2"}


def in_thread(p: dict[str, object], root: str) -> dict[str, object]:
    return {**p, "reply_to": root, "conversation_id": root}


def test_a_brand_reply_in_a_thread_is_sent_on_as_that_tickets_first_response() -> None:
    """Filtered (the brand needs no ticket) and accounted once, but the route stage learns of it, after the
    customer's post it answers, on the partition that holds the thread's ticket."""
    settings = Settings(partitions=4, brand_handles=["AcmeHelp"])
    stage = TriageStage(settings, SCORER)
    customer = post(10, "my refund is late and nobody answers, can you help?")
    reply = {**in_thread(brand_reply(11, "AcmeHelp"), "10"), "ingested_at": "2026-11-22T10:05:00Z"}
    out = triage(stage, [reply, customer])  # the reply first in the frame: still sent after the post

    tid = ticket_id("x", "acme", "10")
    assert forwarded_ids(out) == {"10"}
    assert forwarded_replies(out) == [
        {"post": "x:11", "handle": "AcmeHelp", "ticket_id": tid, "at": "2026-11-22T10:05:00+00:00"}
    ]
    [record] = [r for r in out.forward if r.partition == ticket_partition(tid, 4)]
    assert [next(iter(item)) for item in orjson.loads(record.value)] == ["post", "brand_reply"]
    assert out.outcomes["filtered"] == 1 and out.posts_in == 2
    decision = next(d for d in out.audit if d["post"] == "x:11")
    assert decision["outcome"] == "filtered" and decision["ticket_id"] == tid
    assert decision["reason"].startswith("filtered: the brand's own post (@AcmeHelp); a reply in a ticket's")


def test_brand_posts_that_answer_nobody_or_with_the_setting_off_are_only_filtered() -> None:
    stage = TriageStage(Settings(partitions=1, brand_handles=["AcmeHelp"]), SCORER)
    out = triage(stage, [brand_reply(20, "AcmeHelp")])  # an announcement, not a reply
    assert out.forward == [] and out.outcomes["filtered"] == 1

    off = Settings(partitions=1, brand_handles=["AcmeHelp"], public_reply_first_response=False)
    out = triage(TriageStage(off, SCORER), [in_thread(brand_reply(21, "AcmeHelp"), "5")])
    assert out.forward == [] and out.outcomes["filtered"] == 1
    assert out.audit[0]["reason"] == "filtered: the brand's own post (@AcmeHelp)"
