"""`triage deadletters replay`: send chosen dead letters back into the pipeline once their cause is fixed.

A dead letter keeps its reason, where it came from and its original bytes (up to 256 KiB). Replaying one
writes the original again: a stage-one dead letter (a post, or a raw record) to the raw topic, partitioned
by dedupe key like any post; a stage-two one (a scored post, a CRM event, an ops command) to the topic and
partition it came from. Each dead letter is replayed at most once: a mark keyed by the dead letter's own
position goes to a compacted topic (``<prefix>.deadletter-replays``) before the original is written, and a
later run skips what is marked. A replayed post can still be judged a duplicate if its keys are in the
dedupe window (a chunk that failed mid-way may have noted them): replay after the window, or accept it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from stream.kafka.admin import ensure_topics
from stream.kafka.batch_sink import BatchSink
from stream.kafka.readers import read_topic
from stream.kafka.records import OutRecord, TopicSpec
from stream.settings import Settings
from stream.sources.producer import PostProducer

__all__ = ["Choice", "Replayed", "register", "replay"]


@dataclass(frozen=True, slots=True)
class Choice:
    """Which dead letters: every given criterion must hold."""

    reason: str | None = None  # a substring of the reason
    since: datetime | None = None
    until: datetime | None = None
    stage: str | None = None
    topic: str | None = None  # where the original came from
    partition: int | None = None
    from_offset: int | None = None  # of the original, inclusive
    to_offset: int | None = None  # of the original, inclusive

    def matches(self, doc: dict[str, Any]) -> bool:
        at = _when(doc.get("at"))
        checks = (
            self.reason is None or self.reason in str(doc.get("reason", "")),
            self.since is None or (at is not None and at >= self.since),
            self.until is None or (at is not None and at <= self.until),
            self.stage is None or doc.get("stage") == self.stage,
            self.topic is None or doc.get("topic") == self.topic,
            self.partition is None or doc.get("partition") == self.partition,
            self.from_offset is None or int(doc.get("offset", -1)) >= self.from_offset,
            self.to_offset is None or int(doc.get("offset", -1)) <= self.to_offset,
        )
        return all(checks)


@dataclass(slots=True)
class Replayed:
    matched: int = 0
    replayed: int = 0
    already: int = 0  # replayed by an earlier run
    truncated: int = 0  # the original was cut at 256 KiB: not replayable
    unreadable: int = 0  # not a dead-letter document
    by_target: Counter[str] = field(default_factory=Counter)


def _when(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def marks_topic(settings: Settings) -> str:
    return f"{settings.topic_prefix}.deadletter-replays"


async def replay(
    settings: Settings, choice: Choice, *, dry_run: bool = False, limit: int | None = None
) -> Replayed:
    topics = settings.topics
    marks = marks_topic(settings)
    await ensure_topics(
        settings.kafka,
        [TopicSpec(marks, 1, settings.replication_factor, {"cleanup.policy": "compact"})],
    )
    done = {
        r.key for r in await read_topic(settings.kafka, marks) if r.key is not None and r.value is not None
    }
    report = Replayed()
    todo: list[tuple[bytes, dict[str, Any]]] = []
    for record in await read_topic(settings.kafka, topics.deadletter):
        try:
            doc = orjson.loads(record.value)
            assert isinstance(doc, dict) and "original_b64" in doc
        except (orjson.JSONDecodeError, AssertionError, TypeError):
            report.unreadable += 1
            continue
        if not choice.matches(doc):
            continue
        report.matched += 1
        mark = f"{record.partition}:{record.offset}".encode()  # the dead letter's own position
        if mark in done:
            report.already += 1
        elif doc.get("truncated"):
            report.truncated += 1
        elif limit is None or len(todo) < limit:
            todo.append((mark, doc))
    if dry_run or not todo:
        return report
    sink = BatchSink(
        settings.kafka,
        client_id="deadletter-replay",
        max_record_bytes=settings.max_record_bytes,
        default_partitions=settings.partitions,
    )
    await sink.start()
    try:
        async with PostProducer(settings) as producer:
            for mark, doc in todo:
                stamp = orjson.dumps(
                    {"replayed_at": datetime.now(UTC).isoformat(), "reason": doc.get("reason")}
                )
                await (await sink.send(marks, [OutRecord(stamp, key=mark, partition=0)]))  # at most once
                original = base64.b64decode(doc["original_b64"])
                if doc.get("stage") == "triage":
                    target = topics.raw
                    try:
                        item = orjson.loads(original)
                    except orjson.JSONDecodeError:
                        item = None
                    if isinstance(item, dict):
                        item.pop("ingested_at", None)  # stamped anew: this is when it enters again
                        await producer.add(item)
                    else:
                        await producer.add_raw(original)
                else:
                    target = str(doc.get("topic"))
                    await (
                        await sink.send(target, [OutRecord(original, partition=int(doc.get("partition", 0)))])
                    )
                report.replayed += 1
                report.by_target[target] += 1
            await producer.flush()
    finally:
        await sink.stop()
    return report


def _time(value: str) -> datetime:
    at = _when(value)
    if at is None:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}")
    return at


def _cmd(args: argparse.Namespace) -> int:
    settings = Settings()
    if not settings.kafka_bootstrap_servers:
        print("triage deadletters: set KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    choice = Choice(
        reason=args.reason,
        since=args.since,
        until=args.until,
        stage=args.stage,
        topic=args.topic,
        partition=args.partition,
        from_offset=args.from_offset,
        to_offset=args.to_offset,
    )
    report = asyncio.run(replay(settings, choice, dry_run=args.dry_run, limit=args.limit))
    verb = "would replay" if args.dry_run else "replayed"
    replayable = report.matched - report.already - report.truncated
    print(
        f"dead letters matched {report.matched}; {verb} "
        f"{replayable if args.dry_run else report.replayed}; already replayed {report.already}; "
        f"truncated (not replayable) {report.truncated}; unreadable records {report.unreadable}"
    )
    for target, n in sorted(report.by_target.items()):
        print(f"  to {target}: {n}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "deadletters", help="dead letters: replay chosen ones once their cause is fixed"
    )
    sub = p.add_subparsers(dest="deadletters_command", required=True)
    r = sub.add_parser("replay", help="send chosen dead letters back into the pipeline, each at most once")
    r.add_argument("--reason", help="only dead letters whose reason contains this text")
    r.add_argument("--since", type=_time, help="only those dead-lettered at or after this ISO time")
    r.add_argument("--until", type=_time, help="only those dead-lettered at or before this ISO time")
    r.add_argument("--stage", choices=("triage", "route"))
    r.add_argument("--topic", help="only originals from this topic")
    r.add_argument("--partition", type=int)
    r.add_argument("--from-offset", type=int, help="only originals at or after this offset")
    r.add_argument("--to-offset", type=int, help="only originals at or before this offset")
    r.add_argument("--limit", type=int, default=None, help="replay at most this many")
    r.add_argument("--dry-run", action="store_true", help="count what would be replayed; write nothing")
    r.set_defaults(func=_cmd)
