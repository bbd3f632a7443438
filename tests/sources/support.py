"""Settings for the source adapter tests: no Kafka, short intervals, any free port, a data dir per test.

The fake clock, the bounded runner and the memory sink are shipped in :mod:`stream.sources.testing`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stream.settings import Settings

__all__ = ["make_settings"]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "source_commit_interval_s": 0.05,
        "source_stall_timeout_s": 0.5,
        "source_metrics_port": 0,
        "source_listen_port": 0,
    }
    values.update(overrides)
    return Settings(**values)
