"""Sources the platform calls (webhooks): an aiohttp listener instead of a connection to keep alive.

A delivery is acknowledged only after its posts are flushed to Kafka, so a sender that gets 2xx can forget
it, and one that gets 503 (Kafka away) retries. A semaphore bounds requests in progress; more wait in the
TCP backlog, which is how backpressure reaches a sender.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from typing import Any

from aiohttp import web

from stream.sources.base import Source
from stream.sources.server import serve

__all__ = ["PushSource"]

log = logging.getLogger(__name__)


class PushSource(Source):
    """Serves :meth:`routes` on ``source_listen_host:source_listen_port`` until stopped."""

    max_body: int = 1024 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = asyncio.Semaphore(self.settings.webhook_max_concurrency)
        self.port: int | None = None

    @abstractmethod
    def routes(self) -> list[web.RouteDef]:
        """The endpoints the platform calls."""

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body)
        app.add_routes(self.routes())
        return app

    def reject(self, status: int, reason: str, **body: Any) -> web.Response:
        self.metrics.rejected.labels(self.name, str(status)).inc()
        return web.json_response({"error": reason, **body}, status=status)

    async def deliver(self, posts: list[dict[str, Any]]) -> web.Response | None:
        """Produce ``posts`` and flush; ``None`` when stored, else the 503 to send back."""
        async with self._slots:
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
