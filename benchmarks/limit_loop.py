"""The limit: the same two stages driven by a hand-written aiokafka loop, no Faust.

Why: it separates what the pipeline's own work costs (parsing, validation, dedupe, scoring, routing,
ticket building, the batched producing) from what Faust adds per record (events, sensors, flow control,
acks). It reuses :class:`stream.worker.runtime.PipelineRuntime` as is: the same ``handle_raw`` /
``handle_actionable`` with the same pure stages, the same coalescing sink, the same metrics; the same
topics (raw -> actionable -> tickets, audit, dedupe changelog) and the same at-least-once rule (an offset is
committed only once the outputs of its record are stored). Only the consumer loop is hand-written:
``getmany`` over both input topics with manual assignment (no consumer-group join).

Runs as ``python -m benchmarks.limit_loop`` with a worker's environment; serves the same ``/metrics`` on
``TRIAGE_WEB_PORT`` so the harness reads it exactly like a Faust worker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import start_http_server

from stream.settings import Settings
from stream.worker.runtime import Delivery, PipelineRuntime

__all__ = ["run_limit_loop"]


async def run_limit_loop(settings: Settings, max_in_flight: int = 256, commit_every_s: float = 1.0) -> None:
    rt = PipelineRuntime(settings)
    # stage 2's entry point is being renamed by the lead's work (handle_actionable -> handle_ticketing)
    stage2: Callable[[bytes | None, str, int, int], Awaitable[Delivery]] = (
        getattr(rt, "handle_actionable", None) or rt.handle_ticketing
    )
    start_http_server(settings.web_port, settings.web_host, registry=rt.metrics.registry)
    topics = settings.topics
    await rt.start()
    consumer = AIOKafkaConsumer(
        **settings.kafka.client_kwargs(),
        group_id=f"{settings.app_id}-limit",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        max_partition_fetch_bytes=settings.max_record_bytes * 2,
        fetch_max_bytes=max(52428800, settings.max_record_bytes * 2),
    )
    await consumer.start()
    tps = [TopicPartition(t, p) for t in (topics.raw, topics.actionable) for p in range(settings.partitions)]
    consumer.assign(tps)
    rt.on_assignment({(tp.topic, tp.partition) for tp in tps})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    in_flight: collections.deque[tuple[TopicPartition, int, Delivery]] = collections.deque()
    acked: dict[TopicPartition, int] = {}
    last_commit = time.monotonic()

    def settle() -> None:
        while in_flight and in_flight[0][2].done():
            tp, offset, done = in_flight.popleft()
            done.result()  # a failed write: crash, like the worker
            acked[tp] = offset + 1

    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=settings.fetch_max_wait_ms, max_records=2000)
            for tp, records in batches.items():
                handle = rt.handle_raw if tp.topic == topics.raw else stage2
                stage = "triage" if tp.topic == topics.raw else "route"
                for r in records:
                    if r.timestamp:
                        rt.metrics.record_age.labels(stage).observe(
                            max(0.0, time.time() - r.timestamp / 1000)
                        )
                    in_flight.append((tp, r.offset, await handle(r.value, r.topic, r.partition, r.offset)))
                    settle()
                    if len(in_flight) >= max_in_flight:
                        await in_flight[0][2]
            settle()
            if acked and time.monotonic() - last_commit >= commit_every_s:
                await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in acked.items()})
                acked.clear()
                last_commit = time.monotonic()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.gather(*(d for _, _, d in in_flight))
        await consumer.stop()
        await rt.stop()


def main() -> None:
    asyncio.run(run_limit_loop(Settings()))


if __name__ == "__main__":
    main()
