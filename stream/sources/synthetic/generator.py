"""A seeded synthetic firehose: realistic social posts about many brands, as JSON-ready dicts.

Why: the pipeline must be exercised at the firehose's real shape (~9,000 posts/s peaks, mostly noise,
a few hidden calls for help, VIPs, public pile-ons, duplicates of every kind, junk) without anyone's real
data. Every post carries ``_truth`` (intent, sentiment, urgency cues, kind), which the ``Post`` model
ignores, so a run can score the pipeline against what was actually sent.

Text is assembled from hand-written fragments (``phrases.py``) with slots, casual spelling and typos,
so texts vary a lot; all fragments are parsed once at import, and per-post work is a few dozen cheap
random draws, so one core generates well over 50,000 posts/s.

``python -m stream.sources.synthetic.generator --write-sample`` regenerates the bundled sample byte for byte;
``--bench`` measures generation speed; ``--run`` paces posts into Kafka through ``PostProducer``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gzip
import io
import logging
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from stream.sources.post_sink import PostSink
from stream.sources.synthetic import phrases as ph

__all__ = [
    "DEFAULT_SAMPLE_PATH",
    "MALFORMED_KINDS",
    "PLATFORM_WEIGHTS",
    "RAW_MALFORMED_KINDS",
    "SAMPLE_N",
    "SAMPLE_SEED",
    "BurstProfile",
    "FirehoseGenerator",
    "Pregenerated",
    "RunStats",
    "brand_account_handles",
    "main",
    "malformed_records",
    "measure_generation",
    "pregenerate",
    "run",
    "sample_generator",
    "write_sample",
]

log = logging.getLogger(__name__)

Post = dict[str, Any]

DEFAULT_SAMPLE_PATH = Path(__file__).resolve().parents[2] / "data" / "sample_posts.jsonl.gz"
SAMPLE_N = 6000
SAMPLE_SEED = 20140307
_SAMPLE_START = datetime(2024, 3, 7, 9, 0, 0, tzinfo=UTC)
_SAMPLE_RATE = 20.0  # posts/s of nominal time in the sample: 6,000 posts span five minutes

PLATFORM_WEIGHTS: dict[str, float] = {
    "x": 0.45,
    "facebook": 0.14,
    "instagram": 0.10,
    "bluesky": 0.08,
    "mastodon": 0.05,
    "reddit": 0.08,
    "forum": 0.04,
    "review": 0.06,
}
_LANG_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("en", 0.84),
    ("es", 0.06),
    ("pt", 0.04),
    ("fr", 0.03),
    ("de", 0.03),
)
_INTENT_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("chatter", 0.30),
    ("complaint", 0.22),
    ("question", 0.15),
    ("praise", 0.13),
    ("request", 0.10),
    ("promo", 0.10),
)
_URGENCY_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("churn_threat", 0.35),
    ("outage", 0.25),
    ("legal_threat", 0.20),
    ("safety", 0.10),
    ("press", 0.10),
)
_REPOST_PLATFORMS: tuple[tuple[str, float], ...] = (("x", 0.75), ("bluesky", 0.15), ("mastodon", 0.10))
_MENTION_SHARE = {"x": 0.9, "bluesky": 0.75, "mastodon": 0.7, "instagram": 0.6, "facebook": 0.3}
_HANDLE_MENTIONS = frozenset({"x", "bluesky", "mastodon", "instagram"})
_SUBREDDITS = ("mildlyinfuriating", "CustomerService", "personalfinance", "travel", "gaming", "techsupport")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_PUNCT = ("", "", ".", ".", "!", "!!", "...", "!!!", " .")
_B32 = "abcdefghijklmnopqrstuvwxyz234567"

MALFORMED_KINDS: tuple[str, ...] = (
    "missing_author",
    "text_not_string",
    "bad_created_at",
    "unknown_platform",
    "post_id_not_string",
    "missing_post_id",
    "followers_not_int",
    "negative_engagement",
    "mentions_not_list",
)
RAW_MALFORMED_KINDS: tuple[str, ...] = (
    "not_json",
    "truncated_json",
    "json_number",
    "empty_array",
    "invalid_utf8",
)


# --- precomputed fragment banks ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Frag:
    """A fragment with its tags split off and whether it has slots to fill (so most skip ``format``)."""

    text: str
    tags: tuple[str, ...]
    slotted: bool


def _frag(raw: str) -> _Frag:
    tags: tuple[str, ...] = ()
    if raw.startswith("["):
        end = raw.index("]")
        tags = tuple(raw[1:end].split(","))
        raw = raw[end + 1 :].lstrip()
    return _Frag(raw, tags, "{" in raw)


def _frags(raws: tuple[str, ...]) -> tuple[_Frag, ...]:
    return tuple(_frag(r) for r in raws)


@dataclass(frozen=True, slots=True)
class _IndustryBank:
    name: str
    problems: tuple[_Frag, ...]
    questions: tuple[_Frag, ...]
    requests: tuple[_Frag, ...]
    praise: tuple[_Frag, ...]
    outage_problems: tuple[_Frag, ...]  # tagged fragments are drawn at their own (low) rates
    safety_problems: tuple[_Frag, ...]


def _bank(ind: ph.Industry) -> _IndustryBank:
    problems = _frags(ind.problems)
    plain = tuple(f for f in problems if not f.tags)
    outage = tuple(f for f in problems if "outage" in f.tags)
    safety = tuple(f for f in problems if "safety" in f.tags)
    return _IndustryBank(
        ind.name,
        plain,
        _frags(ind.questions),
        _frags(ind.requests),
        _frags(ind.praise),
        outage or plain,
        safety or plain,
    )


_BANKS: tuple[_IndustryBank, ...] = tuple(_bank(ind) for ind in ph.INDUSTRIES)
_OUTAGE_SHARE = 0.05  # of complaints: an outage the fragment itself describes
_SAFETY_SHARE = 0.012  # of complaints: a safety hazard the fragment itself describes
_CHATTER = _frags(ph.CHATTER)
_PROMO = _frags(ph.PROMO)
_CAMPAIGNS = _frags(ph.CAMPAIGNS)
_QUOTES = _frags(ph.QUOTE_COMMENTS)
_URGENCY = {cue: _frags(texts) for cue, texts in ph.URGENCY.items()}
_FOREIGN = {lang: {intent: _frags(t) for intent, t in banks.items()} for lang, banks in ph.FOREIGN.items()}


@dataclass(frozen=True, slots=True)
class Brand:
    """A fictional brand: its key (the ``brand`` field), name, handle, industry bank and popularity."""

    key: str
    name: str
    handle: str
    bank: _IndustryBank
    weight: float


def _brands() -> tuple[Brand, ...]:
    out: list[Brand] = []
    rank = 0
    for bank, ind in zip(_BANKS, ph.INDUSTRIES, strict=True):
        for key, name, handle in ind.brands:
            # Heavy-tailed brand popularity, interleaved across industries so every industry has a big one.
            out.append(Brand(key, name, handle, bank, 1.0 / (1 + (rank % 4) * 1.5 + rank // 12)))
            rank += 1
    return tuple(out)


BRANDS: tuple[Brand, ...] = _brands()
_BRAND_BY_KEY = {b.key: b for b in BRANDS}


def _cumulative(weights: list[float]) -> list[float]:
    total = sum(weights)
    acc, out = 0.0, []
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


def _platform_handle(platform: str, handle: str) -> str:
    """How a handle looks on each platform, so mentions are realistic (and still stripped by dedupe)."""
    if platform == "bluesky":
        return f"{handle.lower()}.bsky.social"
    if platform == "mastodon":
        return f"{handle}@mastodon.social"
    return handle


_HANDLES = {(b.key, p): _platform_handle(p, b.handle) for b in BRANDS for p in PLATFORM_WEIGHTS}


def brand_account_handles() -> list[str]:
    """The handles the generator's brands post from (their replies in threads): what a deployment for
    these fictional brands would set as ``TRIAGE_BRAND_HANDLES``."""
    return sorted(set(_HANDLES.values()))


# --- the burst profile ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BurstProfile:
    """A crisis drill: the steady rate, then ``multiplier`` times it for ``for_s`` seconds from ``at_s``.

    The extra posts in the wave are a public pile-on: mostly negative complaints about ``brand`` sharing
    ``hashtag``, plus questions, a few defenders and many reposts, as when an outage trends.
    """

    at_s: float
    for_s: float
    multiplier: float = 10.0
    brand: str = "volt-mobile"
    hashtag: str = "VoltMobileDown"
    negative_share: float = 0.85

    def __post_init__(self) -> None:
        if self.brand not in _BRAND_BY_KEY:
            raise ValueError(f"unknown brand {self.brand!r}; choose one of {sorted(_BRAND_BY_KEY)}")
        if self.multiplier < 1 or self.for_s < 0 or self.at_s < 0:
            raise ValueError("multiplier must be >= 1 and times >= 0")

    def in_wave(self, t: float) -> bool:
        return self.at_s <= t < self.at_s + self.for_s

    def rate_at(self, t: float, base_rate: float = 1.0) -> float:
        """Target posts/s at ``t`` seconds into the run."""
        return base_rate * self.multiplier if self.in_wave(t) else base_rate

    def expected(self, t: float, base_rate: float = 1.0) -> float:
        """Posts due by ``t``: the integral of :meth:`rate_at`, so pacing never drifts across the edges."""
        inside = min(max(t - self.at_s, 0.0), self.for_s)
        return base_rate * (t + (self.multiplier - 1.0) * inside)

    def pileon_share(self, t: float) -> float:
        """Share of posts at ``t`` that belong to the pile-on (the wave on top of the steady stream)."""
        return 1.0 - 1.0 / self.multiplier if self.in_wave(t) else 0.0


# --- the generator ----------------------------------------------------------------------------------


class _Slots(dict[str, str]):
    """Slot values drawn lazily: ``format_map`` only asks for the slots a fragment has."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.r = rng.random

    def __missing__(self, key: str) -> str:
        r = self.r
        if key == "n":
            return str(2 + int(r() * r() * 40))
        if key == "h":
            return str(2 + int(r() * 9))
        if key == "d":
            return str(2 + int(r() * 20))
        if key == "amt":
            amount = int(5 + r() * r() * 400)
            cur = "£$€"[int(r() * 3)]
            return f"{cur}{amount}" if r() < 0.7 else f"{cur}{amount}.{int(r() * 100):02d}"
        if key == "ref":
            return f"{'ABCDEFGHJKLMNPRSTUVWXYZ'[int(r() * 23)]}{int(r() * 90_000_000) + 10_000_000}"
        if key == "city":
            return ph.CITIES[int(r() * len(ph.CITIES))]
        if key == "day":
            return _WEEKDAYS[int(r() * 7)]
        if key == "time":
            return f"{1 + int(r() * 12)}:{int(r() * 60):02d}{'am' if r() < 0.5 else 'pm'}"
        if key == "nth":
            return ("2nd", "3rd", "4th", "5th", "6th", "10th", "100th")[int(r() * 7)]
        if key == "rel":
            return ph.RELATIONS[int(r() * len(ph.RELATIONS))]
        if key == "sig":
            return "".join("ABCDEFGHJKLMNPRSTW"[int(r() * 18)] for _ in range(2))
        return "{" + key + "}"


