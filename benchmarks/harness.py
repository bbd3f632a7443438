"""The benchmark harness of issue 7: the real pipeline on the embedded broker, driven by the firehose
generator, measured the way a platform team would before trusting it.

Runs (each on a fresh broker, so no run inherits another's data, consumer groups or broker memory):

- ``max``: capacity. The raw topic is filled first, then N Faust workers are started and timed until every
  post is accounted for (the source does not compete for the cores while the workers run).
- ``limit`` / ``naive``: the same drain with the hand-written aiokafka loop (``limit_loop``) and with the
  naive one-post-per-record Faust peer (``naive_peer``), same seed, so the same posts; ratios are printed.
- ``rate``: live runs at fixed rates (1k, 5k, 9k posts/s) with the generator in its own process.
- ``burst``: the steady rate, then a 10x wave (a pile-on) for 30 s, then the steady rate again.
- In both kinds of live run the source invents the run's posts before the clock starts (``--pregenerate``),
  then stamps, partitions, frames and writes them on the clock, as a real source adapter would.
- ``memory``: the dedupe window with 10M distinct posts (``dedupe_memory``).
- ``profile``: py-spy on a Faust worker and on the limit loop during a drain (never during measured runs).

Each live run reports posts/s in (the source) and out (posts accounted for: ticket, filtered, duplicate or
dead letter), the backlog (posts sent and not yet accounted for) and when it returned to zero, exact
ingest-to-ticket latency (ticket record timestamp minus its post's ``ingested_at``), the CPU and peak RSS
of every process, and the accounting check (sent = in = out).

    python -m benchmarks.harness                  # everything (about 25 minutes)
    python -m benchmarks.harness --quick          # smoke run (a few minutes)
    python -m benchmarks.harness --only rate,burst --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from benchmarks import dedupe_memory, hotspots
from benchmarks.procs import Env, Proc
from benchmarks.procstats import ProcWatch
from benchmarks.tap import TicketTap, quantiles
from stream.local.promtext import Scrape
from stream.local.worker_process import OUTCOMES, accounted

__all__ = ["Plan", "main"]

RESULTS = Path(__file__).parent / "results"
SCENARIOS = ("max", "limit", "naive", "rate", "burst", "memory", "profile")


@dataclass(frozen=True)
class Plan:
    quick: bool
    workers: tuple[int, ...]
    rates: tuple[int, ...] = (1000, 5000, 9000)
    linger_s: float = 0.05  # the source's PostProducer linger: frame size at a given rate

    @property
    def live_s(self) -> float:
        return 15.0 if self.quick else 60.0

    @property
    def drain_posts(self) -> int:
        return 100_000 if self.quick else 600_000

    @property
    def drain_cap_s(self) -> float:
        return 40.0 if self.quick else 150.0

    @property
    def naive_posts(self) -> int:
        return 20_000 if self.quick else 60_000

    @property
    def naive_cap_s(self) -> float:
        return 20.0 if self.quick else 60.0

    @property
    def burst(self) -> tuple[float, float, float, float]:
        """(base rate, wave starts at, wave lasts, run lasts)."""
        return (1000.0, 5.0, 10.0, 40.0) if self.quick else (1000.0, 20.0, 30.0, 130.0)

    @property
    def memory_posts(self) -> int:
        return 1_000_000 if self.quick else 10_000_000


WORKDIR = Path(tempfile.gettempdir()) / "social-triage-bench"


@contextlib.contextmanager
def _workdir(name: str) -> Iterator[Path]:
    """Logs and worker state of one run; kept after the run (for the logs), replaced by the next."""
    path = WORKDIR / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    yield path


def _log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


async def _scrape_all(procs: list[Proc]) -> tuple[float, float, dict[str, float], list[Scrape]]:
    """Summed over the workers: posts in, posts with an outcome, posts by outcome."""
    scrapes = [s for s in await asyncio.gather(*(p.scrape() for p in procs)) if s is not None]
    posts_in = sum(accounted(s)[0] for s in scrapes)
    out = sum(accounted(s)[1] for s in scrapes)
    by = {o: sum(s.value("triage_posts_out_total", outcome=o) for s in scrapes) for o in OUTCOMES}
    return posts_in, out, by, scrapes


async def _wait_assigned(procs: list[Proc], topic: str, partitions: int, timeout: float = 90.0) -> float:
    """Until the group has settled: every worker owns part of ``topic`` and all partitions are owned."""
    started = time.monotonic()
    stable_since: float | None = None
    while time.monotonic() - started < timeout:
        for p in procs:
            if not p.alive():
                raise RuntimeError(f"{p.name} exited; see {p.log_path}")
        _, _, _, scrapes = await _scrape_all(procs)
        owned = [s.value("triage_assigned_partitions", topic=topic) for s in scrapes]
        if len(owned) == len(procs) and sum(owned) == partitions and all(o > 0 for o in owned):
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= 2.0:
                return time.monotonic() - started
        else:
            stable_since = None
        await asyncio.sleep(0.5)
    raise TimeoutError(f"consumer group did not settle on {topic} within {timeout:.0f}s")


def _rate_between(samples: list[dict[str, Any]], key: str, t_a: float, t_b: float) -> float | None:
    pts = [(s["t"], s[key]) for s in samples if t_a <= s["t"] <= t_b]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return None
    return round((pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0]), 1)


def _latency_series(points: list[tuple[float, float]], t0: float) -> dict[int, dict[str, float | None]]:
    per_s: dict[int, list[float]] = {}
    for written, lat in points:
        per_s.setdefault(int(written - t0), []).append(lat)
    return {k: {**quantiles(v, (0.5, 0.99)), "n": len(v)} for k, v in sorted(per_s.items())}


# --- live runs (fixed rate, burst) ---------------------------------------------------------------------


async def live_run(
    name: str,
    workers: int,
    rate: float,
    duration: float,
    burst: tuple[float, float] | None = None,
    profile_s: float = 0.0,
    linger_s: float = 0.05,
) -> dict[str, Any]:
    """Workers settled first, then the source paces posts in for ``duration`` seconds; then wait for the
    backlog to drain (bounded)."""
    with _workdir(name) as tmp:
        async with Env(tmp) as env:
            procs = [env.worker("faust", i) for i in range(workers)]
            await asyncio.gather(*(p.wait_ready() for p in procs))
            join_s = await _wait_assigned(procs, env.settings.topics.raw, env.settings.partitions)
            watch = ProcWatch()
            watch.add("broker", env.broker.pid)
            for p in procs:
                watch.add(p.name, p.pid)
            tap = TicketTap(env.settings)
            await tap.start()
            args = [
                "--rate",
                str(rate),
                "--duration",
                str(duration),
                "--linger",
                str(linger_s),
                "--pregenerate",
            ]
            if burst:
                args += ["--burst-at", str(burst[0]), "--burst-for", str(burst[1]), "--burst-x", "10"]
            src = await env.source(args)
            await src.wait_started()  # the posts are invented before the clock starts
            t0 = time.time()
            watch.add("source", src.pid)
            watch.add("harness", os.getpid())
            watch.mark()
            samples: list[dict[str, Any]] = []
            source_end: float | None = None
            drained_at: float | None = None
            by: dict[str, float] = {}
            posts_in = out = 0.0
            tick = 0
            drain_timeout = 120.0
            profile_task: asyncio.Task[Path | None] | None = None
            profile_window: tuple[float, float] | None = None
            try:
                while True:
                    tick += 1
                    await asyncio.sleep(max(0.0, t0 + tick - time.time()))
                    posts_in, out, by, _ = await _scrape_all(procs)
                    now = time.time()
                    if profile_s and profile_task is None and now - t0 >= 10 and procs[0].pid is not None:
                        profile_window = (now - t0, now - t0 + profile_s)
                        raw_path = RESULTS / f"pyspy_{name}.txt"
                        profile_task = asyncio.create_task(hotspots.record(procs[0].pid, profile_s, raw_path))
                    cpu = watch.sample(now - t0)
                    sent = src.result["sent"] if src.result else src.sent
                    samples.append(
                        {
                            "t": round(now - t0, 2),
                            "sent": sent,
                            "in": posts_in,
                            "out": out,
                            "backlog": sent - out,
                            "cores": {k: round(v[0], 3) for k, v in cpu.items()},
                            "rss_mb": {k: round(v[1] / 2**20, 1) for k, v in cpu.items()},
                        }
                    )
                    if src.done and source_end is None:
                        source_end = src.result["at"] if src.result else now
                    if source_end is not None:
                        if out >= sent and posts_in == out:
                            drained_at = now
                            break
                        if now - source_end > drain_timeout:
                            break
                    elif now - t0 > duration + 60:
                        raise RuntimeError(f"source did not finish; see {src.log_path}")
                    dead = [p.name for p in procs if not p.alive()]
                    if dead:
                        raise RuntimeError(f"{dead} died; see {env.workdir}")
                await asyncio.sleep(1.0)  # the last tickets reach the tap
            finally:
                await tap.stop()
            profile_path = await profile_task if profile_task is not None else None
            assert src.result is not None and source_end is not None
            src_res = src.result
            started_rel = src_res["started"] - t0
            sent_total = src_res["sent"]
            warm = started_rel + 5.0
            end_rel = source_end - t0
            lats = [lat for _, lat in tap.points]
            steady_lats = [lat for w, lat in tap.points if warm <= w - t0 <= end_rel]
            result: dict[str, Any] = {
                "run": name,
                "kind": "faust",
                "workers": workers,
                "target_rate": rate,
                "duration_s": duration,
                "source_linger_s": linger_s,
                "group_join_s": round(join_s, 1),
                "sent": sent_total,
                "in_rate": src_res["rate"],
                "out_rate_steady": _rate_between(samples, "out", warm, end_rel),
                "out_rate_overall": round(
                    out / max((drained_at or time.time()) - src_res["started"], 1e-6), 1
                ),
                "max_backlog": max(s["backlog"] for s in samples),
                "drained": drained_at is not None,
                "drain_after_source_s": round(drained_at - source_end, 1) if drained_at else None,
                "latency_s": {
                    **quantiles(lats),
                    "max": round(max(lats), 3) if lats else None,
                    "n": len(lats),
                },
                "latency_steady_s": quantiles(steady_lats),
                "tickets_tapped": tap.records,
                "accounting": {
                    "sent": sent_total,
                    "in": posts_in,
                    "out": out,
                    "by_outcome": by,
                    "ok": posts_in == out == sent_total,
                },
                "procs": watch.summary(),
                "machine_cpu": watch.machine(),
                "source": src_res,
                "series": samples,
                "latency_series": _latency_series(tap.points, t0),
            }
            if burst:
                wave_end = started_rel + burst[0] + burst[1]
                rec = next(
                    (s["t"] for s in samples if s["t"] >= wave_end and s["backlog"] <= rate * 1.0), None
                )
                after = [lat for w, lat in tap.points if w - t0 >= wave_end]
                during = [lat for w, lat in tap.points if started_rel + burst[0] <= w - t0 < wave_end]
                result["burst"] = {
                    "base_rate": rate,
                    "multiplier": 10,
                    "wave_start_s": round(started_rel + burst[0], 1),
                    "wave_end_s": round(wave_end, 1),
                    "wave_in_rate": _rate_between(samples, "sent", started_rel + burst[0] + 1, wave_end),
                    "out_rate_in_wave": _rate_between(samples, "out", started_rel + burst[0] + 1, wave_end),
                    "backlog_at_wave_end": next((s["backlog"] for s in samples if s["t"] >= wave_end), None),
                    "recovered_s_after_wave": round(rec - wave_end, 1) if rec is not None else None,
                    "recovery_rule": "first second after the wave with backlog <= 1 s of base-rate input",
                    "latency_during_wave_s": quantiles(during),
                    "latency_after_wave_s": quantiles(after),
                }
            if profile_path is not None and profile_window is not None:
                result["profile"] = _profile(profile_path, profile_window, samples, procs[0].name, workers)
            return result


# --- drain runs (capacity, limit loop, naive peer, profiling) ---------------------------------------------


async def drain_run(
    name: str,
    kind: str,
    workers: int,
    posts: int,
    cap_s: float,
    single: bool = False,
    profile_s: float = 0.0,
) -> dict[str, Any]:
    """Fill the raw topic with ``posts`` posts, then start the workers and time them until all are
    accounted for or ``cap_s`` seconds after the first post went in."""
    with _workdir(name) as tmp:
        async with Env(tmp) as env:
            t_fill = time.time()
            src = await env.source(
                ["--rate", "10000000", "--count", str(posts), *(["--single"] if single else [])]
            )
            src_res = await src.wait(900)
            fill_s = time.time() - t_fill
            procs = [env.worker(kind, i) for i in range(workers)]
            watch = ProcWatch()
            watch.add("broker", env.broker.pid)
            for p in procs:
                watch.add(p.name, p.pid)
            t0 = time.time()
            watch.mark()
            samples: list[dict[str, Any]] = []
            t_first: float | None = None
            done_at: float | None = None
            by: dict[str, float] = {}
            posts_in = out = 0.0
            profile_task: asyncio.Task[Path | None] | None = None
            profile_window: tuple[float, float] | None = None
            tick = 0
            while True:
                tick += 1
                await asyncio.sleep(max(0.0, t0 + tick * 0.5 - time.time()))
                posts_in, out, by, _ = await _scrape_all(procs)
                now = time.time()
                cpu = watch.sample(now - t0)
                samples.append(
                    {
                        "t": round(now - t0, 2),
                        "in": posts_in,
                        "out": out,
                        "cores": {k: round(v[0], 3) for k, v in cpu.items()},
                        "rss_mb": {k: round(v[1] / 2**20, 1) for k, v in cpu.items()},
                    }
                )
                if t_first is None and posts_in > 0:
                    t_first = now
                    watch.mark()  # CPU of processing, not of start-up and the group join
                if (
                    profile_s
                    and profile_task is None
                    and t_first is not None
                    and now - t_first >= 3
                    and procs[0].pid is not None
                ):
                    profile_window = (now - t0, now - t0 + profile_s)
                    raw = RESULTS / f"pyspy_{name}.txt"
                    profile_task = asyncio.create_task(hotspots.record(procs[0].pid, profile_s, raw))
                if out >= posts and posts_in == out:
                    done_at = now
                    break
                if t_first is not None and now - t_first > cap_s:
                    break
                if t_first is None and now - t0 > 120:
                    raise RuntimeError(f"{kind} took no posts within 120 s; see {env.workdir}")
                dead = [p.name for p in procs if not p.alive()]
                if dead:
                    raise RuntimeError(f"{dead} died; see {env.workdir}")
            profile_path = await profile_task if profile_task is not None else None
            assert t_first is not None
            first_rel = t_first - t0
            end_rel = (done_at or time.time()) - t0
            # steady state: between 10% and 90% of the posts when drained, else after the first 5 s
            if done_at is not None:
                a = next(s["t"] for s in samples if s["out"] >= 0.1 * posts)
                b = max(s["t"] for s in samples if s["out"] <= 0.9 * posts)
            else:
                a, b = first_rel + 5, end_rel
            steady = _rate_between(samples, "out", a, b)
            result: dict[str, Any] = {
                "run": name,
                "kind": kind,
                "workers": workers,
                "posts": posts,
                "one_post_per_record": single,
                "fill_s": round(fill_s, 1),
                "fill_rate": src_res["rate"],
                "startup_s": round(first_rel, 1),
                "drained": done_at is not None,
                "elapsed_s": round(end_rel - first_rel, 1),
                "posts_per_s": round(out / max(end_rel - first_rel, 1e-6), 1),
                "posts_per_s_steady": steady,
                "accounting": {
                    "sent": src_res["sent"],
                    "in": posts_in,
                    "out": out,
                    "by_outcome": by,
                    "ok": posts_in == out == src_res["sent"],
                },
                "procs": watch.summary(),
                "machine_cpu": watch.machine(),
                "series": samples,
            }
            if profile_path is not None and profile_window is not None:
                result["profile"] = _profile(profile_path, profile_window, samples, procs[0].name, workers)
            return result


def _profile(
    path: Path, window: tuple[float, float], samples: list[dict[str, Any]], proc: str, workers: int
) -> dict[str, Any]:
    """The py-spy summary, with the profiled process's cores and posts/s over the same seconds."""
    cores = [s["cores"].get(proc, 0.0) for s in samples if window[0] <= s["t"] <= window[1]]
    rate = _rate_between(samples, "out", *window)
    mean_cores = sum(cores) / len(cores) if cores else None
    if workers > 1 and rate:
        rate /= workers  # the profiled worker's share, assuming an even split
    return {
        "raw": str(path.relative_to(RESULTS.parent.parent)),
        "window_s": window,
        "cores": round(mean_cores, 3) if mean_cores else None,
        "posts_per_s": rate,
        **hotspots.summarize(path, mean_cores, rate),
    }


