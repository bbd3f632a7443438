"""Stage one, on the raw posts topic: validate, dedupe, score, and keep only what needs an answer.

Pure apart from the clock it is given: a record in, the records to write out. The agent does the I/O.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from classifiers import ScoreBatch, TextScorer, clout_reasons, clout_scores
from schemas.events import AuditDecisionDoc, Outcome, audit_decision
from schemas.post import Post
from schemas.timestamps import iso_utc_from_epoch
from stream.kafka.deadletter import dead_letter, reason_kind
from stream.kafka.framing import RecordError, decode_record
from stream.kafka.records import OutRecord
from stream.pipeline.authors import AuthorActivity
from stream.pipeline.dedupe import DedupeWindow, partition_for, post_keys
from stream.pipeline.validate import validate_items
from stream.settings import Settings
from stream.tickets.ids import conversation_of, ticket_id, ticket_partition

__all__ = ["TriageOutput", "TriageStage"]

log = logging.getLogger(__name__)


@dataclass
class TriageOutput:
    posts_in: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    duplicate_kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    dead_kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    dead_letters: list[OutRecord] = field(default_factory=list)
    forward: list[OutRecord] = field(default_factory=list)  # frames for the actionable topic
    audit: list[AuditDecisionDoc] = field(default_factory=list)
    new_keys: list[int] = field(default_factory=list)  # for the dedupe changelog
    signals: list[tuple[str | None, list[str], float, float]] = field(default_factory=list)  # for spikes
    misrouted: int = 0
    source: tuple[str, int, int] = ("", -1, -1)  # topic, partition, offset of the record being triaged

    def merge(self, other: TriageOutput) -> None:
        """Add ``other`` (a chunk's output) to this one."""
        self.posts_in += other.posts_in
        self.outcomes.update(other.outcomes)
        self.duplicate_kinds.update(other.duplicate_kinds)
        self.dead_kinds.update(other.dead_kinds)
        self.dead_letters += other.dead_letters
        self.forward += other.forward
        self.audit += other.audit
        self.new_keys += other.new_keys
        self.signals += other.signals
        self.misrouted += other.misrouted
        self.source = other.source


class TriageStage:
    """Holds the per-partition dedupe windows and the scorer of one worker."""

    def __init__(self, settings: Settings, scorer: TextScorer) -> None:
        self.settings = settings
        self.scorer = scorer
        self.windows: dict[int, DedupeWindow] = {}
        self.authors = AuthorActivity()
        # The brand's own accounts: their posts (replies to customers, announcements) are the brand
        # speaking, never a request to answer, however much they read like one ("sorry, that shouldn't
        # have happened"). Matched exactly, unlike the sources' BrandFilter, which also takes "acme" to mean
        # acme@any.server: a mention too many only keeps a post, a customer taken for the brand loses one.
        self.own_handles = frozenset(h.lower() for h in settings.brand_handles)

    def window(self, partition: int) -> DedupeWindow:
        w = self.windows.get(partition)
        if w is None:
            w = self.windows[partition] = DedupeWindow(
                self.settings.dedupe_window_s, self.settings.dedupe_bucket_s
            )
        return w

    def decode(
        self, value: bytes | None, topic: str, partition: int, offset: int, now: float
    ) -> tuple[list[Any], TriageOutput]:
        """Split a record into items; a record that is not JSON at all is one dead letter."""
        out = TriageOutput()
        try:
            return decode_record(value, self.settings.max_record_bytes), out
        except RecordError as exc:
            reason = str(exc)
            out.posts_in = 1
            out.outcomes[Outcome.DEAD_LETTER] += 1
            out.dead_kinds[reason_kind(reason)] += 1
            out.dead_letters.append(
                dead_letter(value or b"", reason, "triage", topic, partition, offset, now)
            )
            out.audit.append(self._decision("?", Outcome.DEAD_LETTER, reason, now))
            return [], out

    def process_safely(
        self, items: Sequence[Any], topic: str, partition: int, offset: int, now: float, out: TriageOutput
    ) -> TriageOutput:
        """:meth:`process`, with a net: if triaging a chunk raises (a bug, or input nothing foresaw), every
        item of the chunk becomes a dead letter with the reason, and the books still balance. Nothing of
        the failed chunk reaches ``out`` but its dead letters."""
        part = TriageOutput()
        try:
            self.process(items, topic, partition, offset, now, part)
        except Exception as exc:
            log.exception(
                "triage failed on a chunk of %s/%d@%d; its %d items dead-lettered",
                topic,
                partition,
                offset,
                len(items),
            )
            reason = f"internal error in triage: {type(exc).__name__}: {exc}"[:500]
            part = TriageOutput(posts_in=len(items), source=(topic, partition, offset))
            for item in items:
                part.outcomes[Outcome.DEAD_LETTER] += 1
                part.dead_kinds[reason_kind(reason)] += 1
                part.dead_letters.append(
                    dead_letter(_bytes_of(item), reason, "triage", topic, partition, offset, now)
                )
                part.audit.append(self._decision(_item_key(item), Outcome.DEAD_LETTER, reason, now))
        out.merge(part)
        return out

    def process(
        self, items: Sequence[Any], topic: str, partition: int, offset: int, now: float, out: TriageOutput
    ) -> TriageOutput:
        """Triage a chunk of a frame's items into ``out``; chunks of one frame are given in order."""
        cfg = self.settings
        out.source = (topic, partition, offset)
        out.posts_in += len(items)
        good, bad = validate_items(items)
        for _, item, reason in bad:
            out.outcomes[Outcome.DEAD_LETTER] += 1
            out.dead_kinds[reason_kind(reason)] += 1
            out.dead_letters.append(
                dead_letter(orjson.dumps(item), reason, "triage", topic, partition, offset, now)
            )
            out.audit.append(self._decision(_item_key(item), Outcome.DEAD_LETTER, reason, now))
        if not good:
            return out

        posts = [p for _, p in good]
        raws = [items[i] for i, _ in good]  # forwarded as they came: stage 2 validates them again anyway
        keys = [
            post_keys(
                p.platform.value,
                p.post_id,
                p.text,
                p.repost_of,
                cfg.near_dup_min_tokens,
                p.reply_to,
                p.conversation_id,
            )
            for p in posts
        ]
        flat: list[int] = []
        for k in keys:
            flat.append(k.identity)
            if k.content is not None:
                flat.append(k.content)
            if partition_for(k.routing, cfg.partitions) != partition:
                out.misrouted += 1
        seen = iter(self.window(partition).seen_many(flat, now))

        fresh: list[Post] = []
        fresh_raws: list[Any] = []
        replies: list[tuple[int, dict[str, Any]]] = []
        for post, raw, k in zip(posts, raws, keys, strict=True):
            id_seen = next(seen)
            content_seen = next(seen) if k.content is not None else False
            if not id_seen:
                out.new_keys.append(k.identity)
            if k.content is not None and not content_seen:
                out.new_keys.append(k.content)
            kind = (
                "repost"
                if k.repost_of
                else "same_post"
                if id_seen
                else "near_identical"
                if content_seen
                else None
            )
            if kind is None:
                handle = post.author.handle.lstrip("@")
                if self.own_handles and handle.lower() in self.own_handles:
                    out.outcomes[Outcome.FILTERED] += 1
                    why = f"filtered: the brand's own post (@{handle})"
                    tid = None
                    if cfg.public_reply_first_response and post.reply_to is not None:
                        tid = ticket_id(post.platform.value, post.brand, conversation_of(post))
                        at = (
                            post.ingested_at.isoformat()
                            if post.ingested_at is not None
                            else iso_utc_from_epoch(now)
                        )
                        reply = {"post": post.key, "handle": handle, "ticket_id": tid, "at": at}
                        replies.append((ticket_partition(tid, cfg.partitions), {"brand_reply": reply}))
                        why += "; a reply in a ticket's thread: its first response if still unanswered"
                    out.audit.append(self._decision(post.key, Outcome.FILTERED, why, now, tid))
                    continue
                fresh.append(post)
                fresh_raws.append(raw)
                continue
            out.outcomes[Outcome.DUPLICATE] += 1
            out.duplicate_kinds[kind] += 1
            why = {
                "repost": f"duplicate: repost of {k.repost_of}",
                "same_post": "duplicate: same post seen before",
                "near_identical": "duplicate: near-identical text seen within the window",
            }[kind]
            out.audit.append(self._decision(post.key, Outcome.DUPLICATE, why, now))
        frames: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
        if fresh:
            self._score(fresh, fresh_raws, now, out, frames)
        for p, reply in replies:  # after the posts: a reply must not reach its ticket before the post
            frames[p].append(reply)
        for p, frame in frames.items():
            out.forward.append(OutRecord(value=orjson.dumps(frame), partition=p))
        return out

    def _score(
        self,
        posts: list[Post],
        raws: list[Any],
        now: float,
        out: TriageOutput,
        frames: dict[int, list[dict[str, Any]]],
    ) -> None:
        try:
            batch = self.scorer.score([p.text for p in posts], [p.lang for p in posts])
        except Exception:
            # A post that breaks the scorer must not stop the pipeline (a crash would replay it forever):
            # score one by one, and dead-letter only the posts that fail.
            for post, raw in zip(posts, raws, strict=True):
                try:
                    single = self.scorer.score([post.text], [post.lang])
                except Exception as exc:
                    reason = f"scoring failed: {type(exc).__name__}: {exc}"[:500]
                    out.outcomes[Outcome.DEAD_LETTER] += 1
                    out.dead_kinds["scoring_failed"] += 1
                    original = post.model_dump_json().encode()
                    out.dead_letters.append(dead_letter(original, reason, "triage", *out.source, now))
                    out.audit.append(self._decision(post.key, Outcome.DEAD_LETTER, reason, now))
                else:
                    self._emit([post], [raw], single, now, out, frames)
            return
        self._emit(posts, raws, batch, now, out, frames)

    def _emit(
        self,
        posts: list[Post],
        raws: list[Any],
        batch: ScoreBatch,
        now: float,
        out: TriageOutput,
        frames: dict[int, list[dict[str, Any]]],
    ) -> None:
        cfg = self.settings
        rates = [self.authors.observe(f"{p.platform.value}:{p.author.id}", now) for p in posts]
        clout = clout_scores(
            [p.author.followers for p in posts],
            [p.author.verified for p in posts],
            [p.engagement.total for p in posts],
            rates,
        )
        sentiments = batch.sentiment
        intents = batch.intent
        # Python floats: indexing and formatting numpy scalars one post at a time costs more than the rest
        negativity: list[float] = batch.negativity.tolist()
        actionable_p: list[float] = batch.actionable_proba.tolist()
        intent_conf: list[float] = batch.intent_proba.max(axis=1).tolist()
        clout_of: list[float] = clout.tolist()
        ingested = iso_utc_from_epoch(now)
        keep = [
            i
            for i in range(len(posts))
            if actionable_p[i] >= cfg.actionable_threshold and intents[i] != "promo"
        ]
        batch.explain(keep)  # the posts that become tickets, in one call; the rest are never explained
        kept = set(keep)
        for i, post in enumerate(posts):
            out.signals.append((post.brand, post.hashtags, negativity[i], now))
            if i not in kept:
                # most posts stop here: no scores document or reasons to build for them
                out.outcomes[Outcome.FILTERED] += 1
                why = f"filtered: {intents[i]} ({intent_conf[i]:.2f}), P(actionable) {actionable_p[i]:.2f}"
                out.audit.append(self._decision(post.key, Outcome.FILTERED, why, now))
                continue
            reasons = list(batch.reasons[i]) + [
                "clout:" + r
                for r in clout_reasons(
                    post.author.followers, post.author.verified, post.engagement.total, rates[i]
                )
            ]
            scores = {
                "sentiment": sentiments[i],
                "negativity": round(negativity[i], 4),
                "intent": intents[i],
                "intent_confidence": round(intent_conf[i], 4),
                "actionable": True,
                "actionable_proba": round(actionable_p[i], 4),
                "clout": clout_of[i],
                "urgency": list(batch.urgency[i]),
                "reasons": reasons,
                "model_version": batch.model_version,
            }
            conversation = conversation_of(post)
            tid = ticket_id(post.platform.value, post.brand, conversation)
            raw = raws[i]
            if not isinstance(raw, dict):
                doc = post.model_dump(mode="json")
            elif raw.get("ingested_at") is None:
                doc = {**raw, "ingested_at": ingested}
            else:
                doc = raw
            frames[ticket_partition(tid, cfg.partitions)].append(
                {"post": doc, "scores": scores, "ticket_id": tid, "conversation_id": conversation}
            )
            why = (
                f"actionable: intent {intents[i]} ({intent_conf[i]:.2f}), P(actionable) {actionable_p[i]:.2f}"
            )
            out.audit.append(self._decision(post.key, "actionable", why, now, tid))

    @staticmethod
    def _decision(
        key: str, outcome: Outcome | Literal["actionable"], reason: str, now: float, tid: str | None = None
    ) -> AuditDecisionDoc:
        return audit_decision("triage", key, outcome, reason, iso_utc_from_epoch(now), ticket_id=tid)


def _item_key(item: Any) -> str:
    if isinstance(item, dict):
        platform, post_id = item.get("platform"), item.get("post_id")
        if isinstance(platform, str) and isinstance(post_id, str | int):
            return f"{platform[:32]}:{str(post_id)[:256]}"
    return "?"


def _bytes_of(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    try:
        return orjson.dumps(item)
    except TypeError:
        return repr(item).encode()
