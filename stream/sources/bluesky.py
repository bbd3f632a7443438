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
from stream.sources.normalize import BrandFilter, NormalizeError, finish, hashtags_in, mentions_in, parse_time

__all__ = ["POST_COLLECTION", "BlueskySource", "jetstream_to_post", "mentioned"]

log = logging.getLogger(__name__)

POST_COLLECTION = "app.bsky.feed.post"
_MENTION = "app.bsky.richtext.facet#mention"
_TAG = "app.bsky.richtext.facet#tag"


def mentioned(record: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Handles (from the text the facets point at) and DIDs mentioned by a post record."""
    text_bytes = str(record.get("text") or "").encode()
    handles: list[str] = []
    dids: list[str] = []
    for facet in record.get("facets") or []:
        for feature in facet.get("features") or []:
            if feature.get("$type") == _MENTION:
                if feature.get("did"):
                    dids.append(str(feature["did"]))
                index = facet.get("index") or {}
                start, end = index.get("byteStart"), index.get("byteEnd")
                if isinstance(start, int) and isinstance(end, int):
                    handle = text_bytes[start:end].decode(errors="ignore").lstrip("@")
                    if handle:
                        handles.append(handle)
    return handles, dids


def jetstream_to_post(event: dict[str, Any], brand: str | None = None) -> dict[str, Any]:
    """A Jetstream ``commit`` create event of a post as a post; the author is known by DID only."""
    commit = event.get("commit") or {}
    record = commit.get("record") or {}
    did, rkey = event.get("did"), commit.get("rkey")
    if not did or not rkey or not isinstance(record, dict):
        raise NormalizeError("commit without did, rkey or record")
    text = str(record.get("text") or "")
    handles, _ = mentioned(record)
    tags = [
        str(f["tag"])
        for facet in record.get("facets") or []
        for f in facet.get("features") or []
        if f.get("$type") == _TAG and f.get("tag")
    ]
    reply = record.get("reply") or {}
    embed = record.get("embed") or {}
    quoted = embed.get("record") or {}
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        quoted = (quoted.get("record") or {}) if isinstance(quoted, dict) else {}
    langs = record.get("langs") or []
    return finish(
        {
            "platform": "bluesky",
            "post_id": f"at://{did}/{POST_COLLECTION}/{rkey}",
            "author": {"id": did, "handle": did},
            "text": text,
            "lang": langs[0] if langs else None,
            "created_at": parse_time(record.get("createdAt") or event.get("time_us")),
            "url": f"https://bsky.app/profile/{did}/post/{rkey}",
            "reply_to": (reply.get("parent") or {}).get("uri"),
            "conversation_id": (reply.get("root") or {}).get("uri"),
            "quote_of": quoted.get("uri") if isinstance(quoted, dict) else None,
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
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self.malformed("event", exc)
            return
        if self.cursor is not None and time_us <= self.cursor:
            self.filtered()  # replayed by the rewind: handled before the restart
            return
        self.cursor = time_us
        commit = event.get("commit") if event.get("kind") == "commit" else None
        if (
            not isinstance(commit, dict)
            or commit.get("collection") != POST_COLLECTION
            or commit.get("operation") != "create"
            or not isinstance(commit.get("record"), dict)
            or not self.about_brand(commit["record"])
        ):
            self.filtered()
            await self.emitter.advance(cursor=time_us)
            return
        try:
            post = jetstream_to_post(event, self.settings.brand)
        except NormalizeError as exc:
            self.malformed("post", exc)
            await self.emitter.advance(cursor=time_us)
            return
        await self.emitter.emit(post, cursor=time_us)
