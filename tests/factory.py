"""A small, exact stream of posts for integration tests: we know how many of each kind went in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMPLAINTS = [
    "my order {n} never arrived and nobody answers, this is unacceptable",
    "I was double charged on my bill for order {n}, I want a refund now",
    "the app is down again, can't log in to pay invoice {n}",
    "flight {n} cancelled and no rebooking offered, worst service ever",
]
QUESTIONS = ["how do I reset my password for account {n}?", "where is my parcel {n}? tracking has not moved"]
PRAISE = [
    "love the new app update {n}, thanks team!",
    "great service today, parcel {n} came early, thank you",
]
SPANISH = ["mi pedido {n} nunca llegó y nadie responde, quiero un reembolso por favor ayuda"]


@dataclass
class Stream:
    posts: list[Any] = field(default_factory=list)  # dicts, and bytes for whole broken records
    originals: int = 0  # valid, unique, non-repost posts: each ends as a ticket or filtered
    duplicates: int = 0  # redeliveries and reposts
    dead_letters: int = 0  # invalid post dicts and broken records (each counts once)
    spanish: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return len(self.posts)


def post(i: int, text: str, *, platform: str = "x", lang: str = "en", **over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "platform": platform,
        "post_id": str(i),
        "author": {"id": f"u{i % 97}", "handle": f"user{i % 97}", "followers": (i * 37) % 50_000},
        "text": f"@acme {text}",
        "lang": lang,
        "created_at": "2026-11-22T10:00:00Z",
        "brand": "acme",
    }
    p.update(over)
    return p


def build(n: int, seed_offset: int = 0) -> Stream:
    """``n`` original posts plus redeliveries, reposts, thread replies and malformed records."""
    s = Stream()
    for k in range(n):
        i = seed_offset + k
        kind = k % 10
        if kind < 5:
            text = COMPLAINTS[k % len(COMPLAINTS)].format(n=i)
        elif kind < 7:
            text = QUESTIONS[k % len(QUESTIONS)].format(n=i)
        elif kind < 9:
            text = PRAISE[k % len(PRAISE)].format(n=i)
        else:
            text = SPANISH[0].format(n=i)
        extra: dict[str, Any] = {}
        if k % 7 == 3 and k > 10:  # a reply in the thread of an earlier post
            root = seed_offset + k - 5
            extra = {"reply_to": str(root), "conversation_id": str(root)}
        p = post(i, text, lang="es" if kind == 9 else "en", **extra)
        if kind == 9:
            s.spanish.add(p["post_id"])
        s.posts.append(p)
        s.originals += 1
        if k % 25 == 0:  # the same post delivered again
            s.posts.append(dict(p))
            s.duplicates += 1
        if k % 20 == 0:  # a retweet of it
            retweet = post(10_000_000 + i, "", repost_of=p["post_id"])
            retweet["text"] = f"RT @user{i % 97}: {p['text']}"
            s.posts.append(retweet)
            s.duplicates += 1
        if k % 50 == 0:  # a post missing its author
            s.posts.append(
                {"platform": "x", "post_id": f"bad{i}", "text": "no author", "created_at": "2026-11-22"}
            )
            s.dead_letters += 1
        if k % 100 == 0:  # a record that is not JSON at all
            s.posts.append(b'{"platform": "x", "post_id": "trunc')
            s.dead_letters += 1
    return s
