"""Push N posts through the running pipeline on the embedded broker and print posts/s.

Two modes:
- ``drain``: the raw topic is filled first, then a worker is started and timed until every post is
  accounted for. This is the worker's own throughput, with the source not competing for the 2 cores.
- ``live``: the source produces while the worker consumes, as in production.

    python -m benchmarks.pipeline_throughput --posts 100000 --mode drain
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stream.kafka.admin import ensure_topics
from stream.local.broker import EmbeddedBroker, free_port
from stream.local.promtext import histogram_quantile, scrape
from stream.local.worker_process import WorkerProcess, accounted
from stream.settings import Settings
from stream.sources.producer import PostProducer
from stream.sources.synthetic.generator import FirehoseGenerator

RESULTS = Path(__file__).parent / "results"


def make_posts(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """The project's firehose generator: mixed intents, redeliveries, reposts, replies, campaigns."""
    return [dict(p) for p in FirehoseGenerator(seed=seed).take(n)]


async def produce(settings: Settings, posts: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    async with PostProducer(settings, linger_s=0.02) as producer:
        for p in posts:
            await producer.add(p)
    return time.perf_counter() - started


async def bench(posts_n: int, mode: str, partitions: int) -> dict[str, Any]:
    posts = make_posts(posts_n)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker:
        settings = Settings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            partitions=partitions,
            web_port=free_port(),
            data_dir=Path(tmp) / "data",
        )
        await ensure_topics(settings.kafka, settings.topic_specs())
        worker = WorkerProcess(settings, Path(tmp) / "worker.log")
        produce_s = None
        if mode == "drain":
            produce_s = await produce(settings, posts)
            worker.start()
            await worker.wait_ready()
        else:
            worker.start()
            await worker.wait_ready()
            # let the consumer group settle so the run measures processing, not the join
            await asyncio.sleep(10)
        producing = asyncio.create_task(produce(settings, posts)) if mode == "live" else None
        t_first = t_last = None
        samples = []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            s = await asyncio.to_thread(scrape, worker.metrics_url)
            posts_in, out = accounted(s)
            now = time.perf_counter()
            if posts_in > 0 and t_first is None:
                t_first = now
            samples.append((now, posts_in))
            if posts_in >= posts_n and out == posts_in:
                t_last = now
                break
            await asyncio.sleep(0.1)
        if producing is not None:
            produce_s = await producing
        worker.stop()
        if t_first is None or t_last is None:
            raise SystemExit(f"pipeline did not drain; see {worker.log_path}")
        latency = s.by_label("triage_ingest_to_ticket_seconds_bucket", "le")
        elapsed = t_last - t_first
        return {
            "benchmark": "pipeline_throughput",
            "mode": mode,
            "posts": posts_n,
            "partitions": partitions,
            "elapsed_s": round(elapsed, 3),
            "posts_per_s": round(posts_n / elapsed, 1),
            "producer_s": round(produce_s or 0.0, 3),
            "producer_posts_per_s": round(posts_n / produce_s, 1) if produce_s else None,
            "outcomes": {
                o: s.value("triage_posts_out_total", outcome=o)
                for o in ("ticket", "filtered", "duplicate", "dead_letter")
            },
            "accounted": accounted(s)[0] == accounted(s)[1] == posts_n,
            "ingest_to_ticket_p50_s": histogram_quantile(0.5, latency),
            "ingest_to_ticket_p99_s": histogram_quantile(0.99, latency),
            "machine": {"cores": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version()},
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--mode", choices=("drain", "live"), default="drain")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    result = asyncio.run(bench(args.posts, args.mode, args.partitions))
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"pipeline_throughput_{args.mode}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['posts_per_s']:,.0f} posts/s end to end ({args.mode}); written to {out}")


if __name__ == "__main__":
    main()
