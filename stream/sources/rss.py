"""RSS 2.0, RSS 1.0 and Atom feeds of forums, blogs and review sites, polled with conditional GET.

Each feed keeps its ``ETag``/``Last-Modified`` (so an unchanged feed costs a 304) and a bounded memory of
entry ids already produced (feeds show the same entries poll after poll, and have no ordering one could
trust). Both are checkpointed after the posts they cover are flushed. One failing feed does not hold up
the others; it is counted and tried again at the next poll.
"""

from __future__ import annotations

import hashlib
import logging
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import aiohttp

from stream.sources.backoff import Failure
from stream.sources.base import ConfigError, Source, SourceError, http_failure
from stream.sources.normalize import (
    BrandFilter,
    NormalizeError,
    finish,
    hashtags_in,
    html_to_text,
    mentions_in,
    normalizer,
    parse_time,
    reason,
)

__all__ = ["FeedEntry", "RssSource", "entry_to_post", "parse_feed"]

log = logging.getLogger(__name__)

FeedEntry = dict[str, Any]
_MAX_FEED_BYTES = 10 * 1024 * 1024
_ATOM = "{http://www.w3.org/2005/Atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_RSS1 = "{http://purl.org/rss/1.0/}"


def _text(el: ET.Element | None) -> str:
    return "".join(el.itertext()).strip() if el is not None else ""


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except Exception:  # not RFC 822 (TypeError, ValueError, IndexError, OverflowError...): try ISO 8601
        try:
            return parse_time(value)
        except NormalizeError:
            return None


def parse_feed(body: bytes) -> list[FeedEntry]:
    """Entries of an RSS 2.0, RSS 1.0 (RDF) or Atom document: id, title, text, link, author, published."""
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError: an unknown encoding declared
        raise NormalizeError(f"not XML: {exc}") from None
    entries: list[FeedEntry] = []
    if root.tag == f"{_ATOM}feed":
        for e in root.iter(f"{_ATOM}entry"):
            link = next(
                (
                    ln.get("href")
                    for ln in e.findall(f"{_ATOM}link")
                    if ln.get("rel", "alternate") == "alternate"
                ),
                None,
            )
            body_el = e.find(f"{_ATOM}content")
            if body_el is None:
                body_el = e.find(f"{_ATOM}summary")
            entries.append(
                {
                    "id": _text(e.find(f"{_ATOM}id")) or link,
                    "title": _text(e.find(f"{_ATOM}title")),
                    "html": _text(body_el),
                    "link": link,
                    "author": _text(e.find(f"{_ATOM}author/{_ATOM}name")),
                    "published": _date(
                        _text(e.find(f"{_ATOM}published")) or _text(e.find(f"{_ATOM}updated"))
                    ),
                }
            )
        return entries
    items = list(root.iter("item")) or list(root.iter(f"{_RSS1}item"))
    for item in items:

        def child(name: str, el: ET.Element = item) -> ET.Element | None:
            found = el.find(name)
            return found if found is not None else el.find(f"{_RSS1}{name}")

        link = _text(child("link"))
        content = item.find(f"{_CONTENT}encoded")
        entries.append(
            {
                "id": _text(child("guid")) or item.get(f"{_RDF}about") or link,
                "title": _text(child("title")),
                "html": _text(content) if content is not None else _text(child("description")),
                "link": link or None,
                "author": _text(item.find(f"{_DC}creator")) or _text(child("author")),
                "published": _date(_text(child("pubDate")) or _text(item.find(f"{_DC}date"))),
            }
        )
    return entries


def _post_id(feed_url: str, entry_id: str) -> str:
    pid = (
        entry_id if entry_id.startswith(("http://", "https://", "tag:", "urn:")) else f"{feed_url}#{entry_id}"
    )
    return pid if len(pid) <= 256 else "sha1:" + hashlib.sha1(pid.encode()).hexdigest()


@normalizer
def entry_to_post(
    entry: FeedEntry,
    feed_url: str,
    platform: str = "forum",
    brand: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A feed entry as a post; entries without a date are taken as published when first seen."""
    if not entry.get("id"):
        raise NormalizeError("entry without id or link")
    title, body = str(entry.get("title") or ""), html_to_text(str(entry.get("html") or ""))
    text = f"{title}\n\n{body}" if title and body and not body.startswith(title) else (body or title)
    host = urlparse(feed_url).hostname or "feed"
    author = str(entry.get("author") or "").strip() or host
    return finish(
        {
            "platform": platform,
            "post_id": _post_id(feed_url, str(entry["id"])),
            "author": {"id": f"{host}:{author}"[:256], "handle": author[:256]},
            "text": text,
            "created_at": entry.get("published") or now or datetime.now(UTC),
            "url": entry.get("link"),
            "mentions": mentions_in(text),
            "hashtags": hashtags_in(text),
            "brand": brand,
            "source": f"rss:{host}",
        }
    )


class RssSource(Source):
    kind = "rss"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.feeds: dict[str, str] = {u: "forum" for u in s.rss_feeds}
        self.feeds.update({u: "review" for u in s.rss_review_feeds})
        self.filter = BrandFilter(s.brand_handles, s.brand_keywords)
        self.state: dict[str, dict[str, Any]] = {}
        self.stall_timeout_s = max(s.source_stall_timeout_s, s.rss_poll_interval_s * 1.5)

    def check_config(self) -> None:
        s = self.settings
        urls = [*s.rss_feeds, *s.rss_review_feeds]
        if not urls:
            raise ConfigError("rss: set TRIAGE_RSS_FEEDS or TRIAGE_RSS_REVIEW_FEEDS")
        bad = [u for u in urls if not u.startswith(("http://", "https://"))]
        if bad:
            raise ConfigError(f"rss: not http(s) URLs: {', '.join(bad)}")

    def restore(self, state: dict[str, Any]) -> None:
        feeds = state.get("feeds") or {}
        self.state = {url: dict(feeds.get(url) or {}) for url in self.feeds}

    def _snapshot(self) -> dict[str, Any]:
        return {"feeds": {u: {**s, "seen": list(s.get("seen") or [])} for u, s in self.state.items()}}

    async def fetch(self, url: str) -> bytes | None:
        """The feed body, or ``None`` when unchanged (304)."""
        feed = self.state.setdefault(url, {})
        headers = {
            "User-Agent": "social-triage (feed reader)",
            "Accept": "application/rss+xml, application/atom+xml, */*",
        }
        if feed.get("etag"):
            headers["If-None-Match"] = feed["etag"]
        if feed.get("modified"):
            headers["If-Modified-Since"] = feed["modified"]
        async with self.http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as resp:
            if resp.status == 304:
                return None
            if resp.status >= 400:
                raise http_failure(resp.status, resp.headers)
            body = await resp.content.read(_MAX_FEED_BYTES + 1)
            if len(body) > _MAX_FEED_BYTES:
                raise SourceError(f"feed over {_MAX_FEED_BYTES} bytes", Failure.HTTP)
            feed["etag"] = resp.headers.get("ETag") or feed.get("etag")
            feed["modified"] = resp.headers.get("Last-Modified") or feed.get("modified")
            return body

    async def poll(self, url: str) -> None:
        body = await self.fetch(url)
        self.touch()
        if body is None:
            return
        try:
            entries = parse_feed(body)
        except Exception as exc:  # one unreadable feed is counted; the other feeds go on
            self.malformed("feed", f"{url}: {reason(exc)}")
            return
        feed = self.state[url]
        seen: list[str] = list(feed.get("seen") or [])
        known = set(seen)
        now = datetime.fromtimestamp(self.clock(), UTC)
        for entry in reversed(entries):  # feeds list newest first
            eid = str(entry.get("id") or "")
            if eid and eid in known:
                continue
            self.received()
            if eid:
                seen.append(eid)
                known.add(eid)
            try:
                post = entry_to_post(entry, url, self.feeds[url], self.settings.brand, now)
            except Exception as exc:  # one poison entry is counted and passed
                self.malformed("entry", reason(exc))
                continue
            if not self.filter.matches(post.get("text", "")):
                self.filtered()
                continue
            # the seen ids are stored once the whole feed is handed over: a crash before that re-sends
            # a few entries (the pipeline's dedupe drops them) rather than losing any
            await self.emitter.emit(post)
        feed["seen"] = seen[-self.settings.rss_seen_ids :]
        await self.emitter.advance(**self._snapshot())

    async def session(self) -> None:
        self.restore(self.emitter.position)
        while not self.stop_event.is_set():
            ok = 0
            for url in self.feeds:
                try:
                    await self.poll(url)
                    ok += 1
                except (SourceError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                    reason = exc.failure.value if isinstance(exc, SourceError) else "network"
                    self.metrics.reconnects.labels(self.name, reason).inc()
                    log.warning("%s: %s failed (%s); retrying at the next poll", self.name, url, exc)
            if ok:
                self.mark_connected()
            else:
                self.mark_disconnected()
            await self.sleep(self.settings.rss_poll_interval_s)
