"""A running source's own HTTP server: Prometheus ``/metrics`` and ``/healthz`` (503 while unhealthy).

Kept apart from the worker's web server, which is tied to the pipeline runtime; push sources mount their
ingest routes on an app of their own (see :mod:`stream.sources.webhook`), not on this one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stream.sources.metrics import SourceMetrics

__all__ = ["build_status_app", "serve"]


def build_status_app(metrics: SourceMetrics, health: Callable[[], dict[str, Any]]) -> web.Application:
    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        status = health()
        return web.json_response(status, status=200 if status.get("healthy") else 503)

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics_view), web.get("/healthz", healthz)])
    return app


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start ``app`` on ``host:port`` (0: any free port); returns the runner and the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)
