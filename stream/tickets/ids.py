"""Ticket ids and ticket records. Ids are derived, never random, so at-least-once replay is harmless."""

from __future__ import annotations

import hashlib
from typing import Any

from schemas.post import Post
from schemas.timestamps import iso_utc
from stream.kafka.partitioner import kafka_partition

__all__ = ["conversation_of", "ticket_id", "ticket_partition", "ticket_post_doc"]


def conversation_of(post: Post) -> str:
    """The thread a post belongs to: its conversation root, else what it replies to, else itself."""
    return post.conversation_id or post.reply_to or post.post_id


def ticket_id(platform: str, brand: str | None, conversation: str) -> str:
    digest = hashlib.blake2b(f"{platform}|{brand or ''}|{conversation}".encode(), digest_size=10).hexdigest()
    return f"tkt_{digest}"


def ticket_partition(tid: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2) on the ticket id: a CRM that writes lifecycle events keyed by
    ticket id with any standard client lands them on the partition that holds the ticket."""
    return kafka_partition(tid.encode(), partitions)


def ticket_post_doc(post: Post) -> dict[str, Any]:
    """The ticket's copy of a post, as ``TicketPost`` dumps it (a test holds them equal) without building the
    model:
    the route stage writes one per actionable post, and the post was validated on the way in."""
    return {
        "platform": post.platform.value,
        "post_id": post.post_id,
        "url": post.url,
        "author_id": post.author.id,
        "author_handle": post.author.handle,
        "author_followers": post.author.followers,
        "text": post.text,
        "lang": post.lang,
        "created_at": iso_utc(post.created_at),
        "ingested_at": iso_utc(post.ingested_at or post.created_at),
    }
