import asyncio
import json
import logging

import aiohttp
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.sources.testing import MemorySink, wait_for
from stream.sources.webhook import WebhookSource, parse_ingest
from tests.sources.contract import PushSourceContract
from tests.sources.support import make_settings

TOKEN = "wh-secret-0123456789"


def post(i: int, **extra):
    return {
        "platform": "forum",
        "post_id": f"p{i}",
        "author": {"id": f"u{i}", "handle": f"user{i}"},
        "text": f"my router died again {i}",
        "created_at": "2024-05-01T10:00:00Z",
        **extra,
    }


@pytest.fixture
async def ingest(tmp_path):
    sink = MemorySink()
    src = WebhookSource(make_settings(tmp_path, webhook_token=TOKEN, webhook_max_bytes=4096), sink)
    task = asyncio.create_task(src.run())
    await wait_for(lambda: src.port is not None)
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{src.port}") as http:
        yield src, sink, http
    src.stop()
    await asyncio.wait_for(task, 5)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


class TestWebhookContract(PushSourceContract):
    platform = "forum"
    path = "/ingest"
    accepted = 202
    config_errors = [({"webhook_token": None}, "TRIAGE_WEBHOOK_TOKEN")]

    def make_source(self, sink, clock=None, **settings):
        values = {"webhook_token": TOKEN, "webhook_max_bytes": 4096, **settings}
        return WebhookSource(make_settings(self.tmp_path, **values), sink)

    def payload(self, i):
        return post(i)

    def expected(self, i):
        return {
            "post_id": f"p{i}",
            "author": {"id": f"u{i}", "handle": f"user{i}"},
            "text": f"my router died again {i}",
            "source": "webhook",
        }

    def malformed_payloads(self):
        return [{"platform": "mars"}, b"{oops", b"[]", post(5, created_at=1e30)]

    def dated(self, i, when):
        return post(i, created_at=when)

    def unwanted_payloads(self):
        return []  # the sender chose what to send

    def credentials(self, body):
        return AUTH

    def forged_credentials(self, body):
        return [
            {},
            {"Authorization": "Bearer nope"},
            {"Authorization": TOKEN},
            {"Authorization": "Basic " + TOKEN},
        ]

    def check_refusal(self, answer):
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_parse_accepts_an_object_an_array_or_ndjson():
    one, errors = parse_ingest(orjson.dumps(post(1)), "application/json")
    assert [p["post_id"] for p in one] == ["p1"] and not errors and one[0]["source"] == "webhook"
    many, _ = parse_ingest(orjson.dumps([post(1), post(2)]), "application/json")
    nd, _ = parse_ingest(b"\n".join(orjson.dumps(post(i)) for i in range(3)) + b"\n", "application/x-ndjson")
    assert len(many) == 2 and len(nd) == 3


def test_parse_gives_a_reason_per_bad_item():
    body = b"\n".join([orjson.dumps(post(1)), b"{oops", orjson.dumps({"platform": "x"}), b"42"])
    _posts, errors = parse_ingest(body, "application/x-ndjson")
    assert [e["index"] for e in errors] == [1, 2, 3]
    assert "invalid JSON" in errors[0]["error"] and "post_id" in errors[1]["error"]
    assert parse_ingest(b"[]", "application/json")[1][0]["error"] == "no posts in the request"


async def test_an_array_or_ndjson_is_stored_before_the_202(ingest):
    _src, sink, http = ingest
    async with http.post("/ingest", json=[post(1), post(2)], headers=AUTH) as r:
        assert r.status == 202 and await r.json() == {"accepted": 2}
    assert [p["post_id"] for p in sink.stored] == ["p1", "p2"]
    body = b"\n".join(orjson.dumps(post(i)) for i in (3, 4))
    headers = {**AUTH, "Content-Type": "application/x-ndjson"}
    async with http.post("/ingest", data=body, headers=headers) as r:
        assert r.status == 202
    assert len(sink.stored) == 4


async def test_invalid_posts_get_400_with_reasons_and_nothing_is_stored(ingest):
    _src, sink, http = ingest
    async with http.post("/ingest", json=[post(1), {"platform": "mars"}], headers=AUTH) as r:
        assert r.status == 400
        body = await r.json()
    assert (
        body["invalid"] == 1 and body["errors"][0]["index"] == 1 and "platform" in body["errors"][0]["error"]
    )
    assert sink.added == []


async def test_over_the_size_limit_413_with_or_without_content_length(ingest):
    _src, sink, http = ingest
    big = [post(i, text="x" * 100) for i in range(40)]
    async with http.post("/ingest", json=big, headers=AUTH) as r:
        assert r.status == 413

    async def chunks():
        for _ in range(10):
            yield b" " * 1000

    async with http.post("/ingest", data=chunks(), headers=AUTH) as r:
        assert r.status == 413
    assert sink.added == []


async def test_the_token_never_reaches_the_logs(ingest, caplog):
    caplog.set_level(logging.DEBUG)
    src, sink, http = ingest
    async with http.post("/ingest", json=post(1), headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 401
    sink.fail = RuntimeError("broker down")
    async with http.post("/ingest", json=post(1), headers=AUTH) as r:
        assert r.status == 503
    assert TOKEN not in caplog.text and TOKEN not in repr(src.settings)


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00"])
async def test_a_date_out_of_range_gets_400_with_the_reason_not_500(ingest, when):
    _src, sink, http = ingest
    async with http.post("/ingest", json=[post(1), post(2, created_at=when)], headers=AUTH) as r:
        assert r.status == 400
        body = await r.json()
    assert body["invalid"] == 1 and body["errors"][0]["index"] == 1
    assert body["errors"][0]["error"].startswith(f"created_at: {when} is outside the accepted range")
    assert sink.added == []
    async with http.post("/ingest", json=post(3), headers=AUTH) as r:  # and the next request is served
        assert r.status == 202
    assert [p["post_id"] for p in sink.stored] == ["p3"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)


@given(st.lists(st.fixed_dictionaries({}, optional={k: JSON for k in (*post(1), "ingested_at")}), max_size=3))
def test_any_body_gets_posts_or_a_reason_per_item_never_an_exception(items):
    for content_type, body in (
        ("application/json", json.dumps(items).encode()),
        ("application/x-ndjson", b"\n".join(json.dumps(i).encode() for i in items)),
    ):
        posts, errors = parse_ingest(body, content_type)
        assert all(isinstance(e["error"], str) and e["error"] for e in errors)
        assert len(posts) + len(errors) >= min(len(items), 1)
