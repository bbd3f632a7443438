"""Mastodon streaming API: server-sent events (``update`` carries a status), public, hashtag or list timeline.

Streaming has no resume cursor, so after a restart or a reconnect the adapter first reads the matching REST
timeline with ``min_id`` = the newest id it stored, then reopens the stream; ids handled recently are
remembered (and checkpointed) so a status seen through both paths is produced once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from stream.sources.base import ConfigError, Source, http_failure
from stream.sources.lines import read_lines
from stream.sources.normalize import (
    BrandFilter,
    NormalizeError,
    finish,
    html_to_text,
    normalizer,
    parse_time,
    reason,
)

__all__ = ["MastodonSource", "SseEvent", "SseParser", "status_to_post"]

log = logging.getLogger(__name__)

_REMEMBER = 1000
_CATCHUP_PAGES = 10


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str


class SseParser:
    """Server-sent events line by line (the WHATWG rules Mastodon follows); comments are heartbeats."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self.heartbeats = 0

    def feed(self, raw: bytes) -> SseEvent | None:
        line = raw.decode("utf-8", errors="replace")
        if not line:
            if not self._data and not self._event:
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            self.heartbeats += 1
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        return None


@normalizer
def status_to_post(status: dict[str, Any], brand: str | None = None) -> dict[str, Any]:
    """A Mastodon status (REST or ``update`` payload) as a post; a reblog becomes an empty repost."""
    account = status.get("account") or {}
    if not status.get("id") or not account.get("id"):
        raise NormalizeError("status without id or account")
    reblog = status.get("reblog") or None
    text = "" if reblog else html_to_text(str(status.get("content") or ""))
    spoiler = str(status.get("spoiler_text") or "")
    if spoiler and text:
        text = f"{spoiler}\n{text}"
    return finish(
        {
            "platform": "mastodon",
            "post_id": str(status.get("uri") or status["id"]),
            "author": {
                "id": str(account["id"]),
                "handle": str(account.get("acct") or account.get("username") or account["id"]),
                "display_name": account.get("display_name") or None,
                "followers": max(0, int(account.get("followers_count") or 0)),
            },
            "text": text,
            "lang": status.get("language"),
            "created_at": parse_time(status.get("created_at")),
            "url": status.get("url") or status.get("uri"),
            "reply_to": status.get("in_reply_to_id"),
            "repost_of": str(reblog.get("uri") or reblog.get("id")) if isinstance(reblog, dict) else None,
            "mentions": [str(m["acct"]) for m in status.get("mentions") or [] if m.get("acct")],
            "hashtags": [str(t["name"]) for t in status.get("tags") or [] if t.get("name")],
            "engagement": {
                "likes": max(0, int(status.get("favourites_count") or 0)),
                "reposts": max(0, int(status.get("reblogs_count") or 0)),
                "replies": max(0, int(status.get("replies_count") or 0)),
            },
            "brand": brand,
            "source": "mastodon",
        }
    )


def _id_key(status_id: str) -> tuple[int, str]:
    return (int(status_id), "") if status_id.isdigit() else (0, status_id)


