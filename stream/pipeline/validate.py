"""Turn decoded items into posts, or into reasons they are not posts.

Nothing one item does escapes: whatever validating it raises (a ``ValidationError`` or anything else) becomes
that item's reason, so one bad post never takes the rest of its frame with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas.post import Post

__all__ = ["Invalid", "validate_items"]

_POSTS: TypeAdapter[list[Post]] = TypeAdapter(list[Post])

Invalid = tuple[int, Any, str]  # (index in frame, item, reason)


def _reason(exc: Exception) -> str:
    if not isinstance(exc, ValidationError):  # not a rule of the schema: a bug, or input nothing foresaw
        return f"invalid post: {type(exc).__name__}: {exc}"[:500]
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "post"
        parts.append(f"{loc}: {err['msg']}")
    return "invalid post: " + "; ".join(parts)


def _check(post: Post) -> str | None:
    """Rules pydantic types cannot say."""
    if not post.text.strip() and not post.repost_of:
        return "invalid post: text is empty and it is not a repost"
    return None


def validate_items(items: Sequence[Any]) -> tuple[list[tuple[int, Post]], list[Invalid]]:
    """Validate a frame in one call when it is clean (the common case); item by item when it is not."""
    try:
        posts = _POSTS.validate_python(items)
        good = list(enumerate(posts))
        bad: list[Invalid] = []
    except Exception:
        good, bad = [], []
        for i, item in enumerate(items):
            try:
                good.append((i, Post.model_validate(item)))
            except Exception as exc:
                bad.append((i, item, _reason(exc)))
    if any(_check(p) for _, p in good):
        kept = []
        for i, post in good:
            problem = _check(post)
            if problem:
                bad.append((i, post.model_dump(mode="json"), problem))
            else:
                kept.append((i, post))
        good = kept
    return good, bad
