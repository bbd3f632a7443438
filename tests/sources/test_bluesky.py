import asyncio

import orjson
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from stream.sources.bluesky import BlueskySource, jetstream_to_post, mentioned
from stream.sources.testing import FakeClock, MemorySink, run_until, wait_for
from tests.sources.contract import StreamSourceContract
from tests.sources.support import make_settings

T0 = 1_725_911_162_000_000
BRAND_DID = "did:plc:brandbrandbrand"


def event(i: int, text: str = "@acme.bsky.social my parcel is lost", **record) -> bytes:
    start = text.find("@acme.bsky.social")
    facets = (
        [
            {
                "index": {
                    "byteStart": len(text[:start].encode()),
                    "byteEnd": len(text[:start].encode()) + 17,
                },
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": BRAND_DID}],
            }
        ]
        if start >= 0
        else []
    )
    return orjson.dumps(
        {
            "did": "did:plc:eygmaihciaxprqvxpfvl6flk",
            "time_us": T0 + i,
            "kind": "commit",
            "commit": {
                "rev": "3l3qo2vuowo2b",
                "operation": "create",
                "collection": "app.bsky.feed.post",
                "rkey": f"3l3qo2vutsw{i:02d}",
                "record": {
                    "$type": "app.bsky.feed.post",
                    "createdAt": "2024-09-09T19:46:02.102Z",
                    "langs": ["en"],
                    "text": text,
                    "facets": facets,
                    **record,
                },
                "cid": "bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi",
            },
        }
    )


def other(i: int, **extra) -> bytes:
    return orjson.dumps({"did": "did:plc:zzz", "time_us": T0 + i, **extra})


def without_rkey(i: int) -> bytes:
    ev = orjson.loads(event(i))
    del ev["commit"]["rkey"]
    return orjson.dumps(ev)


class FakeJetstream:
    """Each connection follows the next plan: (messages, "hold" | "close" | an HTTP status refusing it)."""

    def __init__(self) -> None:
        self.plans: list[tuple[list, str | int]] = []
        self.queries: list[dict] = []
        self.log: list[bytes] = []
        self.closing = False
        app = web.Application()
        app.add_routes([web.get("/subscribe", self.subscribe)])
        self.server = TestServer(app, host="127.0.0.1")

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        self.queries.append(dict(request.query))
        if self.plans:
            messages, end = self.plans.pop(0)
        else:  # like Jetstream: everything from the cursor on
            cursor = int(request.query.get("cursor", 0))
            messages, end = [m for m in self.log if orjson.loads(m)["time_us"] >= cursor], "hold"
        if isinstance(end, int):
            return web.Response(status=end)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for m in messages:
            if isinstance(m, bytes):
                await ws.send_str(m.decode())
            else:
                await ws.send_bytes(m[0])
        if end == "close":
            await ws.close()
            return ws
        while not self.closing and not ws.closed:
            try:
                msg = await ws.receive(timeout=0.05)
            except TimeoutError:
                continue
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                break
        return ws

    @property
    def url(self) -> str:
        return str(self.server.make_url("/subscribe")).replace("http://", "ws://")


@pytest.fixture
async def jetstream():
    fake = FakeJetstream()
    await fake.server.start_server()
    yield fake
    fake.closing = True
    await fake.server.close()


def source(tmp_path, fake, sink, clock=None, **overrides):
    clock = clock or FakeClock()
    values = {"bluesky_jetstream_url": fake.url, "brand_handles": ["acme"], "brand_keywords": ["acme air"]}
    values.update(overrides)
    return BlueskySource(make_settings(tmp_path, **values), sink, sleep=clock.sleep, clock=clock)


class TestBlueskyContract(StreamSourceContract):
    platform = "bluesky"
    config_errors = [
        ({"brand_handles": [], "brand_keywords": []}, "TRIAGE_BRAND_HANDLES"),
        ({"bluesky_jetstream_url": "http://x"}, "ws://"),
    ]

    @pytest.fixture(autouse=True)
    def _platform(self, jetstream):
        self.fake = jetstream

    def make_source(self, sink, clock=None, **settings):
        return source(self.tmp_path, self.fake, sink, clock, **settings)

    def payload(self, i):
        return event(i)

    def expected(self, i):
        did = "did:plc:eygmaihciaxprqvxpfvl6flk"
        return {
            "post_id": f"at://{did}/app.bsky.feed.post/3l3qo2vutsw{i:02d}",
            "author": {"id": did, "handle": did},
            "text": "@acme.bsky.social my parcel is lost",
        }

    def malformed_payloads(self):
        return [b"{not json", (b"\x28\xb5\x2f\xfd",), other(3, time_us="soon"), without_rkey(4)]

    def dated(self, i, when):
        return event(i, createdAt=when)

    def unwanted_payloads(self):
        return [
            event(2, text="unrelated cat picture"),
            event(5, text="another cat", facets="not a list", reply=["nor", "an", "object"]),
            other(3, kind="identity", identity={"did": "did:plc:zzz"}),
            other(4, kind="commit", commit={"operation": "delete", "collection": "app.bsky.feed.post"}),
            event(1),  # replayed by a rewind: at or before the cursor
        ]

    def connections(self, *plans):
        self.fake.plans = [([], end) if isinstance(end, int) else (payloads, end) for end, payloads in plans]

    def connection_count(self):
        return len(self.fake.queries)

    async def test_a_restart_does_not_produce_again_what_was_stored(self):
        await super().test_a_restart_does_not_produce_again_what_was_stored()
        # resumed a few seconds (bluesky_rewind_s) before the stored cursor, so the gap is covered
        assert self.fake.queries[1]["cursor"] == str(T0 + 2 - 5_000_000)

    async def test_failures_back_off_by_kind_and_reset_after_a_good_connection(self):
        await super().test_failures_back_off_by_kind_and_reset_after_a_good_connection()
        # a reconnect resumes from the cursor of the last event, less the rewind
        assert "cursor" not in self.fake.queries[0]
        assert self.fake.queries[4]["cursor"] == str(T0 + 1 - 5_000_000)


