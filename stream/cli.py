"""The `triage` command. Every sub-command reads the same settings from the environment."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from stream import logrepeat
from stream.documents import problems
from stream.settings import Settings

__all__ = ["build_parser", "main"]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise SystemExit(f"triage: bad configuration: {problems(exc, 'settings')}") from None


def _cmd_worker(args: argparse.Namespace) -> int:
    from stream.worker.main import run_worker

    settings = _settings()
    if not settings.kafka_bootstrap_servers:
        print(
            "triage worker: set KAFKA_BOOTSTRAP_SERVERS (or use `triage run` for the embedded broker)",
            file=sys.stderr,
        )
        return 2
    run_worker(settings)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from stream.local.run import run_pipeline

    settings = _settings()
    if args.partitions:
        settings = settings.model_copy(update={"partitions": args.partitions})
    if not args.sample.exists():
        print(f"triage run: no such sample file: {args.sample}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_pipeline(settings, args.sample, rate=args.rate, follow=args.follow))
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:  # SIGTERM or SIGHUP: the broker and the worker were stopped
        return 143


def _cmd_broker(args: argparse.Namespace) -> int:
    import time

    from stream.local.broker import EmbeddedBroker

    with EmbeddedBroker(port=args.port) as broker:
        print(
            f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}  (pid {broker.pid}; Ctrl-C to stop)",
            flush=True,
        )
        try:
            while broker.process is not None and broker.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


def _cmd_schemas(args: argparse.Namespace) -> int:
    from schemas.export import EXPORTED, SCHEMA_DIR, render, write_all

    if args.write:
        for path in write_all():
            print(f"wrote {path}")
        return 0
    stale = [
        n for n in EXPORTED if not (SCHEMA_DIR / n).exists() or (SCHEMA_DIR / n).read_text() != render(n)
    ]
    for name in stale:
        print(f"stale: {SCHEMA_DIR / name} (run `make schemas`)", file=sys.stderr)
    return 1 if stale else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "run", help="embedded broker + worker + bundled sample stream, with progress and summary"
    )
    from stream.local.run import SAMPLE_PATH

    p.add_argument("--sample", type=Path, default=SAMPLE_PATH, help="JSONL(.gz) posts to replay")
    p.add_argument("--rate", type=float, default=1000.0, help="posts/s to replay at (0: flat out)")
    p.add_argument("--follow", action="store_true", help="keep the pipeline running after the sample")
    p.add_argument("--partitions", type=int, default=None)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("worker", help="run a pipeline worker against KAFKA_BOOTSTRAP_SERVERS")
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("broker", help="run the embedded broker alone (development)")
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=_cmd_broker)

    p = sub.add_parser("schemas", help="check (default) or --write the committed JSON Schemas")
    p.add_argument("--write", action="store_true")
    p.set_defaults(func=_cmd_schemas)

    # Sub-commands that live with what they drive: train/evaluate (models), source (adapters), top (metrics).
    modules = (
        "classifiers.training.cli",
        "stream.sources.cli",
        "stream.sources.deadletter_replay",
        "stream.local.top",
    )
    for module in modules:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logrepeat.basic_config(logging.WARNING)  # a Kafka client in an outage repeats itself: held back
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
