"""Sources the platform calls (webhooks): an aiohttp listener instead of a connection to keep alive.

A delivery is acknowledged only after its posts are flushed to Kafka, so a sender that gets 2xx can forget
it, and one that gets 503 (Kafka away) retries.

Limits (:mod:`stream.http_limits`, ``TRIAGE_HTTP_*``): connections per server, slow request heads, a rate
per bearer token and per client address (429 with Retry-After). A body is read only through
:meth:`PushSource.body`: a declared length over :attr:`PushSource.max_body` is 413 before a byte of it is
read, a chunked body is cut off with 413 once it passes the limit, it must arrive within
``TRIAGE_HTTP_BODY_TIMEOUT_S`` (else 408), and at most ``TRIAGE_WEBHOOK_MAX_CONCURRENCY`` requests read and
handle their bodies at once (the slot is taken before the first byte is read and held until the answer), so
the bodies in memory stay under that many times ``max_body``. A request waits up to the body timeout for a
slot, then gets 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import SecretStr

from stream.http_limits import BodyLimit, BodyRefused, HttpGuard, HttpLimits, guard_app
from stream.sources.base import Source
from stream.sources.server import refusal_counter, serve

__all__ = ["PushSource"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: bodies over this size are parsed in a thread (see :meth:`PushSource.off_loop`)
OFF_LOOP_BYTES = 64 * 1024


class PushSource(Source):
    """Serves :meth:`routes` on ``source_listen_host:source_listen_port`` until stopped."""

    max_body: int = 1024 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = HttpLimits.from_settings(self.settings)
        self.bodies = BodyLimit(
            self.max_body,
            timeout_s=self.limits.body_timeout_s,
            concurrency=self.settings.webhook_max_concurrency,
            wait_s=self.limits.body_timeout_s,
        )
        self.port: int | None = None
        self.guard: HttpGuard | None = None  # the listener's, once built

    @abstractmethod
    def routes(self) -> list[web.RouteDef]:
        """The endpoints the platform calls."""

    def bearer_tokens(self) -> list[SecretStr | None]:
        """Tokens a caller may present (``Authorization: Bearer``): each gets its own rate limit."""
        return []

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body)
        app.add_routes(self.routes())
        self.guard = HttpGuard(
            self.limits,
            tokens=self.bearer_tokens(),
            on_refused=refusal_counter(self.metrics, lambda: self.name),
        )
        guard_app(app, self.guard)
        return app

    def reject(self, status: int, reason: str, **body: Any) -> web.Response:
        self.metrics.rejected.labels(self.name, str(status)).inc()
        return web.json_response({"error": reason, **body}, status=status)

    @contextlib.asynccontextmanager
    async def body(self, request: web.Request) -> AsyncIterator[bytes]:
        """The request's whole body within the limits, holding a slot until the block ends.

        Raises :class:`BodyRefused`; turn it into the answer with :meth:`refuse`.
        """
        async with self.bodies.read(request) as body:
            yield body

    async def off_loop(self, size: int, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)``: in a thread for a body of ``size`` bytes over :data:`OFF_LOOP_BYTES`, so parsing a
        large body (a 4 MB one takes ~0.2 s) does not hold up the other connections."""
        if size > OFF_LOOP_BYTES:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    def refuse(self, refused: BodyRefused) -> web.Response:
        self.metrics.http_limited.labels(self.name, refused.reason).inc()
        return refused.finish(self.reject(refused.status, refused.message))

    async def deliver(self, posts: list[dict[str, Any]]) -> web.Response | None:
        """Produce ``posts`` and flush; ``None`` when stored, else the 503 to send back.

        Called inside :meth:`body`, whose slot bounds the deliveries in progress.
        """
        try:
            for post in posts:
                await self.emitter.emit(post)
            await self.emitter.commit()
        except Exception as exc:
            log.error("%s: could not store a delivery (%s: %s)", self.name, type(exc).__name__, exc)
            return self.reject(503, "storage unavailable, retry later")
        self.touch()
        return None

    async def session(self) -> None:  # pragma: no cover - push sources override run()
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        status = super().health()
        status["healthy"] = self.connected
        return status

    async def run(self) -> None:
        self.restore(self.emitter.restore())
        runner, self.port = await serve(
            self.build_app(), self.settings.source_listen_host, self.settings.source_listen_port
        )
        log.info("%s: listening on http://%s:%d", self.name, self.settings.source_listen_host, self.port)
        self.mark_connected()
        try:
            await self.stop_event.wait()
        finally:
            self.mark_disconnected()
            await runner.cleanup()
            try:
                await self.emitter.commit()
            except Exception as exc:
                log.error("%s: final flush failed (%s)", self.name, exc)
            await self.close()
