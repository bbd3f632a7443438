"""The normalised social post: what every source adapter produces, whatever the platform."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.timestamps import PostTime, UtcDatetime

__all__ = ["Author", "Engagement", "Platform", "Post", "PostTime", "UtcDatetime"]


class Platform(StrEnum):
    X = "x"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    BLUESKY = "bluesky"
    MASTODON = "mastodon"
    REDDIT = "reddit"
    FORUM = "forum"
    REVIEW = "review"
    WEBHOOK = "webhook"
    OTHER = "other"


class Author(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=256, description="Platform-specific author id.")
    handle: str = Field(max_length=256, description="@handle without the @, as shown on the platform.")
    display_name: str | None = Field(default=None, max_length=512)
    followers: int = Field(default=0, ge=0)
    verified: bool = False


class Engagement(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    likes: int = Field(default=0, ge=0)
    reposts: int = Field(default=0, ge=0)
    replies: int = Field(default=0, ge=0)
    quotes: int = Field(default=0, ge=0)

    @property
    def total(self) -> int:
        return self.likes + self.reposts + self.replies + self.quotes


class Post(BaseModel):
    """One public post about a brand, normalised. Unknown fields are ignored so sources may add more."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = Field(default=1, ge=1)
    platform: Platform
    post_id: str = Field(min_length=1, max_length=256, description="Id unique within the platform.")
    author: Author
    text: str = Field(default="", max_length=40_000, description="Empty only for pure reposts.")
    lang: str | None = Field(default=None, max_length=16, description="BCP 47 / ISO 639-1 code if known.")
    created_at: PostTime = Field(description="When the author posted it.")
    ingested_at: PostTime | None = Field(
        default=None, description="When a source adapter received it; starts the ingest-to-ticket clock."
    )
    url: str | None = Field(default=None, max_length=2048)
    reply_to: str | None = Field(default=None, max_length=256, description="Post id this replies to.")
    quote_of: str | None = Field(default=None, max_length=256, description="Post id this quotes.")
    repost_of: str | None = Field(
        default=None,
        max_length=256,
        description="Post id this reposts/retweets; such posts collapse into it.",
    )
    conversation_id: str | None = Field(
        default=None, max_length=256, description="Thread root id; replies share their root's ticket."
    )
    mentions: list[str] = Field(default_factory=list, max_length=100)
    hashtags: list[str] = Field(default_factory=list, max_length=100)
    engagement: Engagement = Field(default_factory=Engagement)
    brand: str | None = Field(default=None, max_length=128, description="The brand the post concerns.")
    source: str | None = Field(default=None, max_length=128, description="Adapter that produced it.")

    @property
    def key(self) -> str:
        """Platform-qualified post id: unique across all platforms."""
        return f"{self.platform.value}:{self.post_id}"
