"""Facebook Page and Instagram webhooks (Graph API): subscription handshake and signed deliveries.

``GET`` answers Meta's verification (``hub.mode=subscribe``, ``hub.verify_token``, echo ``hub.challenge``).
``POST`` deliveries are accepted only with a valid ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with
the app secret, compared in constant time); anything else is 401 and counted. Page posts, comments and
mentions, and Instagram comments and mentions, become posts; reactions, edits and removals are skipped.
Instagram mention notifications carry ids only (no text or author): they are produced as such, and a reader
of the post can fetch the text from the Graph API.

The body is read within the push limits first (:mod:`stream.sources.push`): over 1 MiB is 413 before any
HMAC is computed (at once for a declared length, as soon as a chunked body passes it), so the HMAC only ever
runs over a bounded read.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import orjson
from aiohttp import web

from stream.http_limits import BodyRefused
from stream.sources.base import ConfigError
from stream.sources.normalize import NormalizeError, finish, hashtags_in, mentions_in, parse_time
from stream.sources.push import PushSource

__all__ = ["MetaWebhookSource", "meta_to_posts", "signature_ok"]

log = logging.getLogger(__name__)

_FB_ITEMS = {"post", "status", "photo", "video", "share", "comment"}


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """Constant-time check of ``sha256=<hex>`` against HMAC-SHA256(secret, raw body)."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header[7:].strip().lower().encode())


def _facebook(value: dict[str, Any], field: str, entry_time: Any, brand: str | None) -> dict[str, Any] | None:
    if value.get("verb", "add") != "add":
        return None
    item = value.get("item")
    if field == "feed" and item not in _FB_ITEMS:
        return None
    sender = value.get("from") or {}
    author_id = str(sender.get("id") or value.get("sender_id") or "")
    name = sender.get("name") or value.get("sender_name")
    post_id = str(value.get("post_id") or "")
    is_comment = item == "comment"
    pid = str(value.get("comment_id") or "") if is_comment else post_id
    text = str(value.get("message") or "")
    parent = value.get("parent_id")
    return {
        "platform": "facebook",
        "post_id": pid,
        "author": {"id": author_id or "unknown", "handle": name or author_id, "display_name": name},
        "text": text,
        "created_at": parse_time(value.get("created_time") or entry_time),
        "url": None if is_comment else (value.get("link") or f"https://www.facebook.com/{post_id}"),
        "reply_to": (str(parent) if parent else post_id) if is_comment else None,
        "conversation_id": post_id or None,
        "mentions": mentions_in(text),
        "hashtags": hashtags_in(text),
        "brand": brand,
        "source": "meta" if field == "feed" else f"meta:{field}",
    }


def _instagram(
    value: dict[str, Any], field: str, entry_time: Any, brand: str | None
) -> dict[str, Any] | None:
    if field == "comments":
        sender = value.get("from") or {}
        media = value.get("media") or {}
        text = str(value.get("text") or "")
        return {
            "platform": "instagram",
            "post_id": str(value.get("id") or ""),
            "author": {"id": str(sender.get("id") or "unknown"), "handle": str(sender.get("username") or "")},
            "text": text,
            "created_at": parse_time(value.get("timestamp") or entry_time),
            "reply_to": value.get("parent_id") or media.get("id"),
            "conversation_id": media.get("id"),
            "mentions": mentions_in(text),
            "hashtags": hashtags_in(text),
            "brand": brand,
            "source": "meta:comments",
        }
    if field == "mentions":
        pid = value.get("comment_id") or value.get("media_id")
        return {
            "platform": "instagram",
            "post_id": str(pid or ""),
            "author": {"id": "unknown", "handle": ""},
            "text": str(value.get("text") or value.get("caption") or ""),
            "created_at": parse_time(entry_time),
            "conversation_id": value.get("media_id"),
            "brand": brand,
            "source": "meta:mentions",
        }
    return None


