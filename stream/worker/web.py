"""The worker's HTTP server: Prometheus ``/metrics``, ``/healthz``, ``/readyz``; 127.0.0.1 by default."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stream.worker.ops_api import OpsApi, add_ops_routes
from stream.worker.ops_backend import RuntimeOpsBackend
from stream.worker.runtime import PipelineRuntime

__all__ = ["WebServer", "build_web_app"]

log = logging.getLogger(__name__)


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

    app = web.Application(client_max_size=1024 * 1024)
    app.add_routes([web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/readyz", readyz)])
    settings = runtime.settings
    add_ops_routes(
        app, OpsApi(RuntimeOpsBackend(runtime), token=settings.ops_token, partitions=settings.partitions)
    )
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
        self._runner = web.AppRunner(build_web_app(self.runtime), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("serving /metrics on http://%s:%d", self.host, self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
