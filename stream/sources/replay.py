"""Replay of history files: JSONL post dicts, or CSV in the layout of public customer-care datasets.

The CSV layout is that of "Customer Support on Twitter" (``tweet_id, author_id, inbound, created_at, text,
response_tweet_id, in_response_to_tweet_id``, times like ``Tue Oct 31 22:10:47 +0000 2017``). Pacing follows
the original timestamps divided by a speed factor (``speed=0``: flat out); the position (records done) is
checkpointed so an interrupted replay continues where it stopped.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from stream.sources.base import ConfigError, Source
from stream.sources.normalize import (
    NormalizeError,
    finish,
    hashtags_in,
    mentions_in,
    normalizer,
    parse_time,
    reason,
)

__all__ = ["Pacer", "ReplaySource", "iter_records", "jsonl_to_post", "tweet_row_to_post"]

log = logging.getLogger(__name__)

TWEET_COLUMNS = ("tweet_id", "author_id", "inbound", "created_at", "text")


def _id(value: str | None) -> str | None:
    """Ids as written by pandas may carry ``.0``; empty means none."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    return value[:-2] if value.endswith(".0") and value[:-2].isdigit() else value


@normalizer
def tweet_row_to_post(
    row: dict[str, str], brand: str | None = None, inbound_only: bool = True
) -> dict[str, Any] | None:
    """One dataset row as a post; ``None`` for the brand's own replies when ``inbound_only``."""
    inbound = (row.get("inbound") or "").strip().lower() in ("true", "1", "yes")
    if inbound_only and not inbound:
        return None
    post_id = _id(row.get("tweet_id"))
    author = _id(row.get("author_id"))
    if not post_id or not author:
        raise NormalizeError("tweet_id and author_id are required")
    text = row.get("text") or ""
    return finish(
        {
            "platform": "x",
            "post_id": post_id,
            "author": {"id": author, "handle": author},
            "text": text,
            "created_at": parse_time(row.get("created_at")),
            "reply_to": _id(row.get("in_response_to_tweet_id")),
            "mentions": mentions_in(text),
            "hashtags": hashtags_in(text),
            "brand": brand,
            "source": "replay",
        }
    )


@normalizer
def jsonl_to_post(obj: Any, brand: str | None = None) -> dict[str, Any]:
    """A stored post dict, re-validated; ``ingested_at`` is dropped so the replay time starts the clock."""
    if not isinstance(obj, dict):
        raise NormalizeError("expected a JSON object")
    post = {k: v for k, v in obj.items() if k != "ingested_at"}
    if brand and not post.get("brand"):
        post["brand"] = brand
    post.setdefault("source", "replay")
    return finish(post)


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def _is_csv(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    return ".csv" in suffixes


_BROKEN_FILE = (EOFError, gzip.BadGzipFile, zlib.error)  # a truncated or corrupt .gz: nothing more to read


def _rows(reader: Iterable[dict[str, str]]) -> Iterator[dict[str, str] | NormalizeError]:
    """The CSV rows, with a row the csv module refuses (a field over its size limit) as its error: the
    reader goes on with the next line."""
    rows = iter(reader)
    while True:
        try:
            yield next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            yield NormalizeError(f"unreadable CSV row: {exc}")


def iter_records(
    path: Path, brand: str | None = None, inbound_only: bool = True
) -> Iterator[dict[str, Any] | NormalizeError | None]:
    """Each record of the file in order: a post, ``None`` (skipped by choice), or the error that broke it.
    A file that cannot be read further (a truncated .gz) ends with one error saying so."""
    try:
        with _open_text(path) as fh:
            if _is_csv(path):
                reader = csv.DictReader(fh)
                missing = [c for c in TWEET_COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise ConfigError(f"{path}: CSV lacks columns {', '.join(missing)}")
                for row in _rows(reader):
                    if isinstance(row, NormalizeError):
                        yield row
                        continue
                    try:
                        yield tweet_row_to_post(row, brand, inbound_only)
                    except NormalizeError as exc:
                        yield exc
            else:
                for line in fh:
                    if not line.strip():
                        continue
                    try:
                        yield jsonl_to_post(orjson.loads(line), brand)
                    except orjson.JSONDecodeError as exc:
                        yield NormalizeError(f"invalid JSON: {exc}")
                    except NormalizeError as exc:
                        yield exc
    except _BROKEN_FILE as exc:
        yield NormalizeError(f"{path.name}: the rest of the file cannot be read ({reason(exc)})")


class Pacer:
    """When each record is due, in seconds since the replay started: original gaps divided by ``speed``.

    Records older than one already played are due at once (the files are not always sorted by time).
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin: float | None = None
        self._latest = 0.0

    def due(self, created_ts: float) -> float:
        if self.speed <= 0:
            return 0.0
        if self._origin is None:
            self._origin = created_ts
        self._latest = max(self._latest, (created_ts - self._origin) / self.speed)
        return self._latest


class ReplaySource(Source):
    """Plays one file into the raw topic, then stops; resumes after the last stored record on restart."""

    kind = "replay"

    def __init__(
        self,
        *args: Any,
        path: Path,
        speed: float = 0.0,
        inbound_only: bool = True,
        from_start: bool = False,
        **kwargs: Any,
    ) -> None:
        self.path = Path(path)
        self.speed = speed
        self.inbound_only = inbound_only
        self.from_start = from_start
        self.done = 0
        self.finished = False
        kwargs.setdefault("name", f"replay-{self.path.name}")
        super().__init__(*args, **kwargs)

    def check_config(self) -> None:
        if not self.path.is_file():
            raise ConfigError(f"replay: no such file: {self.path}")
        if self.speed < 0:
            raise ConfigError("replay: --speed must be >= 0 (0: flat out)")

    def restore(self, state: dict[str, Any]) -> None:
        if self.from_start or state.get("path") != str(self.path.resolve()):
            self.done = 0
        else:
            self.done = int(state.get("records", 0))

    def health(self) -> dict[str, Any]:
        status = super().health()
        status.update(healthy=not self.finished or self.emitter.waiting == 0, records=self.done)
        return status

    async def session(self) -> None:
        path = str(self.path.resolve())
        pacer = Pacer(self.speed)
        start = self.clock()
        skip = self.done
        self.mark_connected()
        for index, item in enumerate(iter_records(self.path, self.settings.brand, self.inbound_only)):
            if index < skip:
                continue
            if self.stop_event.is_set():
                return
            position = index + 1
            if isinstance(item, NormalizeError):
                self.received()
                self.malformed(f"record {position}", item)
            elif item is None:
                self.received()
                self.filtered()
            else:
                self.received()
                wait = start + pacer.due(parse_time(item["created_at"]).timestamp()) - self.clock()
                if wait > 0:
                    await self.sleep(wait)
                    if self.stop_event.is_set():
                        return
                await self.emitter.emit(item, path=path, records=position)
                self.touch()
            self.done = position
            if item is None or isinstance(item, NormalizeError):
                await self.emitter.advance(path=path, records=position)
        await self.emitter.commit()
        self.finished = True
        log.info("%s: replayed %s (%d records)", self.name, self.path, self.done)
        self.stop()
