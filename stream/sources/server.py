"""A running source's own HTTP server: Prometheus ``/metrics`` and ``/healthz`` (503 while unhealthy).

Kept apart from the worker's web server, which is tied to the pipeline runtime; push sources mount their
ingest routes on an app of their own (see :mod:`stream.sources.webhook`), not on this one. Both are served
by :func:`serve`, with the limits of :mod:`stream.http_limits` (connections, slow heads, rates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stream.http_limits import GUARD_KEY, HttpGuard, HttpLimits, guard_app, runner_kwargs, start_site
from stream.sources.metrics import SourceMetrics

__all__ = ["build_status_app", "refusal_counter", "serve"]


def refusal_counter(metrics: SourceMetrics, source: Callable[[], str]) -> Callable[[str, int | None], None]:
    """``on_refused`` of a source's servers: ``triage_source_http_limited_total`` by reason, and an answered
    refusal in ``triage_source_requests_rejected_total`` by status too."""

    def on_refused(reason: str, status: int | None) -> None:
        name = source()
        metrics.http_limited.labels(name, reason).inc()
        if status is not None:
            metrics.rejected.labels(name, str(status)).inc()

    return on_refused


def build_status_app(
    metrics: SourceMetrics, health: Callable[[], dict[str, Any]], limits: HttpLimits | None = None
) -> web.Application:
    """``limits``: default :class:`HttpLimits` (the settings' defaults) when not given."""

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        status = health()
        return web.json_response(status, status=200 if status.get("healthy") else 503)

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics_view), web.get("/healthz", healthz)])

    def name() -> str:  # the source's name, asked when a refusal is counted
        return str(health().get("source", "source"))

    guard_app(app, HttpGuard(limits or HttpLimits(), on_refused=refusal_counter(metrics, name)))
    return app


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start ``app`` on ``host:port`` (0: any free port); returns the runner and the bound port.

    Connections go through the app's :class:`HttpGuard` (``guard_app``), or one with default limits.
    """
    guard = app.get(GUARD_KEY)
    if guard is None:
        guard = HttpGuard(HttpLimits())
        guard_app(app, guard)
    runner = web.AppRunner(app, access_log=None, **runner_kwargs(guard.limits))
    await runner.setup()
    bound = await start_site(runner, host, port, guard)
    return runner, bound