# --- the whole harness ----------------------------------------------------------------------------


def _brief(r: dict[str, Any]) -> str:
    procs = ", ".join(
        f"{k} {v['cores_mean']:.2f} cores/{v['peak_rss_mb']:.0f} MB" for k, v in r.get("procs", {}).items()
    )
    if "target_rate" in r:
        lat = r["latency_s"]
        extra = ""
        if "burst" in r:
            b = r["burst"]
            extra = (
                f"; wave in {b['wave_in_rate']}/s out {b['out_rate_in_wave']}/s, "
                f"recovered {b['recovered_s_after_wave']} s after"
            )
        return (
            f"{r['run']}: in {r['in_rate']:,.0f}/s, out {r['out_rate_steady'] or 0:,.0f}/s steady, "
            f"max backlog {r['max_backlog']:,.0f}, drained {r['drained']} "
            f"({r['drain_after_source_s']} s after source), "
            f"latency p50/p95/p99 {lat['p50']}/{lat['p95']}/{lat['p99']} s, accounting "
            f"{'OK' if r['accounting']['ok'] else r['accounting']}{extra}; {procs}"
        )
    return (
        f"{r['run']}: {r['posts_per_s']:,.0f} posts/s ({r['posts_per_s_steady'] or 0:,.0f} steady), "
        f"drained {r['drained']} in {r['elapsed_s']} s, accounting "
        f"{'OK' if r['accounting']['ok'] else r['accounting']}; {procs}"
    )


