"""``triage source {x,bluesky,mastodon,facebook,reddit,rss,webhook,replay,generate}``: run one adapter.

Credentials come only from the environment (``TRIAGE_*``); flags override the non-secret settings. Each
running source serves ``/metrics`` and ``/healthz`` on ``web_host:source_metrics_port``. ``--dry-run`` writes
the normalised posts to stdout instead of Kafka. Exit codes: 0 done, 2 bad configuration, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stream import logrepeat
from stream.settings import Settings
from stream.sources.base import ConfigError, Source
from stream.sources.post_sink import JsonlSink, PostSink

__all__ = ["build_source", "main", "register"]

log = logging.getLogger(__name__)

ADAPTERS = ("x", "bluesky", "mastodon", "facebook", "reddit", "rss", "webhook", "replay")


def _settings(overrides: dict[str, Any]) -> Settings:
    try:
        base = Settings()
        values = {k: v for k, v in overrides.items() if v is not None}
        return Settings.model_validate({**base.model_dump(), **values}) if values else base
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"bad configuration: {problems}") from None


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Flags mapped onto settings fields (flags left unset keep the environment's value)."""
    names = {
        "metrics_port": "source_metrics_port",
        "brand": "brand",
        "handle": "brand_handles",
        "keyword": "brand_keywords",
        "rule": "x_rules",
        "backfill_minutes": "x_backfill_minutes",
        "jetstream_url": "bluesky_jetstream_url",
        "did": "bluesky_dids",
        "server": "mastodon_url",
        "stream": "mastodon_stream",
        "tag": "mastodon_tag",
        "list_id": "mastodon_list_id",
        "host": "source_listen_host",
        "port": "source_listen_port",
        "path": None,
        "subreddit": "reddit_subreddits",
        "feed": "rss_feeds",
        "review_feed": "rss_review_feeds",
        "max_bytes": "webhook_max_bytes",
    }
    out: dict[str, Any] = {}
    for flag, field in names.items():
        value = getattr(args, flag, None)
        if field is not None and value is not None:
            out[field] = value
    if getattr(args, "path", None) is not None:
        out["meta_path" if args.source == "facebook" else "webhook_path"] = args.path
    interval = getattr(args, "interval", None)
    if interval is not None:
        out["reddit_poll_interval_s" if args.source == "reddit" else "rss_poll_interval_s"] = interval
    return out


def build_source(name: str, settings: Settings, sink: PostSink, args: argparse.Namespace) -> Source:
    """The adapter ``name`` (imported on demand), or :class:`ConfigError` for bad configuration."""
    if name == "x":
        from stream.sources.x import XSource

        return XSource(settings, sink)
    if name == "bluesky":
        from stream.sources.bluesky import BlueskySource

        return BlueskySource(settings, sink)
    if name == "mastodon":
        from stream.sources.mastodon import MastodonSource

        return MastodonSource(settings, sink)
    if name == "facebook":
        from stream.sources.meta import MetaWebhookSource

        return MetaWebhookSource(settings, sink)
    if name == "reddit":
        from stream.sources.reddit import RedditSource

        return RedditSource(settings, sink)
    if name == "rss":
        from stream.sources.rss import RssSource

        return RssSource(settings, sink)
    if name == "webhook":
        from stream.sources.webhook import WebhookSource

        return WebhookSource(settings, sink)
    if name == "replay":
        from stream.sources.replay import ReplaySource

        return ReplaySource(
            settings,
            sink,
            path=args.file,
            speed=args.speed,
            inbound_only=not args.all,
            from_start=args.from_start,
        )
    raise ConfigError(f"unknown source {name!r}")


async def _serve_source(source: Source, settings: Settings) -> int:
    from stream.http_limits import HttpLimits
    from stream.sources.server import build_status_app, serve

    runner, port = await serve(
        build_status_app(source.metrics, source.health, HttpLimits.from_settings(settings)),
        settings.web_host,
        settings.source_metrics_port,
    )
    log.info("%s: /metrics and /healthz on http://%s:%d", source.name, settings.web_host, port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, source.stop)
    try:
        await source.run()
    finally:
        await runner.cleanup()
    return 0


async def _run(args: argparse.Namespace) -> int:
    settings = _settings(_overrides(args))
    if args.dry_run:  # positions of a dry run are thrown away, so a real run later starts where it should
        with tempfile.TemporaryDirectory(prefix="triage-dry-run-") as tmp:
            dry = settings.model_copy(update={"data_dir": Path(tmp)})
            return await _serve_source(build_source(args.source, dry, JsonlSink(), args), dry)
    from stream.kafka.admin import ensure_topics
    from stream.sources.producer import PostProducer

    producer = PostProducer(settings, client_id=f"social-triage-source-{args.source}")
    source = build_source(args.source, settings, producer, args)  # configuration first, then Kafka
    if not settings.kafka_bootstrap_servers:
        raise ConfigError("KAFKA_BOOTSTRAP_SERVERS is not set (or use --dry-run)")
    await ensure_topics(settings.kafka, settings.topic_specs())
    await producer.start()
    try:
        return await _serve_source(source, settings)
    finally:
        try:
            await producer.stop()
        except Exception as exc:
            log.error("%s: producer did not stop cleanly (%s)", source.name, exc)


