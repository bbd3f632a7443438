"""Bluesky through Jetstream: JSON commit events over a WebSocket, resumable by a microsecond cursor.

Jetstream sends every new ``app.bsky.feed.post`` of the network; the adapter keeps the ones that mention one
of the brand's handles or DIDs or contain a keyword. The cursor (``time_us`` of the last event handled,
kept or not) is checkpointed; on resume the adapter asks for a few seconds earlier (``bluesky_rewind_s``) so
nothing falls in the gap, and skips events at or before the stored cursor so nothing is produced twice.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson

from stream.sources.backoff import Failure
from stream.sources.base import ConfigError, Source, SourceError, http_failure
from stream.sources.normalize import (
    BrandFilter,
    NormalizeError,
    finish,
    hashtags_in,
    mentions_in,
    normalizer,
    parse_time,
    reason,
)

__all__ = ["POST_COLLECTION", "BlueskySource", "jetstream_to_post", "mentioned"]

log = logging.getLogger(__name__)

POST_COLLECTION = "app.bsky.feed.post"
_MENTION = "app.bsky.richtext.facet#mention"
_TAG = "app.bsky.richtext.facet#tag"


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a list from the network; anything else (any user can write any record) is none."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _features(record: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(facet, feature) pairs of a post record, skipping whatever is not shaped as the lexicon says."""
    return [(facet, f) for facet in _objects(record.get("facets")) for f in _objects(facet.get("features"))]