def _ratios(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def rate(name: str) -> float | None:
        r = runs.get(name)
        return (r.get("posts_per_s_steady") or r.get("posts_per_s")) if r else None

    out: dict[str, Any] = {}
    limit, naive = rate("limit"), rate("naive_w1")
    for name in [n for n in runs if n.startswith("max_w")]:
        v = rate(name)
        if v and limit:
            out[f"{name}/limit"] = round(v / limit, 3)
        if v and naive:
            out[f"{name}/naive_w1"] = round(v / naive, 2)
    return out


def _targets(runs: dict[str, dict[str, Any]], ratios: dict[str, Any]) -> dict[str, Any]:
    t: dict[str, Any] = {}
    live9 = [r for n, r in runs.items() if n.startswith("rate9000")]
    if live9:
        best = max(live9, key=lambda r: r["out_rate_steady"] or 0)
        t["sustained_9000_with_lag_to_zero"] = {
            "met": any(r["drained"] and (r["out_rate_steady"] or 0) >= 9000 * 0.98 for r in live9),
            "best": {
                k: best[k] for k in ("run", "in_rate", "out_rate_steady", "drained", "drain_after_source_s")
            },
        }
    maxes = {n: r["posts_per_s_steady"] for n, r in runs.items() if n.startswith("max_w")}
    if maxes:
        t["capacity_posts_per_s"] = maxes
    live5 = [r for n, r in runs.items() if n.startswith("rate5000")]
    if live5:
        t["p99_latency_at_5000_le_1s"] = {
            "met": any((r["latency_s"]["p99"] or 99) <= 1.0 and r["drained"] for r in live5),
            "p99": {r["run"]: r["latency_s"]["p99"] for r in live5},
        }
    bursts = [r for n, r in runs.items() if n.startswith("burst")]
    if bursts:
        t["burst_recovered_within_60s"] = {
            "met": any(
                (
                    r["burst"]["recovered_s_after_wave"] is not None
                    and r["burst"]["recovered_s_after_wave"] <= 60
                )
                for r in bursts
            ),
            "recovered_s": {r["run"]: r["burst"]["recovered_s_after_wave"] for r in bursts},
        }
    lim = {k: v for k, v in ratios.items() if k.endswith("/limit")}
    if lim:
        t["ratio_vs_limit_ge_0.6"] = {"met": any(v >= 0.6 for v in lim.values()), "ratios": lim}
    mem = runs.get("memory")
    if mem and "worker" in mem:
        t["worker_peak_rss_10M_le_500MB"] = {
            "met": mem["worker"]["worker_peak_rss_mb"] <= 500 and mem["worker"]["complete"],
            "peak_rss_mb": mem["worker"]["worker_peak_rss_mb"],
            "posts": mem["worker"]["posts"],
        }
    return t


async def run_all(plan: Plan, only: set[str], out_path: Path) -> dict[str, Any]:
    runs: dict[str, dict[str, Any]] = {}
    doc: dict[str, Any] = {
        "benchmark": "harness",
        "quick": plan.quick,
        "command": "make bench" + (" ARGS=--quick" if plan.quick else ""),
        "machine": {
            "cores": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "kernel": platform.release(),
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "tree": _tree(),
        "runs": runs,
    }

    def save() -> None:
        doc["ratios"] = _ratios(runs)
        doc["targets"] = _targets(runs, doc["ratios"])
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")

    async def step(name: str, coro: Any) -> None:
        _log(f"{name} ...")
        try:
            runs[name] = await coro
            _log(_brief(runs[name]) if name != "memory" else f"memory: {runs[name]}")
        except Exception as exc:  # one failed run must not lose the others' figures
            runs[name] = {"run": name, "error": repr(exc)}
            _log(f"{name} FAILED: {exc!r}")
        save()

    if "max" in only:
        for w in plan.workers:
            await step(f"max_w{w}", drain_run(f"max_w{w}", "faust", w, plan.drain_posts, plan.drain_cap_s))
    if "limit" in only:
        await step("limit", drain_run("limit", "limit", 1, plan.drain_posts, plan.drain_cap_s))
    if "naive" in only:
        await step(
            "naive_w1", drain_run("naive_w1", "naive", 1, plan.naive_posts, plan.naive_cap_s, single=True)
        )
    if "rate" in only:
        for rate in plan.rates:
            # every worker count at the top rate; one worker below it (the time a full run takes)
            for w in plan.workers if rate == max(plan.rates) else plan.workers[:1]:
                await step(
                    f"rate{rate}_w{w}",
                    live_run(f"rate{rate}_w{w}", w, rate, plan.live_s, linger_s=plan.linger_s),
                )
    if "burst" in only:
        base, at, span, total = plan.burst
        w = max(plan.workers)
        await step(f"burst_w{w}", live_run(f"burst_w{w}", w, base, total, (at, span), linger_s=plan.linger_s))
    if "memory" in only:

        async def memory_run() -> dict[str, Any]:
            inproc = await asyncio.to_thread(dedupe_memory.in_process, plan.memory_posts)
            with _workdir("memory") as tmp:
                worker = await dedupe_memory.worker_restore(tmp, plan.memory_posts)
            return {"run": "memory", "in_process": inproc, "worker": worker}

        await step("memory", memory_run())
    if "profile" in only:
        secs = 10.0 if plan.quick else 20.0
        await step(
            "profile_faust",
            drain_run("profile_faust", "faust", 1, plan.drain_posts // 2, plan.drain_cap_s, profile_s=secs),
        )
        await step(
            "profile_live5000",
            live_run("profile_live5000", 1, 5000, 30.0 if not plan.quick else 25.0, profile_s=secs),
        )
        await step(
            "profile_limit",
            drain_run("profile_limit", "limit", 1, plan.drain_posts // 2, plan.drain_cap_s, profile_s=secs),
        )
    save()
    return doc


def _reexec_on_tree(ref: str, argv: list[str] | None) -> None:
    """Export ``ref``'s pipeline packages and run the harness again with them first on PYTHONPATH (the
    harness's own ``benchmarks`` package still comes from this checkout). Every child process inherits it."""
    repo = Path(__file__).resolve().parent.parent
    dest = WORKDIR / f"tree-{ref.replace('/', '_')}"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", ref, "stream", "classifiers", "schemas"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    env = {**os.environ, "BENCH_TREE": ref, "PYTHONPATH": os.pathsep.join([str(dest), str(repo)])}
    args = sys.argv[1:] if argv is None else argv
    os.chdir(dest)  # ``python -m`` puts the cwd first on sys.path: children must not see the working tree
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks.harness", *args], env)


def _tree() -> dict[str, Any]:
    """What was measured: the commit, and whether the pipeline packages differ from it."""
    import stream

    repo = Path(__file__).resolve().parent.parent
    info: dict[str, Any] = {
        "stream_package": str(Path(stream.__file__).parent),
        "ref": os.environ.get("BENCH_TREE"),
    }
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        info["head"] = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if info["ref"] is None:
            info["working_tree_changes"] = subprocess.run(
                [
                    "git",
                    "-C",
                    str(repo),
                    "diff",
                    "--shortstat",
                    "HEAD",
                    "--",
                    "stream",
                    "classifiers",
                    "schemas",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
    return info


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.harness",
        description=__doc__.split("\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="short runs: a smoke test of a few minutes")
    p.add_argument("--only", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}")
    p.add_argument("--workers", default="1,2", help="worker counts to try (comma list)")
    p.add_argument("--rates", default="1000,5000,9000", help="fixed rates, posts/s (comma list)")
    p.add_argument(
        "--out", type=Path, default=None, help="result JSON (default: results/harness[_quick].json)"
    )
    p.add_argument("--linger", type=float, default=0.05, help="source PostProducer linger, s (frame size)")
    p.add_argument("--no-results-md", action="store_true", help="do not update benchmarks/RESULTS.md")
    p.add_argument(
        "--tree",
        default=None,
        help="benchmark stream/, classifiers/ and schemas/ as of this git ref (exported read-only with "
        "git archive) instead of the working tree, e.g. while the working tree is mid-change",
    )
    args = p.parse_args(argv)
    if args.tree and os.environ.get("BENCH_TREE") != args.tree:
        _reexec_on_tree(args.tree, argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if only - set(SCENARIOS):
        p.error(f"unknown scenario(s): {', '.join(sorted(only - set(SCENARIOS)))}")
    plan = Plan(
        quick=args.quick,
        workers=tuple(int(w) for w in args.workers.split(",")),
        rates=tuple(int(r) for r in args.rates.split(",")),
        linger_s=args.linger,
    )
    out_path = args.out or RESULTS / ("harness_quick.json" if args.quick else "harness.json")
    signal.signal(signal.SIGTERM, _raise_interrupt)  # stop every process by PID on SIGTERM too
    try:
        doc = asyncio.run(run_all(plan, only, out_path))
    except KeyboardInterrupt:
        print("interrupted; every process of the run was stopped", flush=True)
        return 130
    from benchmarks import plot, report

    png = plot.plot(doc, out_path.with_suffix(".png"))
    print(report.console(doc))
    print(f"result: {out_path}" + (f"; plot: {png}" if png else ""))
    if not args.quick and not args.no_results_md:
        report.update_results_md(doc, out_path, png)
        print("benchmarks/RESULTS.md updated (## Pipeline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
