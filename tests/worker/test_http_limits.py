"""The worker port's door (stream.http_limits): rates per ops token and per address, bodies, slow clients,
connections. No Kafka: the web server runs alone on 127.0.0.1, with timeouts of about a second."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from pydantic import SecretStr

from classifiers import LexiconScorer
from stream.settings import Settings
from stream.worker.runtime import PipelineRuntime
from stream.worker.web import WebServer

TOKEN = "ops-s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.asynccontextmanager
async def worker_port(**settings: Any) -> AsyncIterator[tuple[WebServer, PipelineRuntime]]:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": "127.0.0.1:1",
        "ops_token": SecretStr(TOKEN),
        "http_header_timeout_s": 1.0,
        "http_body_timeout_s": 1.0,
        **settings,
    }
    runtime = PipelineRuntime(Settings(**values), scorer=LexiconScorer())
    server = WebServer(runtime, "127.0.0.1", 0)
    await server.on_start()
    try:
        yield server, runtime
    finally:
        await server.on_stop()


def limited(runtime: PipelineRuntime, reason: str) -> float:
    value = runtime.metrics.registry.get_sample_value("triage_http_limited_total", {"reason": reason})
    return value or 0.0


async def until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
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


async def test_over_the_ops_tokens_rate_429_with_retry_after_then_allowed_again() -> None:
    async with (
        worker_port(http_token_rate=1.0, http_rate_burst_s=1.0) as (server, runtime),
        aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as http,
    ):
        async with http.get("/api/tickets", headers=AUTH) as r:
            assert r.status == 200
        async with http.get("/api/tickets", headers=AUTH) as r:
            assert r.status == 429
            retry = int(r.headers["Retry-After"])
        assert retry == 1
        async with http.get("/metrics") as r:  # other callers have their own buckets
            assert r.status == 200
        await asyncio.sleep(retry)
        async with http.get("/api/tickets", headers=AUTH) as r:
            assert r.status == 200
        assert limited(runtime, "rate_limit_token") == 1
        async with http.get("/metrics") as r:
            assert b'triage_http_limited_total{reason="rate_limit_token"} 1.0' in await r.read()


async def test_callers_without_the_token_are_limited_per_address() -> None:
    async with (
        worker_port(http_ip_rate=1.0, http_rate_burst_s=2.0) as (server, runtime),
        aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as http,
    ):
        statuses = []
        for path, headers in [
            ("/healthz", {}),
            ("/api/tickets", {"Authorization": "Bearer guess"}),
            ("/metrics", {}),
            ("/api/tickets", {"Authorization": "Bearer guess"}),
        ]:
            async with http.get(path, headers=headers) as r:
                statuses.append(r.status)
        async with http.get("/api/tickets", headers=AUTH) as r:  # the token has a bucket of its own
            assert r.status == 200
    assert statuses == [200, 401, 429, 429]
    assert limited(runtime, "rate_limit_ip") == 2


async def test_an_oversized_body_is_413_at_once_and_an_unauthorised_one_is_never_read() -> None:
    async with worker_port() as (server, runtime):
        bearer = f"Authorization: Bearer {TOKEN}\r\n"
        for request, auth, expected in (
            ("PUT /api/rules", bearer, 413),
            ("PUT /api/rules", "", 401),
            ("POST /metrics", "", 405),  # no route takes a body there: never read
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            length = 50 * 1024 * 1024
            writer.write(f"{request} HTTP/1.1\r\nHost: w\r\n{auth}Content-Length: {length}\r\n\r\n".encode())
            await writer.drain()
            async with asyncio.timeout(1.0):
                answer = await reader.readuntil(b"\r\n\r\n")
            writer.close()
            assert status_of(answer) == expected
        assert limited(runtime, "body_too_large") == 1


async def test_a_chunked_body_over_the_limit_is_cut_off() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"#" * 65536  # 4 MiB in all; the limit is 1 MiB

    async with (
        worker_port() as (server, runtime),
        aiohttp.ClientSession() as http,
        http.put(f"http://127.0.0.1:{server.port}/api/rules", data=chunks(), headers=AUTH) as r,
    ):
        assert r.status == 413
    assert limited(runtime, "body_too_large") == 1


async def test_a_slow_body_gets_408_within_the_body_timeout() -> None:
    async with worker_port() as (server, runtime):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(f"PUT /api/rules HTTP/1.1\r\nHost: w\r\nAuthorization: Bearer {TOKEN}\r\n".encode())
        writer.write(b"Content-Length: 100\r\n\r\nversion: 1\n")
        await writer.drain()
        started = time.monotonic()
        async with asyncio.timeout(3.0):
            answer = await reader.readuntil(b"\r\n\r\n")
        took = time.monotonic() - started
        writer.close()
    assert status_of(answer) == 408 and 0.9 < took < 2.5
    assert limited(runtime, "body_timeout") == 1


async def test_a_slow_head_is_cut_off_at_the_header_timeout() -> None:
    async with worker_port() as (server, runtime):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        data = b""
        for byte in b"GET /metrics HTTP/1.1\r\nHost: w\r\nX-Padding: " + b"a" * 100:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                data = await asyncio.wait_for(reader.read(1024), 0.1)
            except TimeoutError:
                continue
            except ConnectionError:
                pass
            break
        took = time.monotonic() - started
        writer.close()
    assert data.startswith(b"HTTP/1.1 408") and 0.9 < took < 2.5, (data, took)
    assert limited(runtime, "header_timeout") == 1


async def test_connections_beyond_the_limit_are_refused_at_once_and_slow_ones_do_not_pile_up() -> None:
    async with worker_port(http_max_connections=10, http_header_timeout_s=2.0) as (server, runtime):
        conns = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(100)]
        started = time.monotonic()

        async def closed(reader: asyncio.StreamReader) -> tuple[bytes, float]:
            answer = await until_closed(reader, 5.0)
            return answer, time.monotonic() - started

        results = await asyncio.gather(*(closed(r) for r, _ in conns))  # every one is closed
        refused = [took for answer, took in results if answer.startswith(b"HTTP/1.1 503")]
        held = [took for answer, took in results if answer == b""]
        assert len(refused) == 90 and len(held) == 10
        assert max(refused) < 1.5, "refused at once, not at the header timeout"
        assert all(1.5 < took < 4.0 for took in held), "the slow ones closed at the header timeout"
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{server.port}/healthz") as r:
            assert r.status == 200
        for _, w in conns:
            w.close()
    assert limited(runtime, "connection_limit") == 90
    assert limited(runtime, "header_timeout") == 10
