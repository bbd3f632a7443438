import asyncio
import logging

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from stream.sources.base import ConfigError
from stream.sources.mastodon import MastodonSource, SseEvent, SseParser, status_to_post
from stream.sources.testing import FakeClock, MemorySink, run_until
from tests.sources.contract import StreamSourceContract, count
from tests.sources.support import make_settings

TOKEN = "masto-token-secret-987"


def status(i: int, content: str = "<p>@<span>acme</span> my order is late again</p>", **extra) -> dict:
    return {
        "id": str(112000000000000000 + i),
        "created_at": "2024-05-13T10:00:00.000Z",
        "in_reply_to_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"https://mastodon.example/users/jo/statuses/{112000000000000000 + i}",
        "url": f"https://mastodon.example/@jo/{112000000000000000 + i}",
        "replies_count": 1,
        "reblogs_count": 2,
        "favourites_count": 3,
        "content": content,
        "reblog": None,
        "account": {
            "id": "109",
            "username": "jo",
            "acct": "jo@mastodon.example",
            "display_name": "Jo",
            "followers_count": 77,
            "bot": False,
        },
        "mentions": [
            {"id": "5", "username": "acme", "acct": "acme@acme.social", "url": "https://acme.social/@acme"}
        ],
        "tags": [{"name": "delays", "url": "https://mastodon.example/tags/delays"}],
        **extra,
    }


def sse(kind: str, payload) -> bytes:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return f"event: {kind}\ndata: {data}\n\n".encode()


class FakeMastodon:
    """Each stream connection follows the next plan: (chunks, "heartbeat" | "close" | "silent" | a status)."""

    def __init__(self) -> None:
        self.plans: list[tuple[list[bytes], str]] = []
        self.timeline: list[dict] = []
        self.stream_requests: list[web.Request] = []
        self.timeline_queries: list[dict] = []
        self.closing = False
        app = web.Application()
        app.add_routes(
            [
                web.get("/api/v1/streaming/{kind:.*}", self.stream),
                web.get("/api/v1/timelines/{kind:.*}", self.timelines),
            ]
        )
        self.server = TestServer(app, host="127.0.0.1")

    async def timelines(self, request: web.Request) -> web.Response:
        self.timeline_queries.append({"path": request.path, **request.query})
        min_id = int(request.query.get("min_id", 0))
        newer = sorted((s for s in self.timeline if int(s["id"]) > min_id), key=lambda s: int(s["id"]))
        page = newer[: int(request.query.get("limit", 20))]
        return web.json_response(list(reversed(page)))

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self.stream_requests.append(request)
        chunks, end = self.plans.pop(0) if self.plans else ([], "heartbeat")
        if end.isdigit():
            return web.Response(status=int(end))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in chunks:
            await resp.write(chunk)
        if end == "close":
            return resp
        while not self.closing and request.transport and not request.transport.is_closing():
            if end == "heartbeat":
                await resp.write(b":)\n")
            await asyncio.sleep(0.05)
        return resp

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def masto():
    fake = FakeMastodon()
    await fake.server.start_server()
    yield fake
    fake.closing = True
    await fake.server.close()


def source(tmp_path, fake, sink, clock=None, **overrides):
    clock = clock or FakeClock()
    values = {"mastodon_url": fake.url, "mastodon_access_token": TOKEN, "brand_handles": ["acme"]}
    values.update(overrides)
    return MastodonSource(make_settings(tmp_path, **values), sink, sleep=clock.sleep, clock=clock)


class TestMastodonContract(StreamSourceContract):
    platform = "mastodon"
    config_errors = [
        ({"mastodon_url": None}, "TRIAGE_MASTODON_URL"),
        ({"mastodon_access_token": None}, "TRIAGE_MASTODON_ACCESS_TOKEN"),
        ({"mastodon_stream": "hashtag"}, "TRIAGE_MASTODON_TAG"),
        ({"mastodon_stream": "list"}, "TRIAGE_MASTODON_LIST_ID"),
    ]

    @pytest.fixture(autouse=True)
    def _platform(self, masto):
        self.fake = masto

    def make_source(self, sink, clock=None, **settings):
        return source(self.tmp_path, self.fake, sink, clock, **settings)

    def payload(self, i):
        return status(i)

    def expected(self, i):
        return {
            "post_id": f"https://mastodon.example/users/jo/statuses/{112000000000000000 + i}",
            "author": {"id": "109", "handle": "jo@mastodon.example"},
            "text": "@acme my order is late again",
        }

    def malformed_payloads(self):
        return [
            "{broken",
            {"content": "<p>@acme no id</p>"},
            status(5, created_at="soon"),
            status(6, account="not an object"),
        ]

    def dated(self, i, when):
        return status(i, created_at=when)

    def unwanted_payloads(self):
        return [
            status(5, content="<p>nothing to see</p>", mentions=[]),
            sse("delete", "112000000000000001"),
            status(1),  # seen already (through the stream and the timeline catch-up, say)
        ]

    def connections(self, *plans):
        def chunk(payload):
            return payload if isinstance(payload, bytes) else sse("update", payload)

        ends = {"hold": "heartbeat", "close": "close", "silent": "silent"}
        self.fake.plans = [
            ([], str(end)) if isinstance(end, int) else ([chunk(p) for p in payloads], ends[end])
            for end, payloads in plans
        ]

    def connection_count(self):
        return len(self.fake.stream_requests)


