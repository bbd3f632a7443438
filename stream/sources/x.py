"""X API v2 filtered stream: rules kept in sync, NDJSON read with stall detection, X's documented backoff.

The stream sends a blank keep-alive line about every 20 s; silence longer than ``source_stall_timeout_s``
means the connection is dead even if TCP has not noticed. X has no resume cursor: the checkpoint keeps the
newest id and the last time a post arrived, and on reconnect ``backfill_minutes`` (when the account allows
it, ``TRIAGE_X_BACKFILL_MINUTES``) asks X to re-send what the gap may have missed; re-sent posts already seen
in this process are skipped, older ones are dropped by the pipeline's dedupe.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from typing import Any

import orjson

from stream.sources.backoff import Failure
from stream.sources.base import ConfigError, Source, SourceError, http_failure
from stream.sources.lines import read_lines
from stream.sources.normalize import (
    NormalizeError,
    finish,
    hashtags_in,
    mentions_in,
    normalizer,
    parse_time,
    reason,
)

__all__ = ["STREAM_PARAMS", "XSource", "tweet_to_post"]

log = logging.getLogger(__name__)

STREAM_PARAMS = {
    "tweet.fields": "author_id,conversation_id,created_at,entities,lang,note_tweet,public_metrics,"
    "referenced_tweets",
    "expansions": "author_id,referenced_tweets.id,referenced_tweets.id.author_id",
    "user.fields": "name,public_metrics,username,verified",
}
_RECENT_IDS = 10_000


@normalizer
def tweet_to_post(payload: dict[str, Any], brand: str | None = None) -> dict[str, Any]:
    """One filtered-stream line (``data`` + ``includes``) as a post; authors come from the expansions."""
    tweet = payload.get("data")
    if not isinstance(tweet, dict) or not tweet.get("id"):
        raise NormalizeError("no data.id")
    users = {u.get("id"): u for u in (payload.get("includes") or {}).get("users", []) if isinstance(u, dict)}
    author_id = str(tweet.get("author_id") or "")
    if not author_id:
        raise NormalizeError("no author_id (is the author_id expansion requested?)")
    user = users.get(author_id, {})
    handle = user.get("username") or author_id
    refs = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or [] if r.get("id")}
    note = tweet.get("note_tweet") or {}
    text = note.get("text") or tweet.get("text") or ""
    entities = tweet.get("entities") or {}
    metrics = tweet.get("public_metrics") or {}
    return finish(
        {
            "platform": "x",
            "post_id": str(tweet["id"]),
            "author": {
                "id": author_id,
                "handle": handle,
                "display_name": user.get("name"),
                "followers": (user.get("public_metrics") or {}).get("followers_count", 0),
                "verified": bool(user.get("verified")),
            },
            "text": text,
            "lang": tweet.get("lang") if tweet.get("lang") not in (None, "und", "zxx") else None,
            "created_at": parse_time(tweet.get("created_at")),
            "url": f"https://x.com/{handle}/status/{tweet['id']}",
            "reply_to": refs.get("replied_to"),
            "quote_of": refs.get("quoted"),
            "repost_of": refs.get("retweeted"),
            "conversation_id": tweet.get("conversation_id"),
            "mentions": [m["username"] for m in entities.get("mentions", []) if m.get("username")]
            or mentions_in(text),
            "hashtags": [h["tag"] for h in entities.get("hashtags", []) if h.get("tag")] or hashtags_in(text),
            "engagement": {
                "likes": metrics.get("like_count", 0),
                "reposts": metrics.get("retweet_count", 0),
                "replies": metrics.get("reply_count", 0),
                "quotes": metrics.get("quote_count", 0),
            },
            "brand": brand,
            "source": "x",
        }
    )


class XSource(Source):
    """Filtered stream reader; ``rules`` (default ``TRIAGE_X_RULES``) are synced once per run."""

    kind = "x"

    def __init__(self, *args: Any, rules: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rules = list(rules if rules is not None else self.settings.x_rules)
        self.base = self.settings.x_api_url.rstrip("/")
        self._rules_synced = False
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.since_id: str | None = None
        self.last_seen: float | None = None

    def check_config(self) -> None:
        token = self.settings.x_bearer_token
        if token is None or not token.get_secret_value().strip():
            raise ConfigError("x: TRIAGE_X_BEARER_TOKEN is not set")

    def _headers(self) -> dict[str, str]:
        assert self.settings.x_bearer_token is not None
        return {
            "Authorization": f"Bearer {self.settings.x_bearer_token.get_secret_value()}",
            "User-Agent": "social-triage",
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.since_id = state.get("since_id")
        last = state.get("last_seen")
        self.last_seen = float(last) if isinstance(last, int | float) else None

    async def _check(self, status: int, headers: Any, what: str) -> None:
        if status in (401, 403):
            raise ConfigError(f"x: {what} refused with HTTP {status}: check TRIAGE_X_BEARER_TOKEN and access")
        if status >= 400:
            raise http_failure(status, headers)

    async def sync_rules(self) -> None:
        """Make the stream's rules equal to ``self.rules`` (by value); invalid rules are a config error."""
        url = f"{self.base}/2/tweets/search/stream/rules"
        async with self.http.get(url, headers=self._headers()) as resp:
            await self._check(resp.status, resp.headers, "listing rules")
            current = (await resp.json(loads=orjson.loads)).get("data") or []
        wanted = set(self.rules)
        stale = [r["id"] for r in current if r.get("value") not in wanted]
        missing = [v for v in self.rules if v not in {r.get("value") for r in current}]
        if stale:
            body: dict[str, Any] = {"delete": {"ids": stale}}
            async with self.http.post(url, json=body, headers=self._headers()) as resp:
                await self._check(resp.status, resp.headers, "deleting rules")
        if missing:
            body = {"add": [{"value": v, "tag": f"triage:{v}"[:128]} for v in missing]}
            async with self.http.post(url, json=body, headers=self._headers()) as resp:
                await self._check(resp.status, resp.headers, "adding rules")
                result = await resp.json(loads=orjson.loads)
            errors = [e for e in result.get("errors") or [] if e.get("title") != "DuplicateRule"]
            if errors:
                details = "; ".join(f"{e.get('value', '?')}: {e.get('title', e)}" for e in errors)
                raise ConfigError(f"x: rules rejected: {details}")
        log.info("x: rules in place (%d added, %d deleted)", len(missing), len(stale))

    def _backfill_minutes(self) -> int:
        wanted = self.settings.x_backfill_minutes
        if not wanted or self.last_seen is None:
            return 0
        gap = self.clock() - self.last_seen
        return max(1, min(wanted, math.ceil(gap / 60))) if gap > 0 else 0

    def _seen(self, post_id: str) -> bool:
        if post_id in self._recent:
            return True
        self._recent[post_id] = None
        if len(self._recent) > _RECENT_IDS:
            self._recent.popitem(last=False)
        return False

    async def session(self) -> None:
        if self.rules and not self._rules_synced:
            await self.sync_rules()
            self._rules_synced = True
        params = dict(STREAM_PARAMS)
        backfill = self._backfill_minutes()
        if backfill:
            params["backfill_minutes"] = str(backfill)
        url = f"{self.base}/2/tweets/search/stream"
        async with self.http.get(url, params=params, headers=self._headers()) as resp:
            await self._check(resp.status, resp.headers, "the stream")
            self.mark_connected()
            async for line in read_lines(resp.content, self.stall_timeout_s, self.touch):
                if not line.strip():
                    self.metrics.keepalives.labels(self.name).inc()
                    continue
                await self._handle(line)

    async def _handle(self, line: bytes) -> None:
        self.received()
        try:
            payload = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            self.malformed("line", exc)
            return
        if not isinstance(payload, dict):
            self.malformed("line", "not an object")
            return
        if "data" not in payload:
            errors = payload.get("errors")
            errors = errors if isinstance(errors, list) else []
            titles = ", ".join(
                str(e.get("title") or e.get("disconnect_type")) if isinstance(e, dict) else str(e)
                for e in errors
            )
            if any("disconnect" in str(e).lower() for e in errors):
                raise SourceError(f"stream closed by X: {titles}", Failure.NETWORK)
            self.malformed("message", titles or line[:200])
            return
        try:
            post = tweet_to_post(payload, self.settings.brand)
        except Exception as exc:  # one poison line is counted and passed, never a reconnect into it
            self.malformed("post", reason(exc))
            return
        if self._seen(post["post_id"]):
            self.filtered()
            return
        self.last_seen = self.clock()
        pid = post["post_id"]
        if self.since_id is None or (pid.isdigit() and int(pid) > int(self.since_id or 0)):
            self.since_id = pid
        await self.emitter.emit(post, since_id=self.since_id, last_seen=self.last_seen)
