"""Reddit: polls new posts and comments of chosen subreddits through the OAuth API, within its rate limit.

Reddit ids are base-36 counters, so "newer than what was stored" is a number comparison: the checkpoint
keeps the highest post id and comment id produced, and each poll pages back (``after``) until it meets
them. ``X-Ratelimit-Remaining``/``-Reset`` are obeyed before the budget runs out; a 429 backs off as
X documents for rate limits, at least until the reset Reddit names. App-only OAuth (client credentials);
the token is renewed before it expires or after a 401.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson

from stream.sources.base import ConfigError, Source, http_failure
from stream.sources.normalize import BrandFilter, NormalizeError, finish, normalizer, parse_time, reason

__all__ = ["RedditSource", "base36", "reddit_to_post"]

log = logging.getLogger(__name__)

_MAX_PAGES = 5
_MIN_REMAINING = 2.0


def base36(reddit_id: str) -> int:
    return int(reddit_id, 36)


def _position(child: Any) -> int | None:
    """A listing child's base-36 id as a number; ``None`` when it has none a watermark could use."""
    rid = child.get("id") if isinstance(child, dict) else None
    if not isinstance(rid, str) or not rid.isascii() or not rid.isalnum() or len(rid) > 32:
        return None
    return base36(rid)


@normalizer
def reddit_to_post(kind: str, data: dict[str, Any], brand: str | None = None) -> dict[str, Any]:
    """A listing child (``t3`` post or ``t1`` comment) as a post."""
    name = data.get("name") or (f"{kind}_{data['id']}" if data.get("id") else None)
    if not name:
        raise NormalizeError("listing child without id")
    author = str(data.get("author") or "[deleted]")
    if kind == "t3":
        title, body = str(data.get("title") or ""), str(data.get("selftext") or "")
        text = f"{title}\n\n{body}" if body else title
        reply_to, conversation = None, name
        replies = int(data.get("num_comments") or 0)
    else:
        text = str(data.get("body") or "")
        reply_to, conversation = data.get("parent_id"), data.get("link_id")
        replies = 0
    permalink = data.get("permalink")
    return finish(
        {
            "platform": "reddit",
            "post_id": name,
            "author": {"id": str(data.get("author_fullname") or author), "handle": author},
            "text": text,
            "created_at": parse_time(data.get("created_utc")),
            "url": f"https://www.reddit.com{permalink}" if permalink else None,
            "reply_to": reply_to,
            "conversation_id": conversation,
            "engagement": {"likes": max(0, int(data.get("score") or 0)), "replies": max(0, replies)},
            "hashtags": [],
            "mentions": [],
            "brand": brand,
            "source": f"reddit:r/{data.get('subreddit')}" if data.get("subreddit") else "reddit",
        }
    )