@dataclass(slots=True)
class _Campaign:
    text: str
    brand: Brand
    intent: str
    sentiment: str
    remaining: int
    cid: int


@dataclass(slots=True)
class _Authors:
    """One platform's author pool; index ``int(size * u**3)`` gives heavy-tailed activity."""

    dicts: list[dict[str, Any]]


class FirehoseGenerator:
    """Deterministic for a seed: the same arguments give the same posts, in the same order, every run.

    Rates are shares of all emitted posts. ``interval_s`` is nominal seconds between posts (``created_at``
    advances by it); ``pileon``/``pileon_share`` turn part of the stream into a crisis pile-on.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        rate: float = 1000.0,
        start: datetime | None = None,
        n_authors: int = 20_000,
        reply_rate: float = 0.15,
        repost_rate: float = 0.08,
        redelivery_rate: float = 0.03,
        quote_rate: float = 0.02,
        campaign_rate: float = 0.004,
        malformed_rate: float = 0.0,
        urgency_rate: float = 0.03,
        recent: int = 512,
    ) -> None:
        total = reply_rate + repost_rate + redelivery_rate + quote_rate + campaign_rate + malformed_rate
        if total > 0.9 or min(reply_rate, repost_rate, redelivery_rate, quote_rate, campaign_rate) < 0:
            raise ValueError("structural rates must be >= 0 and sum to at most 0.9")
        self.seed = seed
        self.rng = random.Random(seed)
        self.r = self.rng.random
        self._slots = _Slots(self.rng)
        self.interval_s = 1.0 / rate
        start = start or datetime(2025, 1, 1, tzinfo=UTC)
        self._t = start.timestamp()
        self._ts_sec = -1
        self._ts_prefix = ""
        # cumulative thresholds for the kind of each post
        self._thr_malformed = malformed_rate
        self._thr_redeliver = self._thr_malformed + redelivery_rate
        self._thr_repost = self._thr_redeliver + repost_rate
        self._thr_reply = self._thr_repost + reply_rate
        self._thr_quote = self._thr_reply + quote_rate
        self._thr_campaign = self._thr_quote + campaign_rate
        self.urgency_rate = urgency_rate
        self.pileon: BurstProfile | None = None
        self.pileon_share = 0.0

        self._platforms = list(PLATFORM_WEIGHTS)
        self._platform_cum = _cumulative(list(PLATFORM_WEIGHTS.values()))
        self._lang_names = [lang for lang, _ in _LANG_WEIGHTS]
        self._lang_cum = _cumulative([w for _, w in _LANG_WEIGHTS])
        self._intent_names = [i for i, _ in _INTENT_WEIGHTS]
        self._intent_cum = _cumulative([w for _, w in _INTENT_WEIGHTS])
        self._urgency_names = [u for u, _ in _URGENCY_WEIGHTS]
        self._urgency_cum = _cumulative([w for _, w in _URGENCY_WEIGHTS])
        self._brand_cum = _cumulative([b.weight for b in BRANDS])
        self._repost_names = [p for p, _ in _REPOST_PLATFORMS]
        self._repost_cum = _cumulative([w for _, w in _REPOST_PLATFORMS])

        self._id_seq = {p: 0 for p in PLATFORM_WEIGHTS}
        self._id_base = {p: int(self.r() * 1e6) for p in PLATFORM_WEIGHTS}
        self._authors = {
            p: self._make_authors(p, max(50, int(n_authors * w))) for p, w in PLATFORM_WEIGHTS.items()
        }
        self._brand_accounts = {
            (b.key, p): {
                "id": f"brand-{b.key}-{p}",
                "handle": _platform_handle(p, b.handle),
                "display_name": b.name,
                "followers": int(20_000 + b.weight * 2_000_000 * (0.5 + self.r())),
                "verified": True,
            }
            for b in BRANDS
            for p in PLATFORM_WEIGHTS
        }
        # rings of recent posts: everything emitted (for redelivery), and thread-able posts per platform
        self._recent_n = recent
        self._emitted: list[Post] = []
        self._emitted_i = 0
        self._threadable: dict[str, list[Post]] = {p: [] for p in PLATFORM_WEIGHTS}
        self._threadable_i: dict[str, int] = {p: 0 for p in PLATFORM_WEIGHTS}
        self._pile_posts: list[Post] = []
        self._pile_i = 0
        self._root_author: dict[str, dict[str, Any]] = {}
        self._campaign: _Campaign | None = None
        self._campaign_seq = 0
        self.counts: dict[str, int] = {}

    # --- pools ---------------------------------------------------------------------------------------

    def _make_authors(self, platform: str, size: int) -> _Authors:
        r, rng = self.r, self.rng
        fn, ln, words = ph.FIRST_NAMES, ph.LAST_NAMES, ph.HANDLE_WORDS
        dicts = []
        for i in range(size):
            first, last = fn[int(r() * len(fn))], ln[int(r() * len(ln))]
            style = int(r() * 4)
            if style == 0:
                base = f"{first.lower()}{last.lower()[: int(2 + r() * 6)]}"
            elif style == 1:
                base = f"{words[int(r() * len(words))]}_{words[int(r() * len(words))]}"
            elif style == 2:
                base = f"{first}{int(r() * 9999)}"
            else:
                base = f"the{words[int(r() * len(words))]}{first.lower()}"
            base = f"{base}{i:x}" if r() < 0.5 else f"{base}_{i}"
            followers = int(rng.lognormvariate(5.0, 1.9))
            if r() < 0.002:  # celebrities, journalists, big creators
                followers = int(followers * 300 + 500_000)
            verified = r() < (0.6 if followers >= 50_000 else 0.004)
            if platform == "x" or platform == "mastodon" or platform == "instagram":
                aid = str(10_000_000 + i * 7919 + int(r() * 7919))
            elif platform == "bluesky":
                aid = "did:plc:" + "".join(_B32[int(r() * 32)] for _ in range(24))
            elif platform == "reddit":
                aid = f"t2_{i * 104729 + 9_999_999:x}"
                base = f"{words[int(r() * len(words))].capitalize()}-{first}-{int(r() * 9999)}"
            elif platform == "review":
                aid = f"rv{i:07d}"
            else:
                aid = f"{platform}-{i}"
            display = (
                f"{first} {last[0]}." if platform == "review" else (f"{first} {last}" if r() < 0.8 else first)
            )
            dicts.append(
                {
                    "id": aid,
                    "handle": _platform_handle(platform, base),
                    "display_name": display,
                    "followers": followers,
                    "verified": verified,
                }
            )
        return _Authors(dicts)

    def _author(self, platform: str) -> dict[str, Any]:
        pool = self._authors[platform].dicts
        u = self.r()
        return pool[int(len(pool) * u * u * u)]

    def _pick(self, names: list[str], cum: list[float]) -> str:
        return names[bisect.bisect(cum, self.r())]

    def _choice(self, seq: tuple[Any, ...] | list[Any]) -> Any:
        return seq[int(self.r() * len(seq))]

    # --- time and ids --------------------------------------------------------------------------------

    def _created_at(self) -> str:
        t = self._t
        self._t = t + self.interval_s
        sec = int(t)
        if sec != self._ts_sec:
            self._ts_sec = sec
            self._ts_prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._ts_prefix}.{int((t - sec) * 1000):03d}Z"

    def _new_id(self, platform: str, comment: bool = False) -> str:
        seq = self._id_seq[platform] + 1
        self._id_seq[platform] = seq
        n = self._id_base[platform] + seq
        if platform == "x":
            return str(1_760_000_000_000_000_000 + n * 4_194_304 + int(self.r() * 4_194_304))
        if platform == "mastodon":
            return str(113_000_000_000_000_000 + n * 65_536)
        if platform == "facebook":
            return f"{100_000_000_000 + self.seed % 1000}_{10_000_000_000 + n * 37}"
        if platform == "instagram":
            return str(3_200_000_000_000_000_000 + n * 1_000_003)
        if platform == "bluesky":
            out, v = [], n * 2_654_435_761 + 12_345
            for _ in range(13):
                out.append(_B32[v & 31])
                v >>= 5
            return "3l" + "".join(out)
        if platform == "reddit":
            return f"{'t1' if comment else 't3'}_{n * 7 + 1_000_000_000:x}"
        if platform == "forum":
            return f"p{n}"
        return f"r{n:08d}"

    @staticmethod
    def _url(platform: str, post_id: str, handle: str, brand: str) -> str:
        if platform == "x":
            return f"https://x.com/{handle}/status/{post_id}"
        if platform == "facebook":
            return f"https://www.facebook.com/{post_id}"
        if platform == "instagram":
            return f"https://www.instagram.com/p/{post_id[-11:]}/"
        if platform == "bluesky":
            return f"https://bsky.app/profile/{handle}/post/{post_id}"
        if platform == "mastodon":
            user, _, _ = handle.partition("@")
            return f"https://mastodon.social/@{user}/{post_id}"
        if platform == "reddit":
            return f"https://www.reddit.com/comments/{post_id[3:]}/"
        if platform == "forum":
            return f"https://community.example.com/t/{brand}/{post_id}"
        return f"https://reviews.example.com/{brand}/{post_id}"

    # --- text ----------------------------------------------------------------------------------------

    def _fill(self, frag: _Frag, addr: str) -> str:
        if not frag.slotted:
            return frag.text
        slots = self._slots
        slots["b"] = addr
        return frag.text.format_map(slots)

    def _casual(self, text: str) -> str:
        """Slang, lower case and typos, as people actually type."""
        r = self.r
        if r() < 0.5:
            text = text.lower()
        for a, b in ph.SLANG:
            if a in text and r() < 0.6:
                text = text.replace(a, b)
        if r() < 0.4 and len(text) > 12:
            i = 4 + int(r() * (len(text) - 6))
            word_start = text.rfind(" ", 0, i) + 1  # never in a handle, hashtag or link
            if text[i].isalpha() and text[i + 1].isalpha() and text[word_start] not in "@#h":
                text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        return text

    def _decorate(self, text: str, sentiment: str, hashtags: list[str], platform: str) -> str:
        """Emoji, hashtags and links: cheap surface variety that carries little meaning."""
        r = self.r
        u = r()
        if u < 0.3:
            pool = (
                ph.EMOJI_NEG
                if sentiment == "negative"
                else ph.EMOJI_POS
                if sentiment == "positive"
                else ph.EMOJI_NEU
            )
            e = pool[int(r() * len(pool))]
            text = f"{text} {e}{e}" if r() < 0.25 else f"{text} {e}"
        if platform in ("x", "instagram", "bluesky", "mastodon", "facebook") and r() < 0.25:
            pool = (
                ph.HASHTAGS_NEG
                if sentiment == "negative"
                else ph.HASHTAGS_POS
                if sentiment == "positive"
                else ph.HASHTAGS_NEU
            )
            tag = pool[int(r() * len(pool))]
            hashtags.append(tag)
            text = f"{text} #{tag}"
        if r() < 0.07:
            code = "".join(_B32[int(r() * 32)] for _ in range(8))
            link = f"https://t.co/{code}" if platform == "x" else f"https://imgur.com/a/{code}"
            text = f"{text} {link}"
        return text

    def _compose(
        self, intent: str, brand: Brand, addr: str, platform: str, urgency: list[str]
    ) -> tuple[str, str, str | None]:
        """English text for an intent; returns (text, sentiment, request kind)."""
        r, bank = self.r, brand.bank
        choice = self._choice
        if intent == "complaint":
            u = r()
            frag = choice(
                bank.outage_problems
                if u < _OUTAGE_SHARE
                else bank.safety_problems
                if u < _OUTAGE_SHARE + _SAFETY_SHARE
                else bank.problems
            )
            urgency.extend(t for t in frag.tags if t not in urgency)
            p = self._fill(frag, addr)
            if r() < 0.12:
                tmpl = choice(ph.SARCASM)
                slots = self._slots
                slots["b"], slots["p"] = addr, p
                text = tmpl.format_map(slots)
                del slots["p"]
            else:
                opener = choice(ph.COMPLAINT_OPENERS)
                if "{" in opener:
                    opener = opener.format_map(self._slots)
                parts = (
                    [opener, addr, p + choice(_PUNCT)] if r() < 0.6 else [opener, p + choice(_PUNCT), addr]
                )
                if platform in ("reddit", "forum", "review") and r() < 0.6:
                    parts.append("also " + self._fill(choice(bank.problems), addr) + ".")
                if r() < 0.3:
                    esc = choice(ph.ESCALATIONS)
                    parts.append((esc.format_map(self._slots) if "{" in esc else esc) + choice(_PUNCT))
                parts.append(choice(ph.COMPLAINT_CLOSERS))
                text = " ".join(x for x in parts if x)
            return text, "negative", None
        if intent == "question":
            q = self._fill(choice(bank.questions), addr) + ("?" if r() < 0.8 else "??")
            opener = choice(ph.QUESTION_OPENERS)
            text = f"{opener} {addr} {q}" if r() < 0.7 else f"{opener} {q} {addr}"
            sentiment = "neutral"
            if r() < 0.15:
                esc = choice(ph.ESCALATIONS)
                text = f"{text} {esc.format_map(self._slots) if '{' in esc else esc}"
                sentiment = "negative"
            return text.strip(), sentiment, None
        if intent == "request":
            frag = choice(bank.requests)
            req = self._fill(frag, addr)
            opener = choice(ph.REQUEST_OPENERS)
            text = f"{opener} {addr} {req}" if r() < 0.75 else f"{opener} {req} {addr}"
            sentiment = "neutral"
            if r() < 0.35:
                esc = choice(ph.ESCALATIONS)
                text = f"{text}. {esc.format_map(self._slots) if '{' in esc else esc}"
                sentiment = "negative"
            elif r() < 0.3:
                text += " thanks" if r() < 0.5 else ", thank you"
            return text.strip(), sentiment, frag.tags[0] if frag.tags else None
        if intent == "praise":
            text = " ".join(
                x
                for x in (
                    choice(ph.PRAISE_OPENERS),
                    addr,
                    self._fill(choice(bank.praise), addr) + choice(_PUNCT),
                    choice(ph.PRAISE_CLOSERS),
                )
                if x
            )
            return text, "positive", None
        if intent == "promo":
            return self._fill(choice(_PROMO), addr), "neutral", None
        frag = choice(_CHATTER)
        reaction = choice(ph.CHATTER_REACTIONS)
        text = self._fill(frag, addr)
        if reaction:
            text = f"{text}, {self._fill_s(reaction)}" if r() < 0.5 else f"{text}. {self._fill_s(reaction)}"
        return text, frag.tags[0], None

    def _vary(self, text: str, lang: str = "en") -> str:
        """Circumstances and asides: two people rarely type the same words, even about the same thing."""
        r = self.r
        pool = ph.CONTEXTS if lang == "en" else ph.FOREIGN_CONTEXTS[lang]
        u = r() if lang == "en" else 0.5  # the foreign banks are small: always add a circumstance
        if u < 0.9:
            ctx = self._fill_s(pool[int(r() * len(pool))])
            text = f"{ctx} {text}" if u < 0.25 else f"{text} {ctx}"
            if r() < (0.25 if lang == "en" else 0.5):
                text = f"{text} {self._fill_s(pool[int(r() * len(pool))])}"
        if r() < 0.35 and lang == "en":
            text = f"{text} {ph.TAILS[int(r() * len(ph.TAILS))]}"
        return text

    def _brand(self) -> Brand:
        return BRANDS[bisect.bisect(self._brand_cum, self.r())]

    def _addr(self, brand: Brand, platform: str, mentions: list[str]) -> str:
        if self.r() < _MENTION_SHARE.get(platform, 0.0):
            handle = _HANDLES[brand.key, platform]
            mentions.append(handle)
            return "@" + handle
        return brand.name

    def _engagement(self, followers: int) -> dict[str, int]:
        r = self.r
        u = r()
        likes = int(followers * u * u * u * 0.05 + r() * 3)
        reposts = int(likes * r() * 0.3)
        return {"likes": likes, "reposts": reposts, "replies": int(likes * r() * 0.2), "quotes": reposts // 4}

    # --- post kinds ----------------------------------------------------------------------------------

    def _base(
        self,
        platform: str,
        author: dict[str, Any],
        text: str,
        lang: str | None,
        brand: Brand,
        mentions: list[str],
        hashtags: list[str],
        truth: dict[str, Any],
        *,
        reply_to: str | None = None,
        conversation_id: str | None = None,
        repost_of: str | None = None,
        quote_of: str | None = None,
        comment: bool = False,
    ) -> Post:
        post_id = self._new_id(platform, comment)
        return {
            "platform": platform,
            "post_id": post_id,
            "author": author,
            "text": text,
            "lang": lang,
            "created_at": self._created_at(),
            "url": self._url(platform, post_id, author["handle"], brand.key),
            "reply_to": reply_to,
            "quote_of": quote_of,
            "repost_of": repost_of,
            "conversation_id": conversation_id
            if conversation_id is not None
            else (None if repost_of else post_id),
            "mentions": mentions,
            "hashtags": hashtags,
            "engagement": self._engagement(author["followers"]) if repost_of is None else {},
            "brand": brand.key,
            "source": "synthetic",
            "_truth": truth,
        }

    def _original(self, platform: str | None = None, brand: Brand | None = None) -> Post:
        r = self.r
        platform = platform or self._pick(self._platforms, self._platform_cum)
        brand = brand or self._brand()
        author = self._author(platform)
        mentions: list[str] = []
        hashtags: list[str] = []
        addr = self._addr(brand, platform, mentions)
        lang: str | None = self._pick(self._lang_names, self._lang_cum)
        intent = self._pick(self._intent_names, self._intent_cum)
        urgency: list[str] = []
        request: str | None = None
        if r() < self.urgency_rate and lang == "en":
            cue = self._pick(self._urgency_names, self._urgency_cum)
            intent = "question" if cue == "press" and r() < 0.5 else "complaint"
            text, sentiment, _ = self._compose(intent, brand, addr, platform, urgency)
            text = f"{text} {self._fill(self._choice(_URGENCY[cue]), addr)}"
            if cue not in urgency:
                urgency.append(cue)
            sentiment = "negative"
        elif lang != "en" and intent in _FOREIGN[lang]:  # type: ignore[index]
            text = self._vary(self._fill(self._choice(_FOREIGN[lang][intent]), addr), lang)  # type: ignore[index,arg-type]
            sentiment = (
                "negative" if intent == "complaint" else "positive" if intent == "praise" else "neutral"
            )
        else:
            lang = "en"
            text, sentiment, request = self._compose(intent, brand, addr, platform, urgency)
            text = self._vary(text)
        if r() < 0.25 and lang == "en":
            text = self._casual(text)
        if platform == "review":
            stars = (
                1 + int(r() * 2)
                if sentiment == "negative"
                else 5 - int(r() * 2)
                if sentiment == "positive"
                else 3
            )
            text = f"{'★' * stars}{'☆' * (5 - stars)} {text}"
        elif platform in ("reddit", "forum") and r() < 0.5:
            lang = None if r() < 0.5 else lang  # these platforms rarely tag a language
        text = self._decorate(text, sentiment, hashtags, platform)
        truth: dict[str, Any] = {
            "intent": intent,
            "sentiment": sentiment,
            "urgency": urgency,
            "kind": "original",
        }
        if request:
            truth["request"] = request
        return self._base(platform, author, text, lang, brand, mentions, hashtags, truth)

    def _reply(self, parent: Post) -> Post:
        r, choice = self.r, self._choice
        platform = parent["platform"]
        brand = _BRAND_BY_KEY[parent["brand"]]
        conv = parent["conversation_id"] or parent["post_id"]
        root_author: dict[str, Any] = self._root_author.get(conv) or parent["author"]
        brand_account = self._brand_accounts[(brand.key, platform)]
        ptruth = parent["_truth"]
        mentions: list[str] = []
        author: dict[str, Any]
        truth: tuple[str, str]
        by_brand = parent["author"] is brand_account
        u = r()
        if by_brand:  # the customer answers the brand
            author = root_author
            if u < 0.4:
                body, truth = self._fill_s(choice(ph.FOLLOWUPS_POS)), ("praise", "positive")
            else:
                body, truth = self._fill_s(choice(ph.FOLLOWUPS_NEG)), ("complaint", "negative")
        elif u < 0.35 and ptruth["intent"] != "promo":  # the brand's care team answers
            author = brand_account
            name = (parent["author"].get("display_name") or parent["author"]["handle"]).split(" ")[0]
            tone = ptruth["sentiment"]
            tmpl = choice(
                ph.BRAND_SORRY
                if tone == "negative"
                else ph.BRAND_THANKS
                if tone == "positive"
                else ph.BRAND_HELP
            )
            self._slots["name"] = name
            body = tmpl.format_map(self._slots)
            del self._slots["name"]
            truth = ("chatter", "neutral")
        elif u < 0.55:  # the original author again
            author = parent["author"]
            body, truth = self._fill_s(choice(ph.FOLLOWUPS_NEG)), ("complaint", "negative")
        else:  # somebody else joins in
            author = self._author(platform)
            if ptruth["intent"] in ("complaint", "request") or ptruth["sentiment"] == "negative":
                body, truth = self._fill_s(choice(ph.SAME_HERE)), ("complaint", "negative")
            elif r() < 0.5:
                body = self._fill(self._choice(brand.bank.questions), brand.name) + "?"
                truth = ("question", "neutral")
            else:
                body, truth = (
                    choice(("lol", "same", "👀", "this", "fr", "ok but why", "haha")),
                    ("chatter", "neutral"),
                )
        if author is not brand_account:
            body = self._vary(body)
        if platform in _HANDLE_MENTIONS and parent["author"] is not author:
            handle = parent["author"]["handle"]
            mentions.append(handle)
            body = f"@{handle} {body}"
        t: dict[str, Any] = {"intent": truth[0], "sentiment": truth[1], "urgency": [], "kind": "reply"}
        if author is brand_account:
            t["from_brand"] = True
        return self._base(
            platform, author, body, "en", brand, mentions, [], t,
            reply_to=parent["post_id"], conversation_id=conv, comment=True,
        )  # fmt: skip

    def _fill_s(self, text: str) -> str:
        return text.format_map(self._slots) if "{" in text else text

    def _repost(self, original: Post) -> Post:
        platform = original["platform"]
        author = self._author(platform)
        handle = original["author"]["handle"]
        if platform == "x":
            text = f"RT @{handle}: {original['text']}"
            mentions = [handle, *original["mentions"]]
        else:
            text, mentions = "", []
        truth = {**original["_truth"], "kind": "repost"}
        brand = _BRAND_BY_KEY[original["brand"]]
        return self._base(
            platform, author, text, original["lang"], brand, mentions, list(original["hashtags"]), truth,
            repost_of=original["post_id"],
        )  # fmt: skip

    def _quote(self, quoted: Post) -> Post:
        platform = quoted["platform"]
        brand = _BRAND_BY_KEY[quoted["brand"]]
        mentions: list[str] = []
        addr = self._addr(brand, platform, mentions)
        text = self._vary(self._fill(self._choice(_QUOTES), addr))
        qt = quoted["_truth"]
        truth = ("complaint", "negative") if qt["sentiment"] == "negative" else ("chatter", "neutral")
        t = {"intent": truth[0], "sentiment": truth[1], "urgency": [], "kind": "quote"}
        return self._base(
            platform, self._author(platform), text, "en", brand, mentions, [], t, quote_of=quoted["post_id"]
        )

    def _campaign_post(self) -> Post:
        c = self._campaign
        if c is None or c.remaining <= 0:
            frag = self._choice(_CAMPAIGNS)
            brand = self._brand()
            self._campaign_seq += 1
            text = frag.text.replace("{b}", brand.name)
            c = self._campaign = _Campaign(
                text, brand, frag.tags[0], frag.tags[1], 4 + int(self.r() * 12), self._campaign_seq
            )
        c.remaining -= 1
        platform = "x" if self.r() < 0.7 else self._pick(self._platforms, self._platform_cum)
        mentions: list[str] = []
        text = c.text
        # Copies differ only in what normalisation removes: mentions, links, case, punctuation.
        v = int(self.r() * 4)
        if v == 1 and platform in _HANDLE_MENTIONS:
            handle = _platform_handle(platform, c.brand.handle)
            mentions.append(handle)
            text = f"@{handle} {text}"
        elif v == 2:
            text = text.upper() + "!!"
        elif v == 3:
            text = f"{text}. https://t.co/{''.join(_B32[int(self.r() * 32)] for _ in range(8))}"
        truth = {
            "intent": c.intent,
            "sentiment": c.sentiment,
            "urgency": [],
            "kind": "campaign",
            "campaign": c.cid,
        }
        return self._base(platform, self._author(platform), text, "en", c.brand, mentions, [], truth)

    def _pileon_post(self, burst: BurstProfile) -> Post:
        r, choice = self.r, self._choice
        if self._pile_posts and r() < 0.25:  # pile-ons are amplified: many reposts of the loudest posts
            original = self._pile_posts[int(r() * r() * len(self._pile_posts))]
            if original["platform"] in ("x", "bluesky", "mastodon"):
                return self._repost(original)
        brand = _BRAND_BY_KEY[burst.brand]
        platform = "x" if r() < 0.7 else self._pick(self._platforms, self._platform_cum)
        mentions: list[str] = []
        addr = self._addr(brand, platform, mentions)
        urgency: list[str] = []
        slots = self._slots
        slots["b"], slots["tag"] = addr, "\x00"  # the hashtag goes in after casual spelling, unchanged
        if r() < burst.negative_share:
            frag = choice(brand.bank.outage_problems) if r() < 0.6 else choice(brand.bank.problems)
            tmpl = choice(ph.PILEON)
            if "{p}" in tmpl:
                urgency.extend(frag.tags)
                slots["p"] = self._fill(frag, addr)
            text = tmpl.format_map(slots)
            intent, sentiment = "complaint", "negative"
            if r() < 0.15:
                cue = self._pick(self._urgency_names, self._urgency_cum)
                text = f"{text} {self._fill(choice(_URGENCY[cue]), addr)}"
                if cue not in urgency:
                    urgency.append(cue)
        elif r() < 0.6:
            text, intent, sentiment = choice(ph.PILEON_QUESTIONS).format_map(slots), "question", "negative"
            if " down " in text:
                urgency.append("outage")
        else:
            text, intent, sentiment = choice(ph.DEFENDERS).format_map(slots), "chatter", "positive"
        slots.pop("p", None)
        slots.pop("tag", None)
        text = self._vary(text)
        if r() < 0.3:
            text = self._casual(text)
        text = text.replace("\x00", "#" + burst.hashtag)
        truth = {"intent": intent, "sentiment": sentiment, "urgency": urgency, "kind": "pileon"}
        post = self._base(
            platform, self._author(platform), text, "en", brand, mentions, [burst.hashtag], truth
        )
        if len(self._pile_posts) < 200:
            self._pile_posts.append(post)
        else:
            self._pile_posts[self._pile_i % 200] = post
            self._pile_i += 1
        return post

    def _malformed(self) -> Post:
        post = dict(self._original())
        kind = MALFORMED_KINDS[int(self.r() * len(MALFORMED_KINDS))]
        r = self.r
        if kind == "missing_author":
            del post["author"]
        elif kind == "text_not_string":
            post["text"] = (12345, ["split", "into", "parts"], {"body": post["text"]}, True)[int(r() * 4)]
        elif kind == "bad_created_at":
            post["created_at"] = ("yesterday at 5pm", "2024-13-45T25:61:00Z", "", "07/03/2024 09:00")[
                int(r() * 4)
            ]
        elif kind == "unknown_platform":
            post["platform"] = ("myspace", "X", "tiktok ", "friendster")[int(r() * 4)]
        elif kind == "post_id_not_string":
            post["post_id"] = int(r() * 1e12)
        elif kind == "missing_post_id":
            if r() < 0.5:
                del post["post_id"]
            else:
                post["post_id"] = ""
        elif kind == "followers_not_int":
            post["author"] = {**post["author"], "followers": ("lots", "1.2k", None, -5)[int(r() * 4)]}
        elif kind == "negative_engagement":
            post["engagement"] = {**post["engagement"], "likes": -1 - int(r() * 10)}
        else:
            post["mentions"] = ",".join(post["mentions"]) or "someone"
        post["_truth"] = {**post["_truth"], "kind": "malformed", "defect": kind}
        return post

    # --- the stream ----------------------------------------------------------------------------------

    def _remember(self, post: Post) -> None:
        n = self._recent_n
        if len(self._emitted) < n:
            self._emitted.append(post)
        else:
            self._emitted[self._emitted_i] = post
            self._emitted_i = (self._emitted_i + 1) % n
        if post["repost_of"] is None:
            ring = self._threadable[post["platform"]]
            if len(ring) < n:
                ring.append(post)
            else:
                i = self._threadable_i[post["platform"]]
                ring[i] = post
                self._threadable_i[post["platform"]] = (i + 1) % n
            if post["reply_to"] is None:
                self._root_author[post["post_id"]] = post["author"]
                if len(self._root_author) > 8 * n:  # bounded: forget the oldest roots
                    for key in list(self._root_author)[: 4 * n]:
                        del self._root_author[key]

    def _recent(self, platform: str) -> Post | None:
        ring = self._threadable[platform]
        if not ring:
            return None
        # bias towards the newest: threads and reposts happen soon after the original
        u = self.r()
        i = (self._threadable_i[platform] - 1 - int(u * u * len(ring))) % len(ring)
        return ring[i] if len(ring) == self._recent_n else ring[len(ring) - 1 - int(u * u * len(ring))]

    def next_post(self) -> Post:
        """The next post of the stream (a dict; malformed ones only when ``malformed_rate > 0``)."""
        r = self.r
        if self.pileon is not None and self.pileon_share and r() < self.pileon_share:
            pile = self._pileon_post(self.pileon)
            self._count("pileon")
            self._remember(pile)
            return pile
        u = r()
        post: Post | None = None
        if u < self._thr_campaign:
            if u < self._thr_malformed:
                self._count("malformed")
                self._t += self.interval_s
                return self._malformed()
            if u < self._thr_redeliver:
                if self._emitted:
                    self._count("redelivery")
                    self._t += self.interval_s
                    return dict(self._emitted[int(r() * len(self._emitted))])
            elif u < self._thr_repost:
                original = self._recent(self._pick(self._repost_names, self._repost_cum))
                if original is not None:
                    post = self._repost(original)
            elif u < self._thr_reply:
                parent = self._recent(self._pick(self._platforms, self._platform_cum))
                if parent is not None:
                    post = self._reply(parent)
            elif u < self._thr_quote:
                quoted = self._recent(self._pick(self._repost_names, self._repost_cum))
                if quoted is not None:
                    post = self._quote(quoted)
            else:
                post = self._campaign_post()
        if post is None:
            post = self._original()
        self._count(post["_truth"]["kind"])
        self._remember(post)
        return post

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def take(self, n: int) -> list[Post]:
        nxt = self.next_post
        return [nxt() for _ in range(n)]

    def __iter__(self) -> Iterator[Post]:
        while True:
            yield self.next_post()


# --- malformed records --------------------------------------------------------------------------------


def malformed_records(n: int, seed: int = 0) -> list[bytes]:
    """Whole Kafka record values that are not a post or a frame: the raw-topic dead-letter cases."""
    rng = random.Random(seed)
    gen = FirehoseGenerator(seed, n_authors=400)
    out = []
    for i in range(n):
        kind = (
            RAW_MALFORMED_KINDS[i % len(RAW_MALFORMED_KINDS)]
            if i < len(RAW_MALFORMED_KINDS)
            else rng.choice(RAW_MALFORMED_KINDS)
        )
        good = orjson.dumps([_public(gen.next_post())])
        if kind == "not_json":
            out.append(
                rng.choice((b"hello world", b"<html>502 Bad Gateway</html>", b"\x00\x01\x02", b"{'a': 1}"))
            )
        elif kind == "truncated_json":
            out.append(good[: max(2, int(len(good) * (0.2 + 0.6 * rng.random())))])
        elif kind == "json_number":
            out.append(rng.choice((b"42", b"-1.5e3", b"0")))
        elif kind == "empty_array":
            out.append(b"[]")
        else:
            out.append(good.replace(b'"text":"', b'"text":"\xff\xfe\xc3', 1))
    return out


def _public(post: Post) -> Post:
    return {k: v for k, v in post.items() if k != "_truth"}


# --- pacing into a producer ---------------------------------------------------------------------------


class Pregenerated:
    """Posts generated before a paced run, handed out in order by :func:`run` as a generator would.

    Why: a load test on one machine should not spend the cores it measures on inventing posts. The
    producer's work (ingest stamp, partitioning, framing, writing) still happens on the clock.
    """

    def __init__(self, posts: list[Post], seed: int = 0) -> None:
        self.posts = posts
        self._i = 0
        self.r = random.Random(seed).random  # only for the raw-malformed draws of :func:`run`
        self.interval_s = 0.0  # set by :func:`run`; the posts' timestamps were fixed when generated
        self.pileon: BurstProfile | None = None
        self.pileon_share = 0.0

    def __len__(self) -> int:
        return len(self.posts) - self._i

    def take(self, n: int) -> list[Post]:
        if n > len(self):
            raise ValueError(f"{n} posts asked, {len(self)} left: pre-generate for the whole run")
        chunk = self.posts[self._i : self._i + n]
        self._i += n
        return chunk


def pregenerate(
    gen: FirehoseGenerator,
    rate: float,
    duration_s: float | None = None,
    count: int | None = None,
    burst: BurstProfile | None = None,
    *,
    step_s: float = 0.02,
) -> Pregenerated:
    """The posts :func:`run` would send with these arguments, in order, without the generator's
    ``_truth`` (a real source has no such field). A burst is followed in ``step_s`` steps, so the posts of
    a wave carry the wave's pile-on and timestamps as they would when generated on the clock."""
    if duration_s is None and count is None:
        raise ValueError("give duration_s or count")
    limit = count if count is not None else math.inf
    posts: list[Post] = []
    t = 0.0
    while len(posts) < limit:
        t = t + step_s if duration_s is None else min(t + step_s, duration_s)
        due = int(min(burst.expected(t, rate) if burst else rate * t, limit))
        if due > len(posts):
            gen.interval_s = 1.0 / (burst.rate_at(t, rate) if burst else rate)
            if burst is not None:
                gen.pileon, gen.pileon_share = burst, burst.pileon_share(t)
            posts.extend(_public(p) for p in gen.take(due - len(posts)))
        if duration_s is not None and t >= duration_s:
            break
    return Pregenerated(posts, gen.seed)