async def _generate(args: argparse.Namespace) -> int:
    try:
        from stream.sources.synthetic.generator import run
    except ImportError as exc:  # pragma: no cover - the generator ships with the project
        raise ConfigError(f"the firehose generator is not available ({exc})") from None
    if args.duration is None and args.count is None:
        raise ConfigError("give --duration or --count")
    if not args.rate > 0:
        raise ConfigError(f"--rate must be a positive number of posts per second, not {args.rate:g}")
    if (args.duration is not None and args.duration <= 0) or (args.count is not None and args.count <= 0):
        raise ConfigError("--duration and --count must be positive")
    settings = _settings(_overrides(args))
    if args.dry_run:
        stats = await run(JsonlSink(), args.rate, args.duration, args.count, seed=args.seed)
    else:
        if not settings.kafka_bootstrap_servers:
            raise ConfigError("KAFKA_BOOTSTRAP_SERVERS is not set (or use --dry-run)")
        from stream.kafka.admin import ensure_topics
        from stream.sources.producer import PostProducer

        await ensure_topics(settings.kafka, settings.topic_specs())
        async with PostProducer(settings, client_id="social-triage-source-generate") as producer:
            stats = await run(producer, args.rate, args.duration, args.count, seed=args.seed)
    print(
        f"generated {stats.sent} posts in {stats.elapsed_s:.1f}s ({stats.actual_rate:.0f}/s)", file=sys.stderr
    )
    return 0


def _cmd(args: argparse.Namespace) -> int:
    work = _generate(args) if args.source == "generate" else _run(args)
    try:
        return asyncio.run(work)
    except ConfigError as exc:
        message = str(exc).removeprefix(f"{args.source}: ")
        print(f"triage source {args.source}: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # --dry-run piped into head
        return 0


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def register(subparsers: Any) -> None:
    """Add ``source`` and one sub-command per adapter to the ``triage`` parser."""
    parser = subparsers.add_parser("source", help="run a source adapter into the raw posts topic")
    sub = parser.add_subparsers(
        dest="source", required=True, metavar="{" + ",".join([*ADAPTERS, "generate"]) + "}"
    )

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        p.add_argument("--dry-run", action="store_true", help="write posts to stdout instead of Kafka")
        p.add_argument("--metrics-port", type=int, help="port of /metrics and /healthz (0: any free port)")
        p.add_argument("--brand", help="brand name stamped on posts")
        p.set_defaults(func=_cmd)
        return p

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--handle", type=_csv, help="brand handles, comma-separated")
        p.add_argument("--keyword", type=_csv, help="brand keywords, comma-separated")

    p = add("x", "X API v2 filtered stream (TRIAGE_X_BEARER_TOKEN)")
    p.add_argument("--rule", action="append", help="filtered-stream rule to keep in place (repeatable)")
    p.add_argument("--backfill-minutes", type=int)

    p = add("bluesky", "Bluesky Jetstream, filtered by brand handles/keywords/DIDs")
    filters(p)
    p.add_argument("--did", type=_csv, help="brand DIDs, comma-separated")
    p.add_argument("--jetstream-url")

    p = add("mastodon", "Mastodon streaming API (TRIAGE_MASTODON_ACCESS_TOKEN)")
    filters(p)
    p.add_argument("--server", help="server base URL, https://host")
    p.add_argument("--stream", choices=["public", "public:local", "hashtag", "list"])
    p.add_argument("--tag")
    p.add_argument("--list", dest="list_id")

    for name, text in (
        ("facebook", "Facebook/Instagram webhooks (TRIAGE_META_APP_SECRET, TRIAGE_META_VERIFY_TOKEN)"),
        ("webhook", "authenticated JSON/NDJSON ingest endpoint (TRIAGE_WEBHOOK_TOKEN)"),
    ):
        p = add(name, text)
        p.add_argument("--host", help="bind address")
        p.add_argument("--port", type=int)
        p.add_argument("--path", help="endpoint path")
        if name == "webhook":
            p.add_argument("--max-bytes", type=int)

    p = add("reddit", "Reddit new posts and comments (TRIAGE_REDDIT_CLIENT_ID/SECRET)")
    filters(p)
    p.add_argument("--subreddit", type=_csv, help="subreddits, comma-separated")
    p.add_argument("--interval", type=float, help="seconds between polls")

    p = add("rss", "RSS/Atom feeds of forums, blogs and review sites")
    filters(p)
    p.add_argument("--feed", action="append", help="forum/blog feed URL (repeatable)")
    p.add_argument("--review-feed", action="append", help="review-site feed URL (repeatable)")
    p.add_argument("--interval", type=float, help="seconds between polls")

    p = add("replay", "replay a JSONL or customer-support CSV file (resumes where it stopped)")
    p.add_argument("file", type=Path)
    p.add_argument("--speed", type=float, default=0.0, help="times original pacing (0: flat out)")
    p.add_argument("--all", action="store_true", help="CSV: include the brand's own replies")
    p.add_argument("--from-start", action="store_true", help="ignore the stored position")

    p = add("generate", "synthetic firehose (stream/sources/synthetic/generator.py)")
    p.add_argument("--rate", type=float, default=1000.0, help="posts per second")
    p.add_argument("--duration", type=float, help="seconds to run")
    p.add_argument("--count", type=int, help="posts to send")
    p.add_argument("--seed", type=int, default=0)


def main(argv: list[str] | None = None) -> int:
    logrepeat.basic_config(logging.INFO)  # a Kafka client in an outage repeats itself: held back
    parser = argparse.ArgumentParser(prog="triage")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
