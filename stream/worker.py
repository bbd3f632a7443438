"""Start one Faust worker process for both stages (`triage worker`)."""

from __future__ import annotations

import asyncio
import logging

import faust

from stream.app import create_app
from stream.settings import Settings
from stream.topics import ensure_topics

__all__ = ["run_worker"]


def run_worker(settings: Settings) -> None:
    """Blocks until the worker is stopped (SIGTERM/SIGINT stop it cleanly, committing what it finished)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings))
    app, _ = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    for name in ("stream", "classifiers"):  # our loggers follow the worker's level, not the CLI's default
        logging.getLogger(name).setLevel(settings.log_level)
    worker.execute_from_commandline()