def meta_to_posts(payload: Any, brand: str | None = None) -> tuple[list[dict[str, Any]], int, list[str]]:
    """Posts of one delivery, the number of changes skipped as not posts, and the reasons of broken ones."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        return [], 0, ["not a webhook delivery (no entry list)"]
    kind = payload.get("object")
    posts: list[dict[str, Any]] = []
    skipped = 0
    errors: list[str] = []
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            errors.append("entry is not an object")
            continue
        changes = entry.get("changes")
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, dict):
                errors.append("change is not an object")
                continue
            field, value = change.get("field"), change.get("value")
            if not isinstance(value, dict):
                errors.append(f"{field}: value is not an object")
                continue
            try:
                if kind == "page" and field in ("feed", "mention", "mentions"):
                    raw = _facebook(value, "feed" if field == "feed" else "mention", entry.get("time"), brand)
                elif kind == "instagram":
                    raw = _instagram(value, str(field), entry.get("time"), brand)
                else:
                    raw = None
                if raw is None:
                    skipped += 1
                else:
                    posts.append(finish(raw))
            except Exception as exc:  # a NormalizeError, or any shape nothing foresaw: one broken change
                errors.append(f"{field}: {exc if isinstance(exc, NormalizeError) else type(exc).__name__}")
    return posts, skipped, errors


def _decode(body: bytes, brand: str | None) -> tuple[list[dict[str, Any]], int, list[str]] | None:
    """:func:`meta_to_posts` of a raw delivery; None when it is not JSON."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return meta_to_posts(payload, brand)


class MetaWebhookSource(PushSource):
    kind = "facebook"

    def check_config(self) -> None:
        s = self.settings
        if s.meta_app_secret is None or not s.meta_app_secret.get_secret_value():
            raise ConfigError("facebook: TRIAGE_META_APP_SECRET is not set (deliveries cannot be verified)")
        if s.meta_verify_token is None or not s.meta_verify_token.get_secret_value():
            raise ConfigError("facebook: TRIAGE_META_VERIFY_TOKEN is not set (the handshake cannot pass)")

    def routes(self) -> list[web.RouteDef]:
        path = self.settings.meta_path
        return [web.get(path, self.verify), web.post(path, self.deliver_view)]

    async def verify(self, request: web.Request) -> web.Response:
        assert self.settings.meta_verify_token is not None
        expected = self.settings.meta_verify_token.get_secret_value().encode()
        given = request.query.get("hub.verify_token", "").encode()
        if request.query.get("hub.mode") == "subscribe" and hmac.compare_digest(given, expected):
            log.info("%s: subscription verified", self.name)
            return web.Response(text=request.query.get("hub.challenge", ""))
        self.metrics.signature_failures.labels(self.name).inc()
        return self.reject(403, "verification failed")

    async def deliver_view(self, request: web.Request) -> web.Response:
        try:
            async with self.body(request) as body:  # bounded and timed before the HMAC sees a byte of it
                return await self._delivery(request, body)
        except BodyRefused as refused:
            return self.refuse(refused)

    async def _delivery(self, request: web.Request, body: bytes) -> web.Response:
        assert self.settings.meta_app_secret is not None
        secret = self.settings.meta_app_secret.get_secret_value().encode()
        if not signature_ok(secret, body, request.headers.get("X-Hub-Signature-256")):
            self.metrics.signature_failures.labels(self.name).inc()
            return self.reject(401, "missing or invalid X-Hub-Signature-256")
        decoded = await self.off_loop(len(body), _decode, body, self.settings.brand)
        if decoded is None:
            self.received()
            self.malformed("delivery", "invalid JSON")
            return self.reject(400, "invalid JSON")
        posts, skipped, errors = decoded
        self.received(len(posts) + skipped + len(errors))
        if skipped:
            self.filtered(skipped)
        for reason in errors:
            self.malformed("change", reason)
        failed = await self.deliver(posts)
        # 200 even with broken changes: Meta would retry them forever; they are counted and logged
        return failed or web.Response(text="EVENT_RECEIVED")
