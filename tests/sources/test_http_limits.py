"""The push sources' HTTP door (stream.http_limits): no client can exhaust memory or hold connections.

Slow and oversized clients are raw sockets on 127.0.0.1, so the test decides exactly which bytes go out and
when. Timeouts are set to about a second, so every test ends within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from stream.http_limits import HttpGuard, HttpLimits, TokenBuckets
from stream.sources import meta as meta_module
from stream.sources.meta import MetaWebhookSource
from stream.sources.push import PushSource
from stream.sources.testing import MemorySink, wait_for
from stream.sources.webhook import WebhookSource
from tests.sources.contract import count
from tests.sources.support import make_settings

TOKEN = "wh-secret-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "app-secret-abcdef123456"


def post(i: int) -> dict[str, Any]:
    return {
        "platform": "forum",
        "post_id": f"p{i}",
        "author": {"id": f"u{i}", "handle": f"user{i}"},
        "text": f"my router died again {i}",
        "created_at": "2024-05-01T10:00:00Z",
    }


@contextlib.asynccontextmanager
async def serving(source: PushSource) -> AsyncIterator[PushSource]:
    task = asyncio.create_task(source.run())
    try:
        await wait_for(lambda: source.port is not None or task.done())
        assert source.port is not None, task
        yield source
    finally:
        source.stop()
        await asyncio.wait_for(task, 10)


def webhook(tmp_path: Any, sink: MemorySink | None = None, **settings: Any) -> WebhookSource:
    values = {
        "webhook_token": TOKEN,
        "webhook_max_bytes": 4096,
        "http_header_timeout_s": 1.0,
        "http_body_timeout_s": 1.0,
        **settings,
    }
    return WebhookSource(make_settings(tmp_path, **values), sink or MemorySink())


def meta(tmp_path: Any, sink: MemorySink | None = None) -> MetaWebhookSource:
    settings = make_settings(tmp_path, meta_app_secret=SECRET, meta_verify_token="verify-me-please-42")
    return MetaWebhookSource(settings, sink or MemorySink())


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def answer_head(reader: asyncio.StreamReader, within: float) -> bytes:
    """The status line and headers of the server's answer (fails after ``within`` seconds)."""
    async with asyncio.timeout(within):
        return await reader.readuntil(b"\r\n\r\n")