def test_sse_parser_joins_data_lines_and_counts_heartbeats():
    parser = SseParser()
    out = [
        parser.feed(x)
        for x in [b":)", b"event: update", b'data: {"a":', b"data: 1}", b"", b"", b"data:x", b""]
    ]
    assert [e for e in out if e] == [SseEvent("update", '{"a":\n1}'), SseEvent("message", "x")]
    assert parser.heartbeats == 1


def test_a_status_becomes_a_post():
    post = status_to_post(status(1, spoiler_text="CW: rant", in_reply_to_id="111"), brand="acme")
    assert post["post_id"] == "https://mastodon.example/users/jo/statuses/112000000000000001"
    assert post["text"] == "CW: rant\n@acme my order is late again"
    assert post["author"]["handle"] == "jo@mastodon.example" and post["author"]["followers"] == 77
    assert post["mentions"] == ["acme@acme.social"] and post["hashtags"] == ["delays"]
    assert post["reply_to"] == "111" and post["engagement"]["reposts"] == 2
    boost = status_to_post(status(2, reblog=status(3)))
    assert boost["text"] == "" and boost["repost_of"].endswith("112000000000000003")


async def test_the_public_stream_is_read_with_the_token_and_heartbeats_are_counted(tmp_path, masto):
    masto.plans = [([b":)\n", sse("update", status(1))], "heartbeat")]
    sink = MemorySink()
    src = source(tmp_path, masto, sink)
    await run_until(src, lambda: len(sink.added) == 1 and count(src, "keepalives_total") >= 2)
    req = masto.stream_requests[0]
    assert req.path == "/api/v1/streaming/public" and req.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_hashtag_stream_and_disconnect_mid_event(tmp_path, masto):
    masto.plans = [
        ([sse("update", status(1)), b'event: update\ndata: {"id": "11'], "close"),
        ([sse("update", status(2))], "heartbeat"),
    ]
    sink, clock = MemorySink(), FakeClock()
    src = source(tmp_path, masto, sink, clock, mastodon_stream="hashtag", mastodon_tag="#acme")
    await run_until(src, lambda: len(sink.added) == 2)
    assert masto.stream_requests[0].path == "/api/v1/streaming/hashtag"
    assert masto.stream_requests[0].query["tag"] == "acme"
    assert clock.sleeps[0] == 0.25


async def test_restart_catches_up_from_the_timeline_without_duplicates(tmp_path, masto):
    masto.plans = [([sse("update", status(1))], "heartbeat")]
    first = MemorySink()
    src = source(tmp_path, masto, first)
    await run_until(src, lambda: len(first.stored) == 1)
    # while down, 2 and 3 were posted (3 about something else); the stream then repeats 3... and 4 arrives
    masto.timeline = [status(1), status(2), status(3, content="<p>hello</p>", mentions=[])]
    masto.plans = [([sse("update", status(2)), sse("update", status(4))], "heartbeat")]
    second = MemorySink()
    src = source(tmp_path, masto, second)
    await run_until(src, lambda: len(second.added) == 2)
    assert masto.timeline_queries[0]["min_id"] == "112000000000000001"
    assert [p["post_id"][-1] for p in second.added] == ["2", "4"]


async def test_a_bad_token_is_fatal(tmp_path, masto):
    masto.plans = [([], "401")]
    with pytest.raises(ConfigError, match="HTTP 401"):
        await source(tmp_path, masto, MemorySink()).run()


async def test_the_token_never_reaches_the_logs(tmp_path, masto, caplog):
    caplog.set_level(logging.DEBUG)
    masto.plans = [([], "500"), ([sse("update", "{bad")], "close")]
    src = source(tmp_path, masto, MemorySink())
    await run_until(src, lambda: len(masto.stream_requests) >= 3)
    assert "reconnecting" in caplog.text and TOKEN not in caplog.text
