"""The Faust app: topics, the two agents and the services around them, declared apart like Faust's
examples. Ticket state is the runtime's own (stream.state), not a Faust table.

Agents take one Kafka record per step; a raw record is a frame of many posts, which is what makes Faust's
per-record cost (~450 us here) affordable at firehose rates.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import faust
from mode import Service

from stream.kafka.records import TopicPartition
from stream.settings import Settings
from stream.worker.runtime import PipelineRuntime
from stream.worker.transport import TriageApp, faust_brokers, faust_credentials
from stream.worker.web import WebServer

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> tuple[faust.App, PipelineRuntime]:
    kafka = settings.kafka
    app = TriageApp(
        settings.app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        broker=faust_brokers(kafka),
        broker_credentials=faust_credentials(kafka),
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout_s,
        broker_rebalance_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 5),
        broker_request_timeout=max(30.0, settings.session_timeout_s * 3),
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=settings.group_instance_id,
        consumer_max_fetch_size=settings.max_record_bytes * 2,
        producer_max_request_size=settings.max_record_bytes * 2 + 65536,
        producer_acks=-1,
        web_enabled=True,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=settings.web_host,
        datadir=str(settings.data_dir / "faust"),
        logging_config=None,
    )
    topics = settings.topics

    # --- topics ------------------------------------------------------------------------------------------
    raw_topic = app.topic(topics.raw, value_type=bytes, key_type=bytes, partitions=settings.partitions)
    # Stage two reads three topics, all partitioned by ticket id (murmur2, as any Kafka client does).
    ticket_topics = app.topic(
        topics.actionable,
        topics.ticket_events,
        topics.commands,
        value_type=bytes,
        key_type=bytes,
        partitions=settings.partitions,
    )

    def consumer_state() -> str:
        c: Any = app.consumer  # private fields, for diagnosis only
        paused = sorted(map(tuple, c._paused_partitions))
        active = sorted(map(tuple, c._active_partitions or ()))
        return (
            f"paused={paused} active={active} read={dict(c._read_offset)} "
            f"committed={dict(c._committed_offset)} flow_active={c.flow_active}"
        )

    async def commit(offsets: dict[TopicPartition, int]) -> bool:
        """Through Faust's consumer thread, so the commit carries the current generation and Faust's
        livelock detector sees it."""
        consumer: Any = app.consumer
        return bool(await consumer._thread.commit({faust.types.TP(t, p): o for (t, p), o in offsets.items()}))

    # Ticket state lives in the runtime's own disk-backed store with its changelog (stream.state), not in
    # a Faust table: the runtime writes the changelog with each input's other outputs and restores it to
    # the changelog's true end, which Faust's recovery does not on every broker.
    rt = PipelineRuntime(settings, commit=commit, consumer_state=consumer_state)

    # --- services ----------------------------------------------------------------------------------------
    @app.service
    class Runtime(Service):
        """Starts the batched sink and the followers with the worker (before the agents need them)."""

        async def on_start(self) -> None:
            await rt.start()

        async def on_stop(self) -> None:
            await rt.stop()

    app.web_server(WebServer(rt, settings.web_host, settings.web_port))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode types sync-only receivers
    async def on_assigned(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs.get("assigned", set())
        rt.on_assignment({TopicPartition(tp.topic, tp.partition) for tp in assigned})

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", set())
        await rt.on_revoked({TopicPartition(tp.topic, tp.partition) for tp in revoked})

    # --- agents ------------------------------------------------------------------------------------------
    @app.agent(raw_topic, name="triage")
    async def triage(stream: faust.StreamT[bytes]) -> None:
        await rt.ready.wait()
        await rt.process_stream("triage", cast(faust.Stream, stream).noack().events(), rt.handle_raw)

    @app.agent(ticket_topics, name="route")
    async def route(stream: faust.StreamT[bytes]) -> None:
        await rt.ready.wait()
        await rt.process_stream("route", cast(faust.Stream, stream).noack().events(), rt.handle_ticketing)

    return app, rt
