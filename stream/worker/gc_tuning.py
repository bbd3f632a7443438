"""Python's cyclic garbage collector, set for a long-running stream worker.

Why: a worker keeps hundreds of thousands of long-lived objects (open tickets' SLA clocks, the backlog
index, the loaded model) while every frame allocates and frees thousands of short-lived ones. With the
default thresholds (700, 10, 10) the young generation is collected every ~700 allocations, objects of
the frame in hand survive into older generations, and full collections keep rescanning the whole heap:
measured in-process at 150k posts, 36% of the pipeline's time was the collector (65 us/post in full
collections alone). Freezing what exists at start-up and collecting the young generation every
``young`` allocations cut triage from ~135 to ~90 us/post and routing from ~70 to ~58 (RESULTS.md).
Reference counting still frees almost everything at once; only cycles wait longer.
"""

from __future__ import annotations

import gc

__all__ = ["tune_gc"]


def tune_gc(young: int) -> tuple[int, int, int]:
    """Move start-up objects out of the collector's sight and set the young threshold; returns the old
    thresholds. ``young`` <= 0 leaves the collector as it is."""
    before = gc.get_threshold()
    if young > 0:
        gc.collect()
        gc.freeze()
        gc.set_threshold(young, 20, 10)
    return before