class RedditSource(Source):
    kind = "reddit"
    LISTINGS = (("t3", "new"), ("t1", "comments"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.subs = "+".join(x.removeprefix("r/").strip("/ ") for x in s.reddit_subreddits)
        self.filter = BrandFilter(s.brand_handles, s.brand_keywords)
        self.watermarks: dict[str, int] = {}
        self._token: str | None = None
        self._token_expires = 0.0
        # a poll covers this long in "health": three missed intervals is unhealthy
        self.stall_timeout_s = max(s.source_stall_timeout_s, s.reddit_poll_interval_s * 1.5)

    def check_config(self) -> None:
        s = self.settings
        if not s.reddit_subreddits:
            raise ConfigError("reddit: TRIAGE_REDDIT_SUBREDDITS is empty")
        if not s.reddit_client_id or s.reddit_client_secret is None:
            raise ConfigError("reddit: TRIAGE_REDDIT_CLIENT_ID and TRIAGE_REDDIT_CLIENT_SECRET are required")

    def restore(self, state: dict[str, Any]) -> None:
        self.watermarks = {k: int(v) for k, v in (state.get("watermarks") or {}).items()}

    async def _auth(self) -> str:
        if self._token and self.clock() < self._token_expires - 60:
            return self._token
        s = self.settings
        assert s.reddit_client_id is not None and s.reddit_client_secret is not None
        auth = aiohttp.BasicAuth(s.reddit_client_id, s.reddit_client_secret.get_secret_value())
        async with self.http.post(
            s.reddit_auth_url,
            data={"grant_type": "client_credentials"},
            auth=auth,
            headers={"User-Agent": s.reddit_user_agent},
        ) as resp:
            if resp.status in (400, 401, 403):
                raise ConfigError(
                    f"reddit: token request refused with HTTP {resp.status}: check the app credentials"
                )
            if resp.status >= 400:
                raise http_failure(resp.status, resp.headers)
            body = await resp.json(loads=orjson.loads, content_type=None)
        token = body.get("access_token")
        if not token:
            raise ConfigError(f"reddit: no access_token in the token response ({body.get('error', '?')})")
        self._token = str(token)
        self._token_expires = self.clock() + float(body.get("expires_in") or 3600)
        return self._token

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        for attempt in (1, 2):
            token = await self._auth()
            headers = {"Authorization": f"bearer {token}", "User-Agent": self.settings.reddit_user_agent}
            url = f"{self.settings.reddit_api_url.rstrip('/')}{path}"
            async with self.http.get(url, params=params, headers=headers) as resp:
                if resp.status == 401 and attempt == 1:
                    self._token = None  # expired or revoked early: one fresh token, then give up
                    continue
                if resp.status == 429:
                    raise http_failure(429, {"Retry-After": resp.headers.get("x-ratelimit-reset")})
                if resp.status >= 400:
                    raise http_failure(resp.status, resp.headers)
                body = await resp.json(loads=orjson.loads, content_type=None)
                await self._respect_rate_limit(resp.headers)
                return body if isinstance(body, dict) else {}
        raise ConfigError("reddit: API refused a fresh token (HTTP 401)")

    async def _respect_rate_limit(self, headers: Any) -> None:
        try:
            remaining = float(headers.get("x-ratelimit-remaining", "inf"))
            reset = float(headers.get("x-ratelimit-reset", "0"))
        except ValueError:
            return
        if remaining < _MIN_REMAINING and reset > 0:
            log.info("reddit: rate budget spent, waiting %.0fs for the reset", reset)
            await self.sleep(reset)

    async def poll(self, kind: str, listing: str) -> None:
        """New children of one listing since the watermark, produced oldest first."""
        mark = self.watermarks.get(kind)
        fresh: list[tuple[int, dict[str, Any]]] = []
        after: str | None = None
        for _ in range(_MAX_PAGES if mark is not None else 1):
            params = {"limit": "100", "raw_json": "1"}
            if after:
                params["after"] = after
            body = await self._get(f"/r/{self.subs}/{listing}", params)
            data = body.get("data")
            data = data if isinstance(data, dict) else {}
            listed = data.get("children")
            children = [
                c.get("data") if isinstance(c, dict) else None
                for c in (listed if isinstance(listed, list) else [])
                if not isinstance(c, dict) or c.get("kind") == kind
            ]
            reached = False
            for child in children:
                position = _position(child)
                if position is None or not isinstance(child, dict):
                    self.received()
                    self.malformed("child", "no id")
                    continue
                if mark is not None and position <= mark:
                    reached = True
                    break
                fresh.append((position, child))
            after = data.get("after")
            if reached or not after or not isinstance(after, str):
                break
        fresh.sort(key=lambda pc: pc[0])
        for position, child in fresh:
            self.received()
            self.watermarks[kind] = max(self.watermarks.get(kind, 0), position)
            try:
                post = reddit_to_post(kind, child, self.settings.brand)
            except Exception as exc:  # one poison child is counted and passed, never a reconnect into it
                self.malformed(kind, reason(exc))
                await self.emitter.advance(watermarks=dict(self.watermarks))
                continue
            if not self.filter.matches(post.get("text", "")):
                self.filtered()
                await self.emitter.advance(watermarks=dict(self.watermarks))
                continue
            await self.emitter.emit(post, watermarks=dict(self.watermarks))
        if not fresh and kind not in self.watermarks:
            self.watermarks[kind] = 0  # empty subreddit: anything that appears later is new
        await self.emitter.advance(watermarks=dict(self.watermarks))

    async def session(self) -> None:
        self.restore(self.emitter.position)
        while not self.stop_event.is_set():
            for kind, listing in self.LISTINGS:
                await self.poll(kind, listing)
            self.mark_connected()
            await self.sleep(self.settings.reddit_poll_interval_s)
