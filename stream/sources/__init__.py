"""Where posts come from: platform adapters, webhook ingest, replay, and the synthetic firehose.

Names are loaded on first use: a source process imports only its own adapter, and
``python -m stream.sources.synthetic.generator`` does not import its module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream.sources.backoff import BackoffPolicy, Failure, Schedule
    from stream.sources.base import ConfigError, Source, SourceError
    from stream.sources.bluesky import BlueskySource
    from stream.sources.checkpoint import CheckpointStore
    from stream.sources.cli import register
    from stream.sources.emitter import Emitter
    from stream.sources.mastodon import MastodonSource
    from stream.sources.meta import MetaWebhookSource
    from stream.sources.metrics import SourceMetrics
    from stream.sources.post_sink import JsonlSink, MemorySink, PostSink
    from stream.sources.reddit import RedditSource
    from stream.sources.replay import ReplaySource
    from stream.sources.rss import RssSource
    from stream.sources.synthetic.generator import (
        BurstProfile,
        FirehoseGenerator,
        RunStats,
        malformed_records,
        measure_generation,
        run,
        write_sample,
    )
    from stream.sources.webhook import WebhookSource
    from stream.sources.x import XSource

_MODULE_OF = {
    "BackoffPolicy": "backoff",
    "Failure": "backoff",
    "Schedule": "backoff",
    "ConfigError": "base",
    "Source": "base",
    "SourceError": "base",
    "BlueskySource": "bluesky",
    "CheckpointStore": "checkpoint",
    "register": "cli",
    "Emitter": "emitter",
    "BurstProfile": "synthetic.generator",
    "FirehoseGenerator": "synthetic.generator",
    "RunStats": "synthetic.generator",
    "malformed_records": "synthetic.generator",
    "measure_generation": "synthetic.generator",
    "run": "synthetic.generator",
    "write_sample": "synthetic.generator",
    "MastodonSource": "mastodon",
    "MetaWebhookSource": "meta",
    "SourceMetrics": "metrics",
    "RedditSource": "reddit",
    "ReplaySource": "replay",
    "RssSource": "rss",
    "JsonlSink": "post_sink",
    "MemorySink": "post_sink",
    "PostSink": "post_sink",
    "WebhookSource": "webhook",
    "XSource": "x",
}

__all__ = [
    "BackoffPolicy",
    "BlueskySource",
    "BurstProfile",
    "CheckpointStore",
    "ConfigError",
    "Emitter",
    "Failure",
    "FirehoseGenerator",
    "JsonlSink",
    "MastodonSource",
    "MemorySink",
    "MetaWebhookSource",
    "PostSink",
    "RedditSource",
    "ReplaySource",
    "RssSource",
    "RunStats",
    "Schedule",
    "Source",
    "SourceError",
    "SourceMetrics",
    "WebhookSource",
    "XSource",
    "malformed_records",
    "measure_generation",
    "register",
    "run",
    "write_sample",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"stream.sources.{module}"), name)
