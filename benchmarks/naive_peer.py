"""The naive peer: how a straightforward Faust service would be written, on the same machine and input.

One post per Kafka record, ``async for`` per event, everything done for that one post (validate, dedupe,
score, route, build the ticket), then ``topic.send`` per ticket and per audit decision. It is one stage
(no actionable hop, no dedupe changelog), so it does slightly less I/O than the real pipeline; the gap is
Faust's per-record cost and batch-of-one scoring, which is the point of the comparison.

Runs as ``python -m benchmarks.naive_peer`` with a worker's environment; serves ``triage_posts_in_total``
and ``triage_posts_out_total`` on ``TRIAGE_WEB_PORT`` like a worker, so the harness reads it the same way.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, cast

import faust
import orjson
from prometheus_client import start_http_server

from classifiers import load_scorer
from schemas.events import Outcome
from stream.pipeline.triage import TriageStage
from stream.settings import Settings
from stream.tickets.routing import Router, load_rules
from stream.tickets.stage import TicketingStage
from stream.worker.metrics import Metrics
from stream.worker.transport import TriageApp

__all__ = ["create_naive_app"]


def create_naive_app(settings: Settings, metrics: Metrics) -> faust.App:
    app = TriageApp(
        f"{settings.app_id}-naive",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        broker=[f"kafka://{h.strip()}" for h in settings.bootstrap.split(",")],
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        broker_session_timeout=settings.session_timeout_s,
        broker_rebalance_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 5),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=False,
        datadir=str(settings.data_dir / "naive"),
        logging_config=None,
    )
    topics = settings.topics
    raw = app.topic(topics.raw, value_type=bytes, key_type=bytes, partitions=settings.partitions)
    tickets = app.topic(topics.tickets, value_type=bytes, key_type=bytes, partitions=settings.partitions)
    audit = app.topic(topics.audit, value_type=bytes, key_type=bytes, partitions=settings.partitions)
    triage = TriageStage(settings, load_scorer(settings.model_dir))
    router = Router(load_rules(settings.rules_path))
    # stage 2's constructor is changing under the lead's work (issue 5 adds settings and a state store)
    takes_settings = "settings" in inspect.signature(TicketingStage).parameters
    ticketing = (
        cast(Any, TicketingStage)(router, settings) if takes_settings else cast(Any, TicketingStage)(router)
    )

    @app.agent(raw, name="naive")
    async def naive(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            now = time.time()
            items, out = triage.decode(msg.value, msg.topic, msg.partition, msg.offset, now)
            if items:
                triage.process(items, msg.topic, msg.partition, msg.offset, now, out)
            emitted = dead = 0
            for frame in out.forward:
                routed = ticketing.process(frame.value, topics.actionable, frame.partition or 0, 0, now)
                for rec in routed.tickets:
                    await tickets.send(key=rec.key, value=rec.value, headers=rec.headers)
                if hasattr(routed, "dead_posts"):  # newer TicketingOutput: posts excludes dead letters
                    emitted += routed.posts
                    dead += routed.dead_posts
                else:
                    emitted += routed.posts - len(routed.dead_letters)
                    dead += len(routed.dead_letters)
            for decision in out.audit:
                await audit.send(value=orjson.dumps(decision))
            metrics.posts_in.inc(out.posts_in)
            for outcome in (Outcome.FILTERED, Outcome.DUPLICATE, Outcome.DEAD_LETTER):
                if out.outcomes[outcome]:
                    metrics.posts_out.labels(outcome.value).inc(out.outcomes[outcome])
            if emitted:
                metrics.posts_out.labels(Outcome.TICKET.value).inc(emitted)
            if dead:
                metrics.posts_out.labels(Outcome.DEAD_LETTER.value).inc(dead)

    return app


def main() -> None:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    start_http_server(settings.web_port, settings.web_host, registry=metrics.registry)
    app = create_naive_app(settings, metrics)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
