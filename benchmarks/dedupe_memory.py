"""Memory of the dedupe window with 10 million distinct posts inside it, two ways.

1. In process: a bare :class:`stream.pipeline.dedupe.DedupeWindow` filled with the keys of N posts (``add``,
   the restore path), spread over the window; reports the window's own bytes and the process's peak RSS.
2. A real worker: the dedupe-changelog topic is filled with the binary deltas a worker would have written
   for N distinct posts within the window (:func:`stream.pipeline.dedupe.encode_delta`, ~1,500 keys a delta,
   times spread over the last hour), then a real ``triage worker`` is started and sent a few frames on every
   partition, which makes it restore all of it (``stream.worker.dedupe_restore.restore_window``) before
   processing; reports the worker's peak RSS (VmHWM), its RSS before and after, and its ``triage_dedupe_*``
   gauges.

Pushing 10M posts through scoring would take hours here; the state a worker holds after restoring is the
same state it would hold after processing them, which is what this measures. Keys are random 64-bit
values at ``keys_per_post`` per post (2.0 by default: identity and content key, the worst case; reposts
and short texts have only one).

    python -m benchmarks.dedupe_memory --posts 10000000        # the in-process figure only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson

from benchmarks.procs import Env
from benchmarks.procstats import memory
from stream.kafka.batch_sink import BatchSink
from stream.kafka.records import OutRecord
from stream.local.worker_process import accounted
from stream.pipeline.dedupe import DedupeWindow, encode_delta

__all__ = ["in_process", "worker_restore"]

DELTA_KEYS = 1500  # keys one frame of ~1,000 posts adds (identity + most content keys)
WINDOW_S = 3600.0


def _rss_mb() -> tuple[float, float]:
    mem = memory(os.getpid()) or (0, 0)
    return mem[0] / 2**20, mem[1] / 2**20


def in_process(posts: int, keys_per_post: float = 2.0, seed: int = 1) -> dict[str, Any]:
    """Fill a DedupeWindow as a restore does and measure it, in this process."""
    rng = np.random.default_rng(seed)
    n_keys = int(posts * keys_per_post)
    rss0, _ = _rss_mb()
    window = DedupeWindow(WINDOW_S, 60.0)
    now = time.time()
    started = time.perf_counter()
    chunks = (n_keys + DELTA_KEYS - 1) // DELTA_KEYS
    for i in range(chunks):
        keys = rng.integers(0, 2**63, size=min(DELTA_KEYS, n_keys - i * DELTA_KEYS), dtype=np.uint64)
        at = now - WINDOW_S + 30 + (WINDOW_S - 60) * i / chunks
        window.add(keys.tolist(), at)
    fill_s = time.perf_counter() - started
    keys_held, window_bytes = len(window), window.nbytes
    probe = rng.integers(0, 2**63, size=100_000, dtype=np.uint64).tolist()
    t0 = time.perf_counter()
    window.seen_many(probe, now)
    lookup_us = (time.perf_counter() - t0) / len(probe) * 1e6
    rss1, hwm = _rss_mb()
    return {
        "posts": posts,
        "keys": keys_held,
        "keys_per_post": keys_per_post,
        "window_mb": round(window_bytes / 2**20, 1),
        "rss_before_mb": round(rss0, 1),
        "rss_after_mb": round(rss1, 1),
        "peak_rss_mb": round(hwm, 1),
        "fill_s": round(fill_s, 1),
        "lookup_us_per_key": round(lookup_us, 2),
        "buckets": len(window._frozen),
    }


async def _fill_changelog(env: Env, n_keys: int, seed: int) -> float:
    """Write deltas for ``n_keys`` keys to the changelog, spread over partitions and the last hour."""
    rng = np.random.default_rng(seed)
    sink = BatchSink.from_settings(env.settings, "bench-changelog-fill")
    await sink.start()
    started = time.perf_counter()
    now = time.time()
    parts = env.settings.partitions
    chunks = (n_keys + DELTA_KEYS - 1) // DELTA_KEYS
    pending: list[asyncio.Future[None]] = []
    batch: list[OutRecord] = []
    try:
        for i in range(chunks):
            keys = rng.integers(0, 2**63, size=min(DELTA_KEYS, n_keys - i * DELTA_KEYS), dtype=np.uint64)
            at = now - WINDOW_S + 30 + (WINDOW_S - 60) * i / chunks
            # encode_delta takes a list; an array gives the same bytes without 1,500 Python ints
            batch.append(OutRecord(encode_delta(cast(list[int], keys), at), partition=i % parts))
            if len(batch) >= 200:
                pending.append(await sink.send(env.settings.topics.dedupe_changelog, batch))
                batch = []
        if batch:
            pending.append(await sink.send(env.settings.topics.dedupe_changelog, batch))
        await asyncio.gather(*pending)
    finally:
        await sink.stop()
    return time.perf_counter() - started


async def worker_restore(
    workdir: Path, posts: int, keys_per_post: float = 2.0, seed: int = 1, timeout: float = 900.0
) -> dict[str, Any]:
    n_keys = int(posts * keys_per_post)
    async with Env(workdir) as env:
        fill_s = await _fill_changelog(env, n_keys, seed)
        worker = env.worker("faust")
        await worker.wait_ready()
        assert worker.pid is not None
        await asyncio.sleep(12)  # join the group; the restore starts only with the first frame
        before = memory(worker.pid) or (0, 0)
        probe_posts = 400
        src = await env.source(["--rate", "1000000", "--count", str(probe_posts)], name="probe")
        await src.wait(120)
        started = time.monotonic()
        peak = 0
        last: dict[str, float] = {}
        while time.monotonic() - started < timeout:
            mem = memory(worker.pid)
            if mem is None:
                raise RuntimeError(f"worker died during restore; see {worker.log_path}")
            peak = max(peak, mem[1])
            s = await worker.scrape()
            if s is not None:
                posts_in, out = accounted(s)
                last = {
                    "restored": s.value("triage_dedupe_restored_keys_total"),
                    "keys": s.value("triage_dedupe_keys"),
                    "bytes": s.value("triage_dedupe_bytes"),
                    "in": posts_in,
                    "out": out,
                }
                if last["restored"] >= n_keys and posts_in >= probe_posts and out == posts_in:
                    break
            await asyncio.sleep(1.0)
        restore_s = time.monotonic() - started
        await asyncio.sleep(2)
        after = memory(worker.pid) or (0, 0)
        broker = memory(env.broker.pid or 0) or (0, 0)
        return {
            "posts": posts,
            "keys_written": n_keys,
            "keys_per_post": keys_per_post,
            "changelog_records": (n_keys + DELTA_KEYS - 1) // DELTA_KEYS,
            "changelog_fill_s": round(fill_s, 1),
            "keys_restored": last.get("restored"),
            "dedupe_keys_gauge": last.get("keys"),
            "dedupe_mb_gauge": round(last.get("bytes", 0.0) / 2**20, 1),
            "probe_posts_accounted": last.get("in") == last.get("out") == probe_posts,
            "restore_and_probe_s": round(restore_s, 1),
            "worker_rss_before_mb": round(before[0] / 2**20, 1),
            "worker_rss_after_mb": round(after[0] / 2**20, 1),
            "worker_peak_rss_mb": round(max(peak, after[1]) / 2**20, 1),
            "broker_rss_mb": round(broker[0] / 2**20, 1),
            "complete": last.get("restored", 0) >= n_keys,
        }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dedupe_memory", description=__doc__.split("\n")[0])
    p.add_argument("--posts", type=int, default=10_000_000)
    p.add_argument("--keys-per-post", type=float, default=2.0)
    args = p.parse_args()
    print(orjson.dumps(in_process(args.posts, args.keys_per_post), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
