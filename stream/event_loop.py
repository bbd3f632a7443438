"""Which asyncio event loop the service's processes run on.

uvloop (libuv, in C) schedules callbacks and moves socket bytes with less interpreter work than asyncio's
pure-Python loop. Faust recommends it for production; here it cut a live worker's CPU per post at
9,000 posts/s (benchmarks/RESULTS.md). asyncio stays available, for platforms without uvloop and for
debugging (``PYTHONASYNCIODEBUG`` needs the pure-Python loop).
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Literal

__all__ = ["EventLoopChoice", "use_event_loop"]

EventLoopChoice = Literal["auto", "uvloop", "asyncio"]


def use_event_loop(choice: EventLoopChoice) -> str:
    """Install the event-loop policy for ``choice`` before any loop is created; returns the loop in use.

    ``auto`` is uvloop where it is installed (a dependency on Linux and macOS), asyncio elsewhere;
    ``uvloop`` fails loudly where it is missing instead of silently running slower.
    """
    if choice == "asyncio" or (choice == "auto" and importlib.util.find_spec("uvloop") is None):
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
        return "asyncio"
    try:
        import uvloop
    except ImportError as exc:
        raise RuntimeError(
            "TRIAGE_EVENT_LOOP=uvloop, but uvloop is not installed (pip install uvloop)"
        ) from exc
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"
