"""The worker's HTTP server: Prometheus ``/metrics``, ``/healthz``, ``/readyz``; 127.0.0.1 by default.

The limits of :mod:`stream.http_limits` (``TRIAGE_HTTP_*``) hold on this port: open connections, slow
request heads and idle connections, a rate per ops token and per client address (429 with Retry-After),
and bodies (ops API writes): at most 1 MiB, 413 at once for a declared length over it, read whole within
the body timeout (else 408) by at most a few requests at once, and only once the ops API's token check let
the request in. Refusals are counted in ``triage_http_limited_total``.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from aiohttp import web
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from stream.http_limits import (
    GUARD_KEY,
    BodyLimit,
    HttpGuard,
    HttpLimits,
    guard_app,
    runner_kwargs,
    start_site,
)
from stream.worker.ops_api import OpsApi, add_ops_routes
from stream.worker.ops_backend import RuntimeOpsBackend
from stream.worker.runtime import PipelineRuntime

__all__ = ["MAX_BODY", "WebServer", "build_web_app", "limited_counter"]

log = logging.getLogger(__name__)

#: largest request body (a routing-rules document is the biggest the ops API takes)
MAX_BODY = 1024 * 1024
#: requests whose bodies are read and handled at once (memory: at most this many times MAX_BODY)
BODY_READERS = 4

_COUNTERS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def limited_counter(registry: CollectorRegistry) -> Counter:
    """``triage_http_limited_total{reason}`` on ``registry`` (made once per registry)."""
    counter = _COUNTERS.get(registry)
    if counter is None:
        counter = Counter(
            "triage_http_limited",
            "Requests and connections refused by an HTTP limit of the worker's port, by reason: "
            "rate_limit_token, rate_limit_ip, connection_limit, header_timeout, idle_timeout, "
            "body_too_large, body_timeout, busy.",
            ["reason"],
            registry=registry,
        )
        _COUNTERS[registry] = counter
    return counter


def build_web_app(runtime: PipelineRuntime) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(runtime.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        if runtime.stalled:  # input waits and nothing moves: let a liveness probe restart this worker
            return web.json_response({"status": "stalled"}, status=503)
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        """Not ready until started and every held partition's ticket state is whole; says what restores."""
        ready, detail = runtime.readiness()
        return web.json_response(detail, status=200 if ready else 503)

    settings = runtime.settings
    limits = HttpLimits.from_settings(settings)
    counter = limited_counter(runtime.metrics.registry)

    def on_refused(reason: str, status: int | None) -> None:
        counter.labels(reason).inc()

    app = web.Application(client_max_size=MAX_BODY)
    # first: the rate limit (per ops token, else per address) before the ops API's token check
    guard_app(app, HttpGuard(limits, tokens=[settings.ops_token], on_refused=on_refused))
    app.add_routes([web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/readyz", readyz)])
    add_ops_routes(
        app, OpsApi(RuntimeOpsBackend(runtime), token=settings.ops_token, partitions=settings.partitions)
    )
    # last: bodies are read (bounded, timed, a few at once) only for requests the token check let in
    bodies = BodyLimit(
        MAX_BODY, timeout_s=limits.body_timeout_s, concurrency=BODY_READERS, wait_s=limits.body_timeout_s
    )
    app.middlewares.append(bodies.middleware(on_refused))
    return app


class WebServer(Service):
    """A mode service so Faust starts and stops it with the worker."""

    def __init__(self, runtime: PipelineRuntime, host: str, port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def on_start(self) -> None:
        app = build_web_app(self.runtime)
        guard = app[GUARD_KEY]
        self._runner = web.AppRunner(app, access_log=None, **runner_kwargs(guard.limits))
        await self._runner.setup()
        self.port = await start_site(self._runner, self.host, self.port, guard)
        log.info("serving /metrics on http://%s:%d", self.host, self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
