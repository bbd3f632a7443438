"""A post that passed triage: what the classifiers said, and the ticket it belongs to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.post import Post
from schemas.scores import Scores

__all__ = ["ScoredPost"]


class ScoredPost(BaseModel):
    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_extra={"$id": "scored_post.schema.json"}
    )

    post: Post
    scores: Scores
    ticket_id: str = Field(pattern=r"^tkt_[0-9a-f]{20}$")
    conversation_id: str
