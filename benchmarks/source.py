"""The load source of a benchmark run, in its own process: the firehose generator paced into Kafka.

Why a process of its own: on this 2-core machine the generator competes with the workers and the broker,
so it must show up as its own PID in the CPU figures, and a slow harness must not slow the source down.
Connection and topics come from the environment like a worker's (``KAFKA_BOOTSTRAP_SERVERS``,
``TRIAGE_TOPIC_PREFIX``, ``TRIAGE_PARTITIONS``). It prints one JSON line about every 0.1 s
(``{"at": unix time, "sent": posts}``) and a final ``{"done": ...}`` line with the run's figures. The
harness's backlog is sent minus accounted: at 9,000/s, a count 0.5 s old would be 4,500 posts short.

``--single`` writes one post per record (the shape the naive peer expects) instead of frames.
``--pregenerate`` invents the run's posts before the clock starts (printing ``{"ready": ...}`` when done),
so the generator does not take cores from the pipeline it loads; the producer's work stays on the clock.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from stream.kafka.batch_sink import BatchSink
from stream.kafka.records import OutRecord
from stream.settings import Settings
from stream.sources.producer import PostProducer, partition_of
from stream.sources.synthetic.generator import BurstProfile, FirehoseGenerator, Pregenerated, pregenerate, run

__all__ = ["SinglePostProducer", "main"]


class SinglePostProducer:
    """One post per Kafka record, partitioned by dedupe key like :class:`PostProducer`, written through the
    coalescing :class:`BatchSink` so the source itself is not the bottleneck of the naive peer's run."""

    def __init__(self, settings: Settings, max_in_flight: int = 20_000) -> None:
        self.settings = settings
        self.sink = BatchSink.from_settings(settings, "bench-single-source")
        self._in_flight: list[asyncio.Future[None]] = []
        self._max_in_flight = max_in_flight

    async def __aenter__(self) -> SinglePostProducer:
        await self.sink.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.flush()
        await self.sink.stop()

    async def add(self, post: Any) -> None:
        if isinstance(post, dict) and not post.get("ingested_at"):
            post = {**post, "ingested_at": datetime.now(UTC).isoformat()}
        record = OutRecord(orjson.dumps(post), partition=partition_of(post, self.settings))
        self._in_flight.append(await self.sink.send(self.settings.topics.raw, [record]))
        if len(self._in_flight) >= self._max_in_flight:
            await self.flush()

    async def flush(self) -> None:
        in_flight, self._in_flight = self._in_flight, []
        await asyncio.gather(*in_flight)


class _Counting:
    """Counts posts handed to the producer, for the harness's input-rate series."""

    def __init__(self, inner: PostProducer | SinglePostProducer) -> None:
        self.inner = inner
        self.sent = 0

    async def add(self, post: Any) -> None:
        await self.inner.add(post)
        self.sent += 1

    async def add_many(self, posts: list[Any]) -> None:
        if isinstance(self.inner, PostProducer):
            await self.inner.add_many(posts)
        else:
            for post in posts:
                await self.inner.add(post)
        self.sent += len(posts)

    async def flush(self) -> None:
        await self.inner.flush()


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(doc) + b"\n")
    sys.stdout.buffer.flush()


async def _main(args: argparse.Namespace) -> None:
    settings = Settings()
    burst = BurstProfile(args.burst_at, args.burst_for, args.burst_x) if args.burst_for > 0 else None
    firehose = FirehoseGenerator(args.seed, rate=args.rate)
    gen: FirehoseGenerator | Pregenerated = firehose
    before_clock: dict[str, Any] = {}  # what pre-generation cost, outside the run's figures
    if args.pregenerate:
        g0 = time.process_time()
        gen = pregenerate(firehose, args.rate, args.duration, args.count, burst)
        before_clock = {"pregenerated": len(gen), "pregeneration_cpu_s": round(time.process_time() - g0, 3)}
        _emit({"ready": True, "at": time.time(), "sent": 0, **before_clock})
    producer: PostProducer | SinglePostProducer = (
        SinglePostProducer(settings) if args.single else PostProducer(settings, linger_s=args.linger)
    )
    async with producer:
        counting = _Counting(producer)

        async def progress() -> None:
            while True:
                _emit({"at": time.time(), "sent": counting.sent})
                await asyncio.sleep(0.1)

        ticker = asyncio.create_task(progress())
        started = time.time()
        t0 = time.process_time()
        try:
            stats = await run(
                counting, args.rate, args.duration, args.count, burst, generator=gen, max_chunk=1000
            )
        finally:
            ticker.cancel()
    _emit(
        {
            "done": True,
            "at": time.time(),
            "started": started,
            "sent": stats.sent,
            "elapsed_s": round(stats.elapsed_s, 3),
            "rate": round(stats.actual_rate, 1),
            "peak_rate": round(stats.peak_rate, 1),
            "generation_cpu_s": round(stats.generation_s, 3),
            "cpu_s": round(time.process_time() - t0, 3),
            **before_clock,
        }
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.source", description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, required=True, help="posts/s (a huge value: flat out)")
    p.add_argument("--duration", type=float, default=None)
    p.add_argument("--count", type=int, default=None)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--single", action="store_true", help="one post per record (naive peer input)")
    p.add_argument("--pregenerate", action="store_true", help="invent the posts before the clock starts")
    p.add_argument("--linger", type=float, default=0.05, help="PostProducer linger (s)")
    p.add_argument("--burst-at", type=float, default=0.0)
    p.add_argument("--burst-for", type=float, default=0.0)
    p.add_argument("--burst-x", type=float, default=10.0)
    args = p.parse_args(argv)
    if args.duration is None and args.count is None:
        p.error("give --duration or --count")
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
