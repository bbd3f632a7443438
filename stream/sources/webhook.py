"""Webhook ingest: any system POSTs posts as JSON (one object or an array) or NDJSON, with a bearer token.

A request is all or nothing: if any post is invalid the answer is 400 listing each reason, so the sender can
fix and resend without creating duplicates. 401 without the right token (checked before the body is read),
413 over ``webhook_max_bytes`` (at once for a declared length, as soon as a chunked body passes it), 408 for a
body slower than ``TRIAGE_HTTP_BODY_TIMEOUT_S``, 429 over the token's rate, 202 once the posts are stored in
Kafka. See :mod:`stream.sources.push` for the limits.
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from aiohttp import web
from pydantic import SecretStr

from stream.http_limits import BodyRefused
from stream.sources.base import ConfigError
from stream.sources.normalize import NormalizeError, finish
from stream.sources.push import PushSource

__all__ = ["WebhookSource", "parse_ingest"]

MAX_REASONS = 50


def parse_ingest(
    body: bytes, content_type: str, brand: str | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Posts and per-item errors (``{"index", "error"}``) of a request body; pure."""
    items: list[Any] = []
    errors: list[dict[str, Any]] = []
    if "ndjson" in content_type or "jsonl" in content_type or "json-seq" in content_type:
        for index, line in enumerate(x for x in body.split(b"\n") if x.strip()):
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                items.append(None)
                errors.append({"index": index, "error": f"invalid JSON: {exc}"})
    else:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return [], [{"index": None, "error": f"invalid JSON: {exc}"}]
        items = doc if isinstance(doc, list) else [doc]
    if not items:
        return [], [{"index": None, "error": "no posts in the request"}]
    posts: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if item is None and any(e["index"] == index for e in errors):
            continue
        if not isinstance(item, dict):
            errors.append({"index": index, "error": "expected a post object"})
            continue
        post = {k: v for k, v in item.items() if k != "ingested_at"}
        post.setdefault("source", "webhook")
        if brand and not post.get("brand"):
            post["brand"] = brand
        try:
            posts.append(finish(post))
        except NormalizeError as exc:
            errors.append({"index": index, "error": str(exc)})
    errors.sort(key=lambda e: -1 if e["index"] is None else e["index"])
    return posts, errors


class WebhookSource(PushSource):
    """``POST {webhook_path}`` with ``Authorization: Bearer <TRIAGE_WEBHOOK_TOKEN>``."""

    kind = "webhook"

    def check_config(self) -> None:
        token = self.settings.webhook_token
        if token is None or not token.get_secret_value():
            raise ConfigError("webhook: TRIAGE_WEBHOOK_TOKEN is not set (the endpoint never runs open)")
        self.max_body = self.settings.webhook_max_bytes

    def routes(self) -> list[web.RouteDef]:
        return [web.post(self.settings.webhook_path, self.ingest)]

    def bearer_tokens(self) -> list[SecretStr | None]:
        return [self.settings.webhook_token]

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        assert self.settings.webhook_token is not None
        expected = self.settings.webhook_token.get_secret_value().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    async def ingest(self, request: web.Request) -> web.Response:
        if not self._authorized(request):  # the token is checked before a byte of the body is read
            self.metrics.signature_failures.labels(self.name).inc()
            response = self.reject(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        try:
            async with self.body(request) as body:
                posts, errors = await self.off_loop(
                    len(body), parse_ingest, body, request.content_type or "", self.settings.brand
                )
                self.received(len(posts) + len(errors))
                if errors:
                    self.metrics.malformed.labels(self.name).inc(len(errors))
                    return self.reject(
                        400,
                        "invalid posts; nothing was stored",
                        errors=errors[:MAX_REASONS],
                        invalid=len(errors),
                    )
                failed = await self.deliver(posts)
                return failed or web.json_response({"accepted": len(posts)}, status=202)
        except BodyRefused as refused:
            return self.refuse(refused)