class MastodonSource(Source):
    kind = "mastodon"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        assert s.mastodon_url is not None
        self.base = s.mastodon_url.rstrip("/")
        self.filter = BrandFilter(s.brand_handles, s.brand_keywords)
        self.since_id: str | None = None
        self._recent: OrderedDict[str, None] = OrderedDict()

    def check_config(self) -> None:
        s = self.settings
        if not s.mastodon_url or not s.mastodon_url.startswith(("http://", "https://")):
            raise ConfigError("mastodon: TRIAGE_MASTODON_URL must be the server's https:// URL")
        if s.mastodon_access_token is None or not s.mastodon_access_token.get_secret_value():
            raise ConfigError("mastodon: TRIAGE_MASTODON_ACCESS_TOKEN is not set")
        if s.mastodon_stream == "hashtag" and not s.mastodon_tag:
            raise ConfigError("mastodon: the hashtag stream needs TRIAGE_MASTODON_TAG")
        if s.mastodon_stream == "list" and not s.mastodon_list_id:
            raise ConfigError("mastodon: the list stream needs TRIAGE_MASTODON_LIST_ID")

    def _headers(self) -> dict[str, str]:
        assert self.settings.mastodon_access_token is not None
        return {"Authorization": f"Bearer {self.settings.mastodon_access_token.get_secret_value()}"}

    def endpoints(self) -> tuple[str, dict[str, str], str, dict[str, str]]:
        """Streaming path and params, timeline path and params, for the configured stream."""
        s = self.settings
        if s.mastodon_stream == "hashtag":
            tag = (s.mastodon_tag or "").lstrip("#")
            return "/api/v1/streaming/hashtag", {"tag": tag}, f"/api/v1/timelines/tag/{quote(tag)}", {}
        if s.mastodon_stream == "list":
            lid = s.mastodon_list_id or ""
            return "/api/v1/streaming/list", {"list": lid}, f"/api/v1/timelines/list/{quote(lid)}", {}
        if s.mastodon_stream == "public:local":
            return "/api/v1/streaming/public/local", {}, "/api/v1/timelines/public", {"local": "true"}
        return "/api/v1/streaming/public", {}, "/api/v1/timelines/public", {}

    def restore(self, state: dict[str, Any]) -> None:
        self.since_id = state.get("since_id")
        self._recent = OrderedDict.fromkeys(state.get("recent") or [])

    def _remember(self, status_id: str) -> bool:
        """True if new; keeps the last ids handled so REST catch-up and stream overlap harmlessly."""
        if status_id in self._recent:
            return False
        self._recent[status_id] = None
        while len(self._recent) > _REMEMBER:
            self._recent.popitem(last=False)
        return True

    async def session(self) -> None:
        stream_path, stream_params, timeline_path, timeline_params = self.endpoints()
        self.restore(self.emitter.position)  # after a failed flush: from what Kafka has
        if self.since_id:
            await self.catch_up(timeline_path, timeline_params)
        url = f"{self.base}{stream_path}"
        headers = {**self._headers(), "Accept": "text/event-stream"}
        async with self.http.get(url, params=stream_params, headers=headers) as resp:
            if resp.status in (401, 403):
                raise ConfigError(f"mastodon: streaming refused with HTTP {resp.status}: check the token")
            if resp.status >= 400:
                raise http_failure(resp.status, resp.headers)
            self.mark_connected()
            parser = SseParser()
            async for line in read_lines(resp.content, self.stall_timeout_s, self.touch):
                before = parser.heartbeats
                event = parser.feed(line)
                if parser.heartbeats != before:
                    self.metrics.keepalives.labels(self.name).inc()
                if event is None:
                    continue
                if event.event != "update":
                    self.received()
                    self.filtered()
                    continue
                await self._handle_update(event.data)

    async def catch_up(self, path: str, params: dict[str, str]) -> None:
        """Statuses newer than the stored id, oldest first, from the REST timeline."""
        min_id = self.since_id
        for _ in range(_CATCHUP_PAGES):
            query = {**params, "limit": "40", "min_id": str(min_id)}
            async with self.http.get(f"{self.base}{path}", params=query, headers=self._headers()) as resp:
                if resp.status in (401, 403):
                    raise ConfigError(f"mastodon: timeline refused with HTTP {resp.status}: check the token")
                if resp.status >= 400:
                    raise http_failure(resp.status, resp.headers)
                page = await resp.json(loads=orjson.loads)
            if not isinstance(page, list) or not page:
                return
            statuses = [s for s in page if isinstance(s, dict) and s.get("id")]
            for _ in range(len(page) - len(statuses)):
                self.received()
                self.malformed("status", "no id")
            if not statuses:
                return
            statuses.sort(key=lambda s: _id_key(str(s["id"])))
            for status in statuses:
                await self._handle_status(status)
            min_id = str(statuses[-1]["id"])

    async def _handle_update(self, data: str) -> None:
        try:
            status = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self.received()
            self.malformed("update", exc)
            return
        await self._handle_status(status)

    async def _handle_status(self, status: Any) -> None:
        self.received()
        if not isinstance(status, dict) or not status.get("id"):
            self.malformed("status", "no id")
            return
        sid = str(status["id"])
        if not self._remember(sid):
            self.filtered()
            return
        if self.since_id is None or _id_key(sid) > _id_key(self.since_id):
            self.since_id = sid
        try:
            wanted = self._about_brand(status)
            post = status_to_post(status, self.settings.brand) if wanted else None
        except Exception as exc:  # one poison status is counted and passed, never a reconnect into it
            self.malformed("status", reason(exc))
            await self.emitter.advance(since_id=self.since_id, recent=list(self._recent))
            return
        if post is None:
            self.filtered()
            await self.emitter.advance(since_id=self.since_id, recent=list(self._recent))
            return
        await self.emitter.emit(post, since_id=self.since_id, recent=list(self._recent))

    def _about_brand(self, status: dict[str, Any]) -> bool:
        reblog = status.get("reblog")
        target = reblog if isinstance(reblog, dict) else status
        text = html_to_text(str(target.get("content") or ""))
        mentions = target.get("mentions")
        accts = (
            [str(m.get("acct")) for m in mentions if isinstance(m, dict)]
            if isinstance(mentions, list)
            else []
        )
        return self.filter.matches(text, accts)