@dataclass
class RunStats:
    """What a paced run did; ``generated_per_s`` is generation speed alone (CPU cost per core)."""

    sent: int = 0
    elapsed_s: float = 0.0
    generation_s: float = 0.0
    raw_malformed: int = 0
    peak_rate: float = 0.0
    per_second: list[tuple[float, float, float]] = field(default_factory=list)  # (t, target, actual)

    @property
    def actual_rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def generated_per_s(self) -> float:
        return self.sent / self.generation_s if self.generation_s > 0 else 0.0


async def run(
    producer: PostSink,
    rate: float,
    duration_s: float | None = None,
    count: int | None = None,
    burst: BurstProfile | None = None,
    *,
    generator: FirehoseGenerator | Pregenerated | None = None,
    seed: int = 0,
    tick_s: float = 0.02,
    max_chunk: int = 2000,
    raw_malformed_rate: float = 0.0,
    report: Callable[[float, float, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> RunStats:
    """Paces posts into ``producer`` at ``rate`` posts/s (times the burst profile) until ``duration_s``
    or ``count``; sends in chunks, sleeping between ticks, and catches up without drifting if it falls
    behind. ``report(t, target, actual)`` is called about once a second.
    """
    if duration_s is None and count is None:
        raise ValueError("give duration_s or count")
    if rate <= 0:
        raise ValueError("rate must be > 0")
    gen = generator or FirehoseGenerator(seed, rate=rate)
    add_raw = getattr(producer, "add_raw", None)
    add_many = getattr(producer, "add_many", None)  # one call per chunk where the producer batches
    if raw_malformed_rate > 0 and add_raw is None:
        raise ValueError("raw_malformed_rate needs a producer with add_raw")
    raw_pool = malformed_records(64, seed) if raw_malformed_rate > 0 else []
    stats = RunStats()
    limit = count if count is not None else math.inf
    start = clock()
    window_start, window_sent, next_report = 0.0, 0, 1.0
    t = 0.0
    while True:
        t = clock() - start
        done_time = duration_s is not None and t >= duration_s
        at = min(t, duration_s) if duration_s is not None else t
        due = burst.expected(at, rate) if burst else rate * at
        todo = int(min(due, limit)) - stats.sent
        while todo > 0:
            k = min(todo, max_chunk)
            now_rate = burst.rate_at(at, rate) if burst else rate
            gen.interval_s = 1.0 / now_rate
            if burst is not None:
                gen.pileon, gen.pileon_share = burst, burst.pileon_share(at)
            g0 = time.process_time()
            posts = gen.take(k)
            stats.generation_s += time.process_time() - g0
            if add_many is not None:
                await add_many(posts)
            else:
                for post in posts:
                    await producer.add(post)
            if raw_pool and add_raw is not None:
                n_raw = int(k * raw_malformed_rate + gen.r())
                for _ in range(n_raw):
                    await add_raw(raw_pool[int(gen.r() * len(raw_pool))], 0)
                stats.raw_malformed += n_raw
            stats.sent += k
            todo -= k
            if todo > 0:
                await sleep(0)  # let the producer's I/O run while catching up
        if done_time or stats.sent >= limit:
            break
        if t >= next_report:
            actual = (stats.sent - window_sent) / max(t - window_start, 1e-9)
            # the mean target over the same window, so a wave edge inside it does not look like a miss
            target = (
                burst.expected(t, rate) - burst.expected(window_start, rate)
                if burst
                else rate * (t - window_start)
            ) / max(t - window_start, 1e-9)
            stats.per_second.append((round(t, 2), target, actual))
            stats.peak_rate = max(stats.peak_rate, actual)
            if report is not None:
                report(t, target, actual)
            window_start, window_sent, next_report = t, stats.sent, next_report + 1.0
        elapsed_tick = clock() - start - t
        await sleep(max(0.0, tick_s - elapsed_tick))
    await producer.flush()
    stats.elapsed_s = max(clock() - start, 1e-9)
    return stats


# --- sample, benchmark, CLI ----------------------------------------------------------------------------


def sample_generator(seed: int = SAMPLE_SEED) -> FirehoseGenerator:
    """The generator settings of the bundled sample (~3% redeliveries, ~8% reposts, ~15% replies...)."""
    return FirehoseGenerator(
        seed,
        rate=_SAMPLE_RATE,
        start=_SAMPLE_START,
        n_authors=3000,
        reply_rate=0.15,
        repost_rate=0.08,
        redelivery_rate=0.03,
        quote_rate=0.02,
        campaign_rate=0.005,
        malformed_rate=0.01,
    )


def write_sample(path: Path | str = DEFAULT_SAMPLE_PATH, n: int = SAMPLE_N, seed: int = SAMPLE_SEED) -> Path:
    """Writes ``n`` posts as gzipped JSON lines, byte-for-byte reproducible (no gzip time or name)."""
    gen = sample_generator(seed)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        for post in gen.take(n):
            gz.write(orjson.dumps(post, option=orjson.OPT_APPEND_NEWLINE))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def measure_generation(n: int = 200_000, seed: int = 1, **kwargs: Any) -> float:
    """Posts generated per second on this core (the generator is single-threaded)."""
    gen = FirehoseGenerator(seed, **kwargs)
    gen.take(2000)  # warm the rings so every post kind is in the mix
    t0 = time.process_time()  # CPU time: a busy machine does not make the generator look slower
    gen.take(n)
    return n / max(time.process_time() - t0, 1e-9)


async def _run_kafka(args: argparse.Namespace) -> RunStats:
    from stream.settings import Settings
    from stream.sources.producer import PostProducer

    burst = (
        BurstProfile(args.burst_at, args.burst_for, args.burst_x, args.burst_brand, args.burst_tag)
        if args.burst_for > 0
        else None
    )
    gen = FirehoseGenerator(args.seed, rate=args.rate, malformed_rate=args.malformed)

    def report(t: float, target: float, actual: float) -> None:
        print(f"t={t:6.1f}s target={target:8.0f}/s actual={actual:8.0f}/s", file=sys.stderr)

    async with PostProducer(Settings()) as producer:
        return await run(
            producer, args.rate, args.duration, args.count, burst, generator=gen, report=report,
            raw_malformed_rate=args.raw_malformed,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``--write-sample``, ``--bench N``, ``--print N`` (JSONL to stdout) or ``--run`` (into Kafka)."""
    p = argparse.ArgumentParser(
        prog="python -m stream.sources.synthetic.generator", description=__doc__.split("\n")[0]
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write-sample", action="store_true", help="regenerate the bundled sample")
    mode.add_argument("--bench", type=int, metavar="N", help="measure posts/s generated on one core")
    mode.add_argument(
        "--print", type=int, metavar="N", dest="print_n", help="write N posts as JSONL to stdout"
    )
    mode.add_argument("--run", action="store_true", help="pace posts into Kafka (KAFKA_BOOTSTRAP_SERVERS)")
    p.add_argument("--path", type=Path, default=DEFAULT_SAMPLE_PATH)
    p.add_argument("--n", type=int, default=SAMPLE_N)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--duration", type=float, default=None)
    p.add_argument("--count", type=int, default=None)
    p.add_argument("--malformed", type=float, default=0.0, help="share of malformed post dicts")
    p.add_argument("--raw-malformed", type=float, default=0.0, help="share of malformed records (bytes)")
    p.add_argument("--burst-at", type=float, default=10.0)
    p.add_argument("--burst-for", type=float, default=0.0, help="seconds of 10x pile-on (0: none)")
    p.add_argument("--burst-x", type=float, default=10.0)
    p.add_argument("--burst-brand", default="volt-mobile")
    p.add_argument("--burst-tag", default="VoltMobileDown")
    args = p.parse_args(argv)
    if args.write_sample:
        path = write_sample(args.path, args.n, SAMPLE_SEED if args.seed is None else args.seed)
        print(f"wrote {args.n} posts to {path} ({path.stat().st_size:,} bytes)")
    elif args.bench:
        rate = measure_generation(args.bench, args.seed or 1, malformed_rate=args.malformed)
        print(f"{rate:,.0f} posts/s generated on one core")
    elif args.print_n:
        gen = FirehoseGenerator(args.seed or 0, rate=args.rate, malformed_rate=args.malformed)
        out = sys.stdout.buffer
        for post in gen.take(args.print_n):
            out.write(orjson.dumps(post, option=orjson.OPT_APPEND_NEWLINE))
    else:
        if args.duration is None and args.count is None:
            p.error("--run needs --duration or --count")
        stats = asyncio.run(_run_kafka(args))
        print(
            f"sent {stats.sent:,} posts in {stats.elapsed_s:.1f}s: {stats.actual_rate:,.0f}/s actual, "
            f"peak {stats.peak_rate:,.0f}/s; generation alone {stats.generated_per_s:,.0f} posts/s per core"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