def mentioned(record: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Handles (from the text the facets point at) and DIDs mentioned by a post record."""
    text_bytes = str(record.get("text") or "").encode()
    handles: list[str] = []
    dids: list[str] = []
    for facet, feature in _features(record):
        if feature.get("$type") == _MENTION:
            if feature.get("did"):
                dids.append(str(feature["did"]))
            index = facet.get("index")
            start, end = (index.get("byteStart"), index.get("byteEnd")) if isinstance(index, dict) else (0, 0)
            if isinstance(start, int) and isinstance(end, int):
                handle = text_bytes[start:end].decode(errors="ignore").lstrip("@")
                if handle:
                    handles.append(handle)
    return handles, dids


def _created(record: dict[str, Any], event: dict[str, Any]) -> Any:
    """The post's ``createdAt``, else the event's ``time_us`` (microseconds) in seconds."""
    created = record.get("createdAt")
    if created:
        return created
    time_us = event.get("time_us")
    return time_us / 1_000_000 if isinstance(time_us, int) and not isinstance(time_us, bool) else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@normalizer
def jetstream_to_post(event: dict[str, Any], brand: str | None = None) -> dict[str, Any]:
    """A Jetstream ``commit`` create event of a post as a post; the author is known by DID only."""
    commit = _object(event.get("commit"))
    record = commit.get("record") or {}
    did, rkey = event.get("did"), commit.get("rkey")
    if not did or not rkey or not isinstance(record, dict):
        raise NormalizeError("commit without did, rkey or record")
    text = str(record.get("text") or "")
    handles, _ = mentioned(record)
    tags = [str(f["tag"]) for _, f in _features(record) if f.get("$type") == _TAG and f.get("tag")]
    reply = _object(record.get("reply"))
    embed = _object(record.get("embed"))
    quoted = _object(embed.get("record"))
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        quoted = _object(quoted.get("record"))
    langs = record.get("langs")
    return finish(
        {
            "platform": "bluesky",
            "post_id": f"at://{did}/{POST_COLLECTION}/{rkey}",
            "author": {"id": did, "handle": did},
            "text": text,
            "lang": langs[0] if isinstance(langs, list) and langs else None,
            "created_at": parse_time(_created(record, event)),
            "url": f"https://bsky.app/profile/{did}/post/{rkey}",
            "reply_to": _object(reply.get("parent")).get("uri"),
            "conversation_id": _object(reply.get("root")).get("uri"),
            "quote_of": quoted.get("uri"),
            "mentions": handles or mentions_in(text),
            "hashtags": tags or hashtags_in(text),
            "brand": brand,
            "source": "bluesky",
        }
    )


class BlueskySource(Source):
    """Jetstream subscriber filtered by ``brand_handles``, ``brand_keywords`` and ``bluesky_dids``."""

    kind = "bluesky"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.filter = BrandFilter(s.brand_handles, s.brand_keywords)
        self.dids = set(s.bluesky_dids)
        self.cursor: int | None = None

    def check_config(self) -> None:
        s = self.settings
        if not (s.brand_handles or s.brand_keywords or s.bluesky_dids):
            raise ConfigError(
                "bluesky: set TRIAGE_BRAND_HANDLES, TRIAGE_BRAND_KEYWORDS or TRIAGE_BLUESKY_DIDS "
                "(the unfiltered network is far too much to ticket)"
            )
        if not s.bluesky_jetstream_url.startswith(("ws://", "wss://")):
            raise ConfigError("bluesky: TRIAGE_BLUESKY_JETSTREAM_URL must be a ws:// or wss:// URL")

    def restore(self, state: dict[str, Any]) -> None:
        cursor = state.get("cursor")
        self.cursor = int(cursor) if isinstance(cursor, int) else None

    def params(self) -> dict[str, str]:
        params = {"wantedCollections": POST_COLLECTION}
        if self.cursor is not None:
            params["cursor"] = str(self.cursor - int(self.settings.bluesky_rewind_s * 1_000_000))
        return params

    def about_brand(self, record: dict[str, Any]) -> bool:
        handles, dids = mentioned(record)
        if self.dids.intersection(dids):
            return True
        return self.filter.matches(str(record.get("text") or ""), handles)

    async def session(self) -> None:
        stored = self.emitter.position.get("cursor")
        if isinstance(stored, int):
            self.cursor = stored  # after a failed flush, resume from what Kafka has
        try:
            ws = await self.http.ws_connect(
                self.settings.bluesky_jetstream_url,
                params=self.params(),
                autoping=True,
                # a stalled or failed peer will not answer our close frame: do not wait long for it
                timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise http_failure(exc.status, exc.headers) from None
        async with ws:
            self.mark_connected()
            while True:
                try:
                    msg = await ws.receive(timeout=self.stall_timeout_s)
                except TimeoutError:
                    raise SourceError("stall", Failure.NETWORK) from None
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.touch()
                    await self._handle(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    self.touch()
                    self.received()
                    self.malformed("frame", "binary frame (compression is not requested)")
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ):
                    raise SourceError(f"closed by server ({ws.close_code})", Failure.NETWORK)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    raise SourceError(f"websocket error: {ws.exception()}", Failure.NETWORK)

    async def _handle(self, data: str) -> None:
        self.received()
        try:
            event = orjson.loads(data)
            time_us = int(event["time_us"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            self.malformed("event", exc)
            return
        if self.cursor is not None and time_us <= self.cursor:
            self.filtered()  # replayed by the rewind: handled before the restart
            return
        self.cursor = time_us
        try:
            wanted = self._wanted(event)
            post = jetstream_to_post(event, self.settings.brand) if wanted else None
        except Exception as exc:  # one poison event is counted and passed, never a reconnect into it
            self.malformed("post", reason(exc))
            await self.emitter.advance(cursor=time_us)
            return
        if post is None:
            self.filtered()
            await self.emitter.advance(cursor=time_us)
            return
        await self.emitter.emit(post, cursor=time_us)

    def _wanted(self, event: dict[str, Any]) -> bool:
        """A post created, about the brand."""
        commit = event.get("commit") if event.get("kind") == "commit" else None
        return (
            isinstance(commit, dict)
            and commit.get("collection") == POST_COLLECTION
            and commit.get("operation") == "create"
            and isinstance(commit.get("record"), dict)
            and self.about_brand(commit["record"])
        )
