"""What triage forwards to the route stage: a post that passed, with what the classifiers said and the ticket
it belongs to; or the brand's own public reply in a ticket's thread."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.post import Post
from schemas.scores import Scores
from schemas.timestamps import PostTime

__all__ = ["BrandReply", "ScoredPost"]


class ScoredPost(BaseModel):
    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_extra={"$id": "scored_post.schema.json"}
    )

    post: Post
    scores: Scores
    ticket_id: str = Field(pattern=r"^tkt_[0-9a-f]{20}$")
    conversation_id: str


class BrandReply(BaseModel):
    """The brand's own reply in a thread. On social the brand's first public answer is the first response
    the customer sees, so the route stage stops that ticket's first-response clock with it. Frames carry it
    as ``{"brand_reply": {...}}``; the post itself was filtered in triage (the brand needs no ticket)."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_extra={"$id": "brand_reply.schema.json"}
    )

    post: str = Field(min_length=1, max_length=300, description="platform:post_id of the reply.")
    handle: str = Field(max_length=256, description="The brand account that replied, without @.")
    ticket_id: str = Field(pattern=r"^tkt_[0-9a-f]{20}$", description="The ticket of the thread replied in.")
    at: PostTime = Field(
        description="When the reply was ingested: the same clock as the ticket's creation, so time to "
        "first response is not skewed by the platform's clock."
    )
