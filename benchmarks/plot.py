"""The harness's PNG: throughput and latency over time for every run (matplotlib, no display needed)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

__all__ = ["plot"]


def _rates(series: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    ts, rs = [], []
    for a, b in itertools.pairwise(series):
        dt = b["t"] - a["t"]
        if dt > 0:
            ts.append(b["t"])
            rs.append((b[key] - a[key]) / dt)
    return ts, rs


def plot(doc: dict[str, Any], out: Path) -> Path | None:
    """One row per live run (throughput + backlog | latency), one row for the drain runs; None without
    matplotlib (``pip install '.[bench]'``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    runs = [r for r in doc["runs"].values() if "series" in r]
    live = [r for r in runs if "target_rate" in r]
    drain = [r for r in runs if "target_rate" not in r]
    rows = len(live) + (1 if drain else 0)
    if rows == 0:
        return None
    fig, axes = plt.subplots(rows, 2, figsize=(14, 3.0 * rows), squeeze=False)
    for i, r in enumerate(live):
        ax, lx = axes[i][0], axes[i][1]
        t_in, r_in = _rates(r["series"], "sent")
        t_out, r_out = _rates(r["series"], "out")
        ax.plot(t_in, r_in, label="in (source)", lw=1)
        ax.plot(t_out, r_out, label="out (accounted)", lw=1)
        ax.set_ylabel("posts/s")
        ax.set_title(f"{r['run']}: {r['workers']} worker(s), target {r['target_rate']:,.0f}/s", fontsize=9)
        bx = ax.twinx()
        bx.fill_between(
            [s["t"] for s in r["series"]], [s["backlog"] for s in r["series"]], color="grey", alpha=0.2
        )
        bx.set_ylabel("backlog (posts)", fontsize=8)
        if "burst" in r:
            ax.axvspan(r["burst"]["wave_start_s"], r["burst"]["wave_end_s"], color="red", alpha=0.08)
        ax.legend(fontsize=7, loc="upper left")
        lat = r.get("latency_series", {})
        secs = sorted(int(k) for k in lat)
        for q in ("p50", "p99"):
            lx.plot(secs, [lat[str(s)][q] if str(s) in lat else lat[s][q] for s in secs], label=q, lw=1)
        lx.axhline(1.0, color="red", lw=0.6, ls="--")
        lx.set_ylabel("ingest->ticket s")
        lx.set_yscale("log")
        lx.legend(fontsize=7, loc="upper left")
        lx.set_title(
            f"latency p50/p95/p99 {r['latency_s']['p50']}/{r['latency_s']['p95']}/{r['latency_s']['p99']} s",
            fontsize=9,
        )
    if drain:
        ax, cx = axes[-1][0], axes[-1][1]
        for r in drain:
            t, rate = _rates(r["series"], "out")
            ax.plot(t, rate, label=f"{r['run']} ({r['posts_per_s_steady'] or 0:,.0f}/s)", lw=1)
            cx.plot(
                [s["t"] for s in r["series"]],
                [sum(v for k, v in s["cores"].items() if k != "broker") for s in r["series"]],
                label=r["run"],
                lw=1,
            )
        ax.set_title("drain runs: posts accounted per second", fontsize=9)
        ax.set_xlabel("s since workers started")
        ax.legend(fontsize=7)
        cx.set_title("drain runs: cores used by the workers", fontsize=9)
        cx.legend(fontsize=7)
    for row in axes:
        for a in row:
            a.tick_params(labelsize=7)
            a.grid(alpha=0.3)
    fig.suptitle(f"social-triage pipeline benchmark, {doc['date']}, {doc['machine']['cpu']}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
