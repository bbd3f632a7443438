"""Pure helpers shared by the per-platform normalisers: time parsing, HTML to text, mentions, brand filter.

Every normaliser ends with :func:`finish`, which validates against :class:`schemas.post.Post` and returns the
JSON-ready dict the producer writes, so an adapter can never put a post on Kafka the pipeline would reject.

One event never stops a source: whatever normalising it raises is a :class:`NormalizeError` (every
normaliser is wrapped in :func:`normalizer`), which the adapter counts as malformed, with the reason in the
log, before it goes on with the next event. An exception that escaped instead would end the session, and
the source would reconnect, read the same event again from its checkpoint, and loop.
"""

from __future__ import annotations

import functools
import html
import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, ParamSpec, TypeVar

from pydantic import ValidationError

from schemas.post import Post

__all__ = [
    "BrandFilter",
    "NormalizeError",
    "finish",
    "hashtags_in",
    "html_to_text",
    "mentions_in",
    "normalizer",
    "parse_time",
    "reason",
]

_MENTION = re.compile(r"(?<![\w@/])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_])?)")
_HASHTAG = re.compile(r"(?<![\w&#/])#(\w{1,139})")
_TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
_MAX_TEXT = 40_000


class NormalizeError(ValueError):
    """A platform payload that cannot become a post (counted as malformed, never produced)."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def reason(exc: BaseException) -> str:
    """Why an event could not become a post: a :class:`NormalizeError`'s message, else the exception's type
    and message (a payload shaped in a way the normaliser did not foresee)."""
    return str(exc) if isinstance(exc, NormalizeError) else f"{type(exc).__name__}: {exc}"


def normalizer(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Make anything ``fn`` raises on a payload a :class:`NormalizeError` with the reason: a list where an
    object was expected, a date out of range, a number too big. One bad event is then counted as
    malformed, and the source goes on with the next instead of reconnecting into the same event."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except NormalizeError:
            raise
        except Exception as exc:
            raise NormalizeError(reason(exc)[:1000]) from exc

    return wrapper


def parse_time(value: Any) -> datetime:
    """ISO 8601 (with ``Z``), Unix seconds, milliseconds or microseconds, or the classic Twitter format, to
    an aware datetime (naive times are UTC). Anything else, a number out of range included, raises
    :class:`NormalizeError`; whether the instant is acceptable is the post schema's call (:func:`finish`)."""
    try:
        return _parse_time(value)
    except NormalizeError:
        raise
    except (OverflowError, OSError, ValueError, TypeError) as exc:  # fromtimestamp of a huge number
        raise NormalizeError(f"time out of range {str(value)[:64]!r}: {exc}") from None


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise NormalizeError(f"invalid time {value!r}")
        seconds = value / 1_000_000 if value > 1e14 else value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str) and value:
        text = value.strip()
        if text.isascii() and text.isdigit():
            return _parse_time(int(text))
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                dt = datetime.strptime(text, _TWITTER_TIME)
            except ValueError:
                raise NormalizeError(f"unparseable time {value[:64]!r}") from None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    raise NormalizeError(f"missing or invalid time {str(value)[:64]!r}")


class _TextExtractor(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BREAKS and self.parts:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment (Mastodon content, feed summaries), whitespace collapsed per line."""
    if "<" not in markup:
        return html.unescape(markup).strip()
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)[:100]


def mentions_in(text: str) -> list[str]:
    return _unique(m.rstrip(".") for m in _MENTION.findall(text))


def hashtags_in(text: str) -> list[str]:
    return _unique(_HASHTAG.findall(text))


class BrandFilter:
    """Keeps posts that mention a brand handle or contain a keyword; with neither configured, keeps all."""

    def __init__(self, handles: Iterable[str] = (), keywords: Iterable[str] = ()) -> None:
        self.handles = {h.lstrip("@").lower() for h in handles if h.strip("@ ")}
        words = [k.strip().lower() for k in keywords if k.strip()]
        self._keywords = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)
            if words
            else None
        )
        # "@acme" in text, not followed by more handle ("@acmesucks", "@acme.evil.com")
        self._handle_in_text = (
            re.compile(
                r"(?<![\w@])@(?:" + "|".join(re.escape(h) for h in sorted(self.handles)) + r")(?![\w@]|\.\w)",
                re.IGNORECASE,
            )
            if self.handles
            else None
        )

    def _is_brand(self, mention: str) -> bool:
        """Whole handles only: ``acme``, ``acme@any.server`` (Mastodon) and ``acme.bsky.social`` match
        ``acme``; ``acme.evil.com`` and ``acmesucks`` do not."""
        if mention in self.handles:
            return True
        local, at, _server = mention.partition("@")
        return (bool(at) and local in self.handles) or mention.removesuffix(".bsky.social") in self.handles

    @property
    def open(self) -> bool:
        return not self.handles and self._keywords is None

    def matches(self, text: str, mentions: Iterable[str] = ()) -> bool:
        if self.open:
            return True
        if self.handles:
            for m in mentions:
                if self._is_brand(m.lower().lstrip("@")):
                    return True
            if self._handle_in_text is not None and self._handle_in_text.search(text):
                return True
        return self._keywords is not None and self._keywords.search(text) is not None


def finish(post: dict[str, Any]) -> dict[str, Any]:
    """Validate a normalised post and return it as JSON-ready dict; :class:`NormalizeError` if invalid."""
    text = post.get("text")
    if isinstance(text, str) and len(text) > _MAX_TEXT:
        post = {**post, "text": text[:_MAX_TEXT]}
    try:
        model = Post.model_validate(post)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise NormalizeError(problems) from None
    except Exception as exc:  # not a rule of the schema, but still this post's problem only
        raise NormalizeError(reason(exc)) from None
    return model.model_dump(mode="json", exclude_none=True)