def test_a_commit_event_becomes_a_post():
    reply = {
        "root": {"cid": "c1", "uri": "at://did:plc:root/app.bsky.feed.post/aaa"},
        "parent": {"cid": "c2", "uri": "at://did:plc:par/app.bsky.feed.post/bbb"},
    }
    ev = orjson.loads(event(1, text="héllo @acme.bsky.social #broken", reply=reply))
    post = jetstream_to_post(ev, brand="acme")
    assert post["post_id"] == "at://did:plc:eygmaihciaxprqvxpfvl6flk/app.bsky.feed.post/3l3qo2vutsw01"
    assert post["url"] == "https://bsky.app/profile/did:plc:eygmaihciaxprqvxpfvl6flk/post/3l3qo2vutsw01"
    assert post["mentions"] == ["acme.bsky.social"]  # from the facet's byte range (é is two bytes)
    assert post["hashtags"] == ["broken"] and post["lang"] == "en"
    assert post["reply_to"].endswith("/bbb") and post["conversation_id"].endswith("/aaa")
    assert post["created_at"] == "2024-09-09T19:46:02.102000Z"
    assert mentioned(ev["commit"]["record"]) == (["acme.bsky.social"], [BRAND_DID])


async def test_a_keyword_is_enough_and_skipped_events_move_the_cursor_too(tmp_path, jetstream):
    jetstream.plans = [
        ([event(3, text="flying ACME Air tomorrow, any tips?"), other(5, kind="identity")], "hold")
    ]
    sink = MemorySink()
    src = source(tmp_path, jetstream, sink)
    await run_until(src, lambda: src.cursor == T0 + 5)
    assert [p["post_id"][-2:] for p in sink.added] == ["03"]
    assert jetstream.queries[0] == {"wantedCollections": "app.bsky.feed.post"}


async def test_kafka_away_restarts_from_the_stored_cursor_and_loses_nothing(tmp_path, jetstream):
    jetstream.log = [event(1)]
    sink, clock = MemorySink(), FakeClock()
    src = source(tmp_path, jetstream, sink, clock, bluesky_rewind_s=0)
    task = asyncio.create_task(src.run())
    try:
        await wait_for(lambda: len(sink.stored) == 1)
        sink.fail = RuntimeError("kafka away")
        jetstream.log += [event(2), event(3)]
        await wait_for(lambda: len(jetstream.queries) >= 3)  # failures restart the session
        sink.fail = None
        await wait_for(lambda: {p["post_id"][-2:] for p in sink.stored} == {"01", "02", "03"})
    finally:
        src.stop()
        await asyncio.wait_for(task, 5)
    # every reconnect resumed from the stored cursor, not from what was read but never stored
    assert {q.get("cursor") for q in jetstream.queries[1:]} == {str(T0 + 1)}


def test_brand_handles_match_whole_handles_only() -> None:
    from stream.sources.normalize import BrandFilter

    f = BrandFilter(handles=["acme"])
    assert (
        f.matches("", ["acme"])
        and f.matches("", ["acme@mastodon.social"])
        and f.matches("", ["acme.bsky.social"])
    )
    assert not f.matches("", ["acme.evil.com"]) and not f.matches("", ["acmesucks"])
    assert f.matches("hey @acme, my order?") and f.matches("thanks @ACME.")
    assert not f.matches("look at @acmesucks") and not f.matches("mail me at me@acme.com")
    assert not f.matches("see @acme.evil.com now")


async def test_a_post_dated_9999_with_an_offset_is_malformed_and_the_next_posts_follow(tmp_path, jetstream):
    """Any Bluesky user can set createdAt. 9999-12-31T23:59:59-01:00 overflowed on the way to UTC; the
    OverflowError ended the session, the source resumed from its cursor into the same event, and looped."""
    jetstream.plans = [
        (
            [
                event(1),
                event(2, createdAt="9999-12-31T23:59:59-01:00"),
                event(3, createdAt="0001-01-01T00:30:00+01:00"),
                event(4),
                event(5),
            ],
            "hold",
        )
    ]
    sink, clock = MemorySink(), FakeClock()
    src = source(tmp_path, jetstream, sink, clock)
    await run_until(src, lambda: len(sink.stored) == 3)
    assert [p["post_id"][-2:] for p in sink.stored] == ["01", "04", "05"]
    assert src.metrics.registry.get_sample_value("triage_source_malformed_total", {"source": "bluesky"}) == 2
    assert len(jetstream.queries) == 1 and src.reconnects == 0 and clock.sleeps == []


def test_a_post_without_createdAt_is_dated_by_the_event_s_time_us():
    ev = orjson.loads(event(1))
    del ev["commit"]["record"]["createdAt"]
    post = jetstream_to_post(ev)
    assert post["created_at"] == "2024-09-09T19:46:02.000001Z"  # T0 + 1 microseconds, not year 56661


def test_a_record_shaped_against_the_lexicon_is_read_as_far_as_it_goes():
    ev = orjson.loads(event(1, facets=[1, {"features": "x"}, {"index": [], "features": [{"$type": 3}]}]))
    ev["commit"]["record"].update(reply="not an object", embed=[], langs="en")
    post = jetstream_to_post(ev)
    assert post["mentions"] == ["acme.bsky.social"] and "reply_to" not in post and "lang" not in post
    assert mentioned(ev["commit"]["record"]) == ([], [])
