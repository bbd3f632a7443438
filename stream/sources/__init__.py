"""Where posts come from: the synthetic firehose (for drills, benchmarks and the bundled sample).

Names are loaded on first use, so ``python -m stream.sources.generator`` does not import the module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream.sources.generator import (
        BurstProfile,
        FirehoseGenerator,
        RunStats,
        malformed_records,
        measure_generation,
        run,
        write_sample,
    )

__all__ = [
    "BurstProfile",
    "FirehoseGenerator",
    "RunStats",
    "malformed_records",
    "measure_generation",
    "run",
    "write_sample",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("stream.sources.generator"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
