"""Where a worker's CPU goes: a py-spy recording of a running PID, reduced to figures per post.

``py-spy record -f raw`` writes collapsed stacks (``frame;frame;... count``). From them: an exclusive split
of the samples over the pipeline's steps and the Faust/aiokafka/asyncio machinery, own time by library,
the top functions by own time, and, given the process's measured CPU (cores) and throughput (posts/s) over
the same seconds, CPU microseconds per post for each.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["STAGES", "record", "summarize"]

# Where each sample's time goes, exclusively: the first pattern (in this order) that matches any frame of
# the sample's stack takes it, so deeper pipeline steps win over the stages that call them, and the
# pipeline's own work wins over the Faust/aiokafka/asyncio frames it runs under. Shares sum to 100%.
STAGES: dict[str, str] = {
    "scoring (classifiers: featurise, model, VADER-like cues)": r"^\w+\.score \(classifiers/",
    "triage: clout, scores dicts, model_dump of actionable posts": r"^TriageStage\._score \(",
    "triage: validate_items (pydantic Post)": r"^validate_items \(stream/validate",
    "triage: post_keys (regex normalise + blake2b)": r"^post_keys \(stream/pipeline/dedupe",
    "triage: DedupeWindow.seen_many": r"^DedupeWindow\.seen_many \(",
    "triage: rest of process (audit dicts, reasons)": r"^TriageStage\.process \(",
    "triage: decode frame (orjson)": r"^TriageStage\.decode \(",
    "stage 2: TicketingStage (ScoredPost validate, route, Ticket, dump)": r"^TicketingStage\.",
    "BatchSink (batching, murmur2, send_batch)": r"^BatchSink\.",
    "metrics counting (prometheus_client)": r"(^(TriageHandler|RouteHandler)\._count|\(prometheus_client/)",
    "runtime: stage handlers rest (audit, changelog, futures)": r"^(TriageHandler|RouteHandler)\.__call__",
    "runtime: process_stream loop (acks, record age)": r"^RecordDriver\.process_stream",
    "dedupe restore": r"restore_window",
    "aiokafka (fetch, record decode, produce, I/O)": r"\(aiokafka/",
    "faust + mode (streams, events, acks, sensors, commits)": r"\((faust|mode)/",
    "asyncio event loop, selectors, sockets": r"\((asyncio/|selectors\.py)",
}
# Own time (the leaf frame) by library.
OWN: list[tuple[str, str]] = [
    ("faust/mode", r"\((faust|mode)/"),
    ("aiokafka", r"\(aiokafka/"),
    ("asyncio + selectors", r"\((asyncio/|selectors\.py)"),
    ("classifiers", r"\(classifiers/"),
    ("sklearn/numpy/scipy", r"\((sklearn|numpy|scipy)/"),
    ("pydantic", r"\(pydantic"),
    ("prometheus_client", r"\(prometheus_client/"),
    ("stream/* + schemas/* (pipeline code)", r"\((stream|schemas)/"),
]

_LINE = re.compile(r":\d+\)$")


def _frame_key(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (short/path.py)``: group a function's lines together."""
    frame = _LINE.sub(")", frame.strip())
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        i = frame.find(marker)
        if i >= 0:
            j = frame.rfind("(", 0, i)
            frame = frame[: j + 1] + frame[i + len(marker) :]
    return frame


def summarize(raw: Path, cores: float | None = None, posts_per_s: float | None = None) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own_cat: Counter[str] = Counter()
    total = 0
    patterns = {name: re.compile(p) for name, p in STAGES.items()}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        frames = [_frame_key(f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for name, pat in patterns.items():
            if any(pat.search(f) for f in frames):
                inclusive[name] += n
                break
        else:
            inclusive["other"] += n
        for cat, own_pat in OWN:
            if re.search(own_pat, frames[-1]):
                own_cat[cat] += n
                break
        else:
            own_cat["other (stdlib, orjson, C calls)"] += n
    per_post = None
    if cores and posts_per_s and total:
        per_post = 1e6 * cores / posts_per_s  # CPU microseconds per post in this process

    def share(c: Counter[str]) -> list[dict[str, Any]]:
        rows = []
        for name, n in c.most_common():
            row: dict[str, Any] = {"name": name, "share": round(n / total, 4)}
            if per_post is not None:
                row["us_per_post"] = round(per_post * n / total, 1)
            rows.append(row)
        return rows

    return {
        "samples": total,
        "cpu_us_per_post": round(per_post, 1) if per_post is not None else None,
        "where": share(inclusive),
        "own_by_category": share(own_cat),
        "top_own": share(own)[:25],
    }


async def record(pid: int, seconds: float, out: Path) -> Path | None:
    """Record ``pid`` for ``seconds`` (100 Hz, non-blocking so the worker is not paused); None without
    py-spy or when it fails (it needs ptrace rights: root or ``ptrace_scope`` 0)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(seconds)),
        "-f",
        "raw",
        "--nonblocking",
        "--rate",
        "50",
        "-o",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.wait_for(proc.wait(), seconds + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out if proc.returncode == 0 and out.exists() else None
