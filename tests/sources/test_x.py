import asyncio
import logging

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from stream.sources.base import ConfigError
from stream.sources.checkpoint import CheckpointStore
from stream.sources.testing import FakeClock, MemorySink, run_until
from stream.sources.x import XSource, tweet_to_post
from tests.sources.contract import StreamSourceContract, count
from tests.sources.support import make_settings

TOKEN = "AAAAAAAAAAAAAAAAAAAAAbearer-secret-xyz"


def line(i: int, **tweet) -> bytes:
    return orjson.dumps(
        {
            "data": {
                "id": str(1790000000000000000 + i),
                "text": f"@acmeair lost my bag on flight {i} #fail",
                "author_id": "42",
                "created_at": "2024-05-13T10:00:00.000Z",
                "lang": "en",
                "conversation_id": str(1790000000000000000 + i),
                "public_metrics": {"retweet_count": 1, "reply_count": 2, "like_count": 3, "quote_count": 0},
                "entities": {"mentions": [{"start": 0, "end": 8, "username": "acmeair", "id": "7"}]},
                **tweet,
            },
            "includes": {
                "users": [
                    {
                        "id": "42",
                        "name": "Jo Traveller",
                        "username": "jotravels",
                        "verified": False,
                        "public_metrics": {"followers_count": 1234},
                    }
                ]
            },
            "matching_rules": [{"id": "9", "tag": "triage:@acmeair"}],
        }
    )


