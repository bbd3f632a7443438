"""Start one Faust worker process for both stages (`triage worker`)."""

from __future__ import annotations

import asyncio
import logging

import faust

from stream import logrepeat
from stream.kafka.admin import ensure_topics
from stream.settings import Settings
from stream.worker.app import create_app

__all__ = ["run_worker"]


class _Worker(faust.Worker):
    """Faust's worker, with repeated log lines held back once Faust has set up its handlers."""

    repeat_window_s = 30.0

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        if self.repeat_window_s > 0:
            logrepeat.install(logger.handlers, self.repeat_window_s)


def run_worker(settings: Settings) -> None:
    """Blocks until the worker is stopped (SIGTERM/SIGINT stop it cleanly, committing what it finished)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings.kafka, settings.topic_specs()))
    app, _ = create_app(settings)
    worker = _Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.repeat_window_s = settings.log_repeat_window_s
    for name in ("stream", "classifiers"):  # our loggers follow the worker's level, not the CLI's default
        logging.getLogger(name).setLevel(settings.log_level)
    worker.execute_from_commandline()