async def until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``within`` seconds)."""
    data = b""
    async with asyncio.timeout(within):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    return int(answer[9:12])


def head(path: str, length: int | None, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- bodies ---------------------------------------------------------------------------------------------


async def test_a_declared_length_over_the_limit_is_413_before_any_of_the_body_is_read(tmp_path):
    sink = MemorySink()
    async with serving(webhook(tmp_path, sink)) as src:
        assert src.port is not None
        reader, writer = await connect(src.port)
        writer.write(head("/ingest", 50 * 1024 * 1024, Authorization=f"Bearer {TOKEN}"))  # and no body
        await writer.drain()
        answer = await until_closed(reader, 2.0)  # answered and closed without waiting for 50 MB
        writer.close()
    assert status_of(answer) == 413 and b"body over 4096 bytes" in answer
    assert b"Connection: close" in answer
    assert sink.added == []
    assert count(src, "http_limited_total", reason="body_too_large") == 1
    assert count(src, "requests_rejected_total", status="413") == 1


async def test_a_chunked_body_is_cut_off_with_413_once_it_passes_the_limit(tmp_path):
    sink = MemorySink()
    async with serving(webhook(tmp_path, sink)) as src:
        assert src.port is not None
        reader, writer = await connect(src.port)
        writer.write(head("/ingest", None, Authorization=f"Bearer {TOKEN}"))
        sent = 0
        answer = b""
        for _ in range(1000):  # up to 1 MB, 1 KB a chunk; the server answers long before
            writer.write(b"400\r\n" + b" " * 1024 + b"\r\n")
            await writer.drain()
            sent += 1024
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(65536), 0.01)
            if answer:
                break
        writer.close()
    assert status_of(answer) == 413
    assert sent < 256 * 1024, f"answered only after {sent} bytes"
    assert sink.added == [] and count(src, "http_limited_total", reason="body_too_large") == 1


async def test_meta_refuses_an_oversized_delivery_before_computing_any_signature(tmp_path, monkeypatch):
    checked: list[int] = []
    real = meta_module.signature_ok

    def spy(secret: bytes, body: bytes, header: str | None) -> bool:
        checked.append(len(body))
        return real(secret, body, header)

    monkeypatch.setattr(meta_module, "signature_ok", spy)
    big = b'{"object": "page", "entry": []}' + b" " * (2 * 1024 * 1024)
    signature = "sha256=" + hmac.new(SECRET.encode(), big, hashlib.sha256).hexdigest()
    sink = MemorySink()
    async with serving(meta(tmp_path, sink)) as src:
        assert src.port is not None
        reader, writer = await connect(src.port)  # declared length: 413 before a byte of the body
        writer.write(head("/meta/webhook", len(big), X_Hub_Signature_256=signature))
        await writer.drain()
        answer = await answer_head(reader, 1.0)
        writer.close()
        assert status_of(answer) == 413

        async def chunks() -> AsyncIterator[bytes]:  # chunked: cut off at 1 MiB, still no signature check
            for i in range(0, len(big), 64 * 1024):
                yield big[i : i + 64 * 1024]

        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{src.port}/meta/webhook",
                data=chunks(),
                headers={"X-Hub-Signature-256": signature},
            ) as resp,
        ):
            assert resp.status == 413
    assert checked == [] and sink.added == []
    assert count(src, "signature_failures_total") == 0
    assert count(src, "http_limited_total", reason="body_too_large") == 2


async def test_a_slow_body_gets_408_within_the_body_timeout(tmp_path):
    sink = MemorySink()
    async with serving(webhook(tmp_path, sink)) as src:
        assert src.port is not None
        reader, writer = await connect(src.port)
        body = orjson.dumps(post(1))
        writer.write(head("/ingest", len(body), Authorization=f"Bearer {TOKEN}"))
        started = time.monotonic()
        answer = b""
        for byte in body:  # one byte every 0.1 s: the whole body would take seconds
            writer.write(bytes([byte]))
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(65536), 0.1)
            if answer:
                break
        took = time.monotonic() - started
        writer.close()
    assert status_of(answer) == 408 and 0.9 < took < 2.5
    assert sink.added == [] and count(src, "http_limited_total", reason="body_timeout") == 1


async def test_the_concurrency_limit_covers_reading_the_body(tmp_path):
    """With one slot, a request whose body has not arrived holds it: the next waits, its body unread."""
    sink = MemorySink()
    async with serving(webhook(tmp_path, sink, webhook_max_concurrency=1)) as src:
        assert src.port is not None
        reader, writer = await connect(src.port)
        writer.write(head("/ingest", 100, Authorization=f"Bearer {TOKEN}") + b"[")  # 1 byte of 100
        await writer.drain()
        await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as http:

            async def send() -> int:
                async with http.post(f"http://127.0.0.1:{src.port}/ingest", json=post(1), headers=AUTH) as r:
                    return r.status

            second = asyncio.create_task(send())
            await asyncio.sleep(0.5)
            assert not second.done() and count(src, "posts_received_total") == 0, "waits, unread"
            answer = await until_closed(reader, 3.0)  # the slow body: 408 at the body timeout
            assert await second == 202  # then the slot is free
        writer.close()
    assert status_of(answer) == 408
    assert [p["post_id"] for p in sink.stored] == ["p1"]
    assert count(src, "http_limited_total", reason="body_timeout") == 1


async def test_a_request_that_waits_too_long_for_a_slot_gets_503_with_retry_after(tmp_path):
    sink = MemorySink()
    sink.gate.clear()  # Kafka stalls: the first delivery holds the only slot
    src = webhook(tmp_path, sink, webhook_max_concurrency=1, http_body_timeout_s=0.5)
    async with serving(src), aiohttp.ClientSession(base_url=f"http://127.0.0.1:{src.port}") as http:

        async def send(i: int) -> tuple[int, str | None]:
            async with http.post("/ingest", json=post(i), headers=AUTH) as r:
                return r.status, r.headers.get("Retry-After")

        first = asyncio.create_task(send(1))
        await wait_for(lambda: count(src, "posts_received_total") == 1)
        assert await send(2) == (503, "1")
        sink.gate.set()
        assert await first == (202, None)
    assert count(src, "http_limited_total", reason="busy") == 1


async def test_bodies_waiting_for_a_slot_are_not_read(tmp_path):
    """Deliveries stuck on Kafka hold their slots: later requests are not read (nothing parsed)."""
    sink = MemorySink()
    sink.gate.clear()  # Kafka stalls: deliveries wait inside their slots
    src = webhook(tmp_path, sink, webhook_max_concurrency=2, http_body_timeout_s=10.0)
    async with serving(src), aiohttp.ClientSession(base_url=f"http://127.0.0.1:{src.port}") as http:

        async def send(i: int) -> int:
            async with http.post("/ingest", json=[post(i)], headers=AUTH) as resp:
                return resp.status

        sends = [asyncio.create_task(send(i)) for i in range(5)]
        await wait_for(lambda: count(src, "posts_received_total") >= 2)
        await asyncio.sleep(0.2)
        assert count(src, "posts_received_total") == 2, "only the two requests holding a slot were read"
        sink.gate.set()
        assert await asyncio.gather(*sends) == [202] * 5
    assert sorted(p["post_id"] for p in sink.stored) == [f"p{i}" for i in range(5)]


# --- slow heads and many connections ------------------------------------------------------------------


async def test_a_head_sent_a_byte_at_a_time_is_cut_off_at_the_header_timeout(tmp_path):
    async with serving(webhook(tmp_path)) as src:
        assert src.port is not None
        reader, writer = await connect(src.port)
        started = time.monotonic()
        closed_after = None
        for byte in b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 100:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                data = await asyncio.wait_for(reader.read(1024), 0.1)
            except TimeoutError:
                continue
            except ConnectionError:
                data = b""
            closed_after = time.monotonic() - started
            break
        writer.close()
    assert closed_after is not None and 0.9 < closed_after < 2.5, closed_after
    assert data.startswith(b"HTTP/1.1 408 Request Timeout"), data
    assert count(src, "http_limited_total", reason="header_timeout") == 1


async def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout(tmp_path):
    async with serving(webhook(tmp_path)) as src:
        assert src.port is not None
        reader, writer = await connect(src.port)
        started = time.monotonic()
        assert await until_closed(reader, 3.0) == b""
        took = time.monotonic() - started
        writer.close()
    assert 0.9 < took < 2.5
    assert count(src, "http_limited_total", reason="header_timeout") == 1


async def test_an_idle_kept_alive_connection_is_closed_at_the_idle_timeout(tmp_path):
    async with serving(webhook(tmp_path, http_idle_timeout_s=0.5)) as src:
        assert src.port is not None
        reader, writer = await connect(src.port)
        body = orjson.dumps(post(1))
        writer.write(head("/ingest", len(body), Authorization=f"Bearer {TOKEN}") + body)
        await writer.drain()
        answered = time.monotonic()
        answer = await until_closed(reader, 3.0)
        took = time.monotonic() - answered
        writer.close()
    assert status_of(answer) == 202 and 0.4 < took < 2.0
    assert count(src, "http_limited_total", reason="idle_timeout") == 1


async def test_connections_beyond_the_limit_are_refused_at_once(tmp_path):
    async with serving(webhook(tmp_path, http_max_connections=20, http_header_timeout_s=2.0)) as src:
        assert src.port is not None and src.guard is not None
        held = [await connect(src.port) for _ in range(20)]
        await wait_for(lambda: len(src.guard.connections) == 20)  # type: ignore[union-attr]
        started = time.monotonic()
        extra = [await connect(src.port) for _ in range(80)]
        answers = await asyncio.gather(*(until_closed(r, 1.5) for r, _ in extra))
        refused_within = time.monotonic() - started
        assert len(src.guard.connections) == 20
        assert all(status_of(a) == 503 and b"Retry-After: 1" in a for a in answers)
        # the held ones are slow clients too: closed at the header timeout, and the door opens again
        await asyncio.gather(*(until_closed(r, 3.0) for r, _ in held))
        assert len(src.guard.connections) == 0
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{src.port}/ingest", json=post(1), headers=AUTH) as resp,
        ):
            assert resp.status == 202
        for _, w in held + extra:
            w.close()
    assert refused_within < 1.5, "refused at once, before the header timeout (2 s)"
    assert count(src, "http_limited_total", reason="connection_limit") == 80
    assert count(src, "http_limited_total", reason="header_timeout") == 20


# --- rates -----------------------------------------------------------------------------------------------


async def test_over_the_token_rate_429_with_retry_after_then_allowed_again(tmp_path):
    sink = MemorySink()
    src = webhook(tmp_path, sink, http_token_rate=1.0, http_rate_burst_s=1.0)
    async with (
        serving(src),
        aiohttp.ClientSession(base_url=f"http://127.0.0.1:{src.port}") as http,
    ):
        async with http.post("/ingest", json=post(1), headers=AUTH) as r:
            assert r.status == 202
        async with http.post("/ingest", json=post(2), headers=AUTH) as r:
            assert r.status == 429
            retry = int(r.headers["Retry-After"])
            assert (await r.json())["retry_after_s"] == retry
        assert retry == 1
        await asyncio.sleep(retry)
        async with http.post("/ingest", json=post(3), headers=AUTH) as r:
            assert r.status == 202
    assert [p["post_id"] for p in sink.stored] == ["p1", "p3"]
    assert count(src, "http_limited_total", reason="rate_limit_token") == 1
    assert count(src, "requests_rejected_total", status="429") == 1


async def test_wrong_tokens_are_limited_per_address_and_do_not_spend_the_tokens_rate(tmp_path):
    src = webhook(tmp_path, http_ip_rate=1.0, http_rate_burst_s=2.0)
    async with (
        serving(src),
        aiohttp.ClientSession(base_url=f"http://127.0.0.1:{src.port}") as http,
    ):
        statuses = []
        for _ in range(4):
            async with http.post("/ingest", json=post(1), headers={"Authorization": "Bearer guess"}) as r:
                statuses.append(r.status)
                if r.status == 429:
                    assert int(r.headers["Retry-After"]) >= 1
        async with http.post("/ingest", json=post(1), headers=AUTH) as r:
            assert r.status == 202
    assert statuses == [401, 401, 429, 429]
    assert count(src, "http_limited_total", reason="rate_limit_ip") == 2
    assert count(src, "signature_failures_total") == 2


def test_token_buckets_refill_at_the_rate_up_to_the_burst():
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst_s=1.5, clock=lambda: now[0])  # 3 at once, then 2 a second
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # keys are apart
    now[0] = 0.5
    assert buckets.take("a") == 0.0 and buckets.take("a") == pytest.approx(0.5)
    now[0] = 100.0
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, not beyond
    assert TokenBuckets(rate=0.0, burst_s=1.0).take("x") == 0.0  # 0: no limit


def test_token_buckets_keep_a_bounded_number_of_keys():
    buckets = TokenBuckets(rate=1.0, burst_s=1.0, max_keys=100)
    for i in range(1000):
        buckets.take(f"ip:10.0.{i // 256}.{i % 256}")
    assert len(buckets) == 100


def test_a_blank_token_is_never_a_token():
    guard = HttpGuard(HttpLimits(), tokens=[None, "", "   "])
    assert guard._tokens == []


def test_the_limits_defaults_are_the_settings_defaults(tmp_path):
    """A server built without settings (a source's metrics port) gets what an unset environment gives."""
    assert HttpLimits.from_settings(make_settings(tmp_path)) == HttpLimits()