class FakeX:
    """Speaks the filtered-stream protocol; each connection follows the next plan."""

    def __init__(self) -> None:
        self.plans: list[tuple] = []
        self.rules = [{"id": "1", "value": "old rule"}, {"id": "2", "value": "@acmeair"}]
        self.rule_posts: list[dict] = []
        self.connections: list[web.Request] = []
        self.closing = False
        app = web.Application()
        app.add_routes(
            [
                web.get("/2/tweets/search/stream/rules", self.get_rules),
                web.post("/2/tweets/search/stream/rules", self.post_rules),
                web.get("/2/tweets/search/stream", self.stream),
            ]
        )
        self.server = TestServer(app, host="127.0.0.1")

    async def get_rules(self, request: web.Request) -> web.Response:
        return web.json_response({"data": self.rules, "meta": {"result_count": len(self.rules)}})

    async def post_rules(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.rule_posts.append(body)
        for value in [a["value"] for a in body.get("add", [])]:
            if value == "bad((":
                return web.json_response({"errors": [{"value": value, "title": "UnprocessableEntity"}]})
            self.rules.append({"id": str(len(self.rules) + 10), "value": value})
        ids = set(body.get("delete", {}).get("ids", []))
        self.rules = [r for r in self.rules if r["id"] not in ids]
        return web.json_response({"meta": {}})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self.connections.append(request)
        plan = self.plans.pop(0) if self.plans else ("lines", [], "keepalive")
        if plan[0] == "status":
            return web.json_response({"title": "error"}, status=plan[1])
        _, lines, end = plan
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for chunk in lines:
            await resp.write(chunk)
        if end == "close":
            return resp
        if end == "midline":
            await resp.write(b'{"data": {"id": "17900000000')
            request.transport.close()
            return resp
        while not self.closing and request.transport and not request.transport.is_closing():
            if end == "keepalive":
                await resp.write(b"\r\n")
            await asyncio.sleep(0.05)
        return resp

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def fake_x():
    fake = FakeX()
    await fake.server.start_server()
    yield fake
    fake.closing = True
    await fake.server.close()


def source(tmp_path, fake, sink, clock=None, rules=None, **overrides):
    clock = clock or FakeClock()
    s = make_settings(tmp_path, **{"x_api_url": fake.url, "x_bearer_token": TOKEN, **overrides})
    return XSource(s, sink, sleep=clock.sleep, clock=clock, rules=rules)


class TestXContract(StreamSourceContract):
    platform = "x"
    config_errors = [
        ({"x_bearer_token": None}, "TRIAGE_X_BEARER_TOKEN"),
        ({"x_bearer_token": "  "}, "TRIAGE_X_BEARER_TOKEN"),
    ]
    restart_produces_again = (
        "X has no resume cursor: after a restart, posts re-sent by a backfill go to the pipeline's dedupe "
        "(test_restart_asks_for_a_backfill_and_skips_what_it_already_sent)"
    )

    @pytest.fixture(autouse=True)
    def _platform(self, fake_x):
        self.fake = fake_x

    def make_source(self, sink, clock=None, **settings):
        return source(self.tmp_path, self.fake, sink, clock, **settings)

    def payload(self, i):
        return line(i)

    def expected(self, i):
        return {
            "post_id": str(1790000000000000000 + i),
            "author": {"id": "42", "handle": "jotravels"},
            "text": f"@acmeair lost my bag on flight {i} #fail",
        }

    def malformed_payloads(self):
        return [
            b"{broken",
            b"[1, 2]",
            orjson.dumps({"errors": [{"title": "Invalid Request"}]}),  # an error that is not a disconnect
            line(5, author_id=None),
            line(6, referenced_tweets=[1, "not an object"]),
            orjson.dumps({"errors": "not a list"}),
        ]

    def dated(self, i, when):
        return line(i, created_at=when)

    def unwanted_payloads(self):
        return [line(1)]  # re-sent in the same session (a backfill overlapping what was read)

    def connections(self, *plans):
        ends = {"hold": "keepalive", "close": "close", "silent": "silent"}
        self.fake.plans = [
            ("status", end) if isinstance(end, int) else ("lines", [p + b"\n" for p in payloads], ends[end])
            for end, payloads in plans
        ]

    def connection_count(self):
        return len(self.fake.connections)


def test_a_stream_line_becomes_a_post_with_its_author_from_the_expansions():
    post = tweet_to_post(
        orjson.loads(line(1, referenced_tweets=[{"type": "replied_to", "id": "17"}])), brand="acme"
    )
    assert post["post_id"] == "1790000000000000001" and post["reply_to"] == "17"
    assert post["author"] == {
        "id": "42",
        "handle": "jotravels",
        "display_name": "Jo Traveller",
        "followers": 1234,
        "verified": False,
    }
    assert post["url"] == "https://x.com/jotravels/status/1790000000000000001"
    assert post["mentions"] == ["acmeair"] and post["hashtags"] == ["fail"]
    assert post["engagement"] == {"likes": 3, "reposts": 1, "replies": 2, "quotes": 0}
    assert post["created_at"] == "2024-05-13T10:00:00Z" and post["brand"] == "acme"
    rt = tweet_to_post(orjson.loads(line(2, referenced_tweets=[{"type": "retweeted", "id": "5"}])))
    long = tweet_to_post(orjson.loads(line(3, note_tweet={"text": "a much longer text"})))
    assert rt["repost_of"] == "5" and long["text"] == "a much longer text"


async def test_normal_flow_with_keepalives_rules_and_a_malformed_line(tmp_path, fake_x):
    fake_x.plans = [
        ("lines", [b"\r\n", line(1) + b"\r\n", b"\r\n", b"{broken\r\n", line(2) + b"\r\n"], "keepalive")
    ]
    sink = MemorySink()
    src = source(tmp_path, fake_x, sink, rules=["@acmeair", "acme lost bag"])
    await run_until(src, lambda: len(sink.added) == 2 and count(src, "keepalives_total") >= 3)
    assert sink.ids == ["1790000000000000001", "1790000000000000002"]
    assert sorted(r["value"] for r in fake_x.rules) == ["@acmeair", "acme lost bag"]
    assert fake_x.connections[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "author_id" in fake_x.connections[0].query["expansions"]
    assert count(src, "malformed_total") == 1
    assert CheckpointStore(tmp_path / "data" / "checkpoints").load("x")["since_id"] == "1790000000000000002"


async def test_a_disconnect_mid_line_reconnects_and_drops_only_the_partial_line(tmp_path, fake_x):
    fake_x.plans = [("lines", [line(1) + b"\n"], "midline"), ("lines", [line(2) + b"\n"], "keepalive")]
    sink = MemorySink()
    src = source(tmp_path, fake_x, sink)
    await run_until(src, lambda: len(sink.added) == 2)
    assert sink.ids == ["1790000000000000001", "1790000000000000002"]
    assert count(src, "reconnects_total", reason="network") == 1


async def test_an_operational_disconnect_message_reconnects(tmp_path, fake_x):
    msg = orjson.dumps(
        {"errors": [{"title": "operational-disconnect", "disconnect_type": "UpstreamOperationalDisconnect"}]}
    )
    fake_x.plans = [("lines", [msg + b"\n"], "keepalive"), ("lines", [line(1) + b"\n"], "keepalive")]
    sink = MemorySink()
    src = source(tmp_path, fake_x, sink)
    await run_until(src, lambda: len(sink.added) == 1)
    assert len(fake_x.connections) == 2


async def test_restart_asks_for_a_backfill_and_skips_what_it_already_sent(tmp_path, fake_x):
    clock = FakeClock()
    fake_x.plans = [("lines", [line(1) + b"\n"], "keepalive")]
    first = MemorySink()
    src = source(tmp_path, fake_x, first, clock, x_backfill_minutes=5)
    await run_until(src, lambda: len(first.stored) == 1)
    assert "backfill_minutes" not in fake_x.connections[0].query
    clock.now += 150  # down for 2.5 minutes
    fake_x.plans = [
        ("lines", [line(1) + b"\n", line(2) + b"\n"], "close"),
        ("lines", [line(2) + b"\n"], "keepalive"),
    ]
    second = MemorySink()
    src = source(tmp_path, fake_x, second, clock, x_backfill_minutes=5)
    await run_until(src, lambda: len(fake_x.connections) >= 3)
    assert fake_x.connections[1].query["backfill_minutes"] == "3"
    # post 1 again after restart goes to the pipeline's dedupe; post 2 re-sent on reconnect is skipped here
    assert second.ids == ["1790000000000000001", "1790000000000000002"]


async def test_a_rejected_token_or_rule_is_a_clear_configuration_error(tmp_path, fake_x):
    fake_x.plans = [("status", 401)]
    with pytest.raises(ConfigError, match="HTTP 401"):
        await source(tmp_path, fake_x, MemorySink()).run()
    with pytest.raises(ConfigError, match="rules rejected: bad"):
        await source(tmp_path, fake_x, MemorySink(), rules=["bad(("]).run()


async def test_the_bearer_token_never_reaches_the_logs(tmp_path, fake_x, caplog):
    caplog.set_level(logging.DEBUG)
    fake_x.plans = [("status", 503), ("lines", [b"{bad\n", line(1) + b"\n"], "midline")]
    sink = MemorySink()
    src = source(tmp_path, fake_x, sink)
    await run_until(src, lambda: len(fake_x.connections) >= 3)
    assert "reconnecting" in caplog.text
    assert TOKEN not in caplog.text and TOKEN not in repr(src.settings) and TOKEN not in str(src.health())
