"""One settings model for every process, read from the environment (``TRIAGE_*``, plus Kafka's usual names).

Secrets are ``SecretStr`` so they never print in reprs or logs; they come only from the environment.
"""

from __future__ import annotations

import ssl
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "TopicNames"]


class TopicNames:
    """Topic names derived from one prefix, so two deployments can share a cluster."""

    def __init__(self, prefix: str) -> None:
        self.raw = f"{prefix}.posts.raw"
        self.actionable = f"{prefix}.posts.actionable"
        self.tickets = f"{prefix}.tickets"
        self.audit = f"{prefix}.audit"
        self.deadletter = f"{prefix}.deadletter"
        self.dedupe_changelog = f"{prefix}.dedupe-changelog"

    def all(self) -> list[str]:
        return [self.raw, self.actionable, self.tickets, self.audit, self.deadletter, self.dedupe_changelog]


class Settings(BaseSettings):
    """Every knob of the service. Field docs are the reference for the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", populate_by_name=True)

    # --- Kafka ---------------------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "TRIAGE_KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]. Unset: `triage run` starts the embedded broker.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
        default="PLAINTEXT",
        validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL", "TRIAGE_KAFKA_SECURITY_PROTOCOL"),
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.",
        default="PLAIN",
        validation_alias=AliasChoices("KAFKA_SASL_MECHANISM", "TRIAGE_KAFKA_SASL_MECHANISM"),
    )
    kafka_sasl_username: str | None = Field(
        description="SASL user name.",
        default=None,
        validation_alias=AliasChoices("KAFKA_SASL_USERNAME", "TRIAGE_KAFKA_SASL_USERNAME"),
    )
    kafka_sasl_password: SecretStr | None = Field(
        description="SASL password (a secret: never logged).",
        default=None,
        validation_alias=AliasChoices("KAFKA_SASL_PASSWORD", "TRIAGE_KAFKA_SASL_PASSWORD"),
    )
    kafka_ssl_cafile: Path | None = Field(
        description="CA bundle to verify the brokers' certificates (default: system CAs).",
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_CAFILE", "TRIAGE_KAFKA_SSL_CAFILE"),
    )
    app_id: str = Field(default="social-triage", description="Faust app id: consumer group and state prefix.")
    topic_prefix: str = Field(
        description="Prefix of every topic name.", default="triage", pattern=r"^[A-Za-z0-9._-]+$"
    )
    partitions: int = Field(default=4, ge=1, le=1024, description="Partitions of every pipeline topic.")
    replication_factor: int = Field(
        description="Replication factor of the topics the service creates.", default=1, ge=1, le=7
    )
    session_timeout_s: float = Field(
        default=10.0, gt=0, description="Consumer session and rebalance timeout."
    )

    # --- Pipeline ------------------------------------------------------------------------------------
    dedupe_window_s: int = Field(default=3600, ge=60, description="How long a post id or text is remembered.")
    dedupe_bucket_s: int = Field(default=60, ge=1, description="Granularity of dedupe-window expiry.")
    near_dup_min_tokens: int = Field(
        default=6, ge=1, description="Texts with at least this many tokens are deduplicated by content too."
    )
    actionable_threshold: float = Field(
        description="P(actionable) at or above which a post becomes a ticket.", default=0.5, ge=0.0, le=1.0
    )
    max_frame_posts: int = Field(
        default=1000, ge=1, description="Sources put at most this many posts in a frame."
    )
    max_record_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Larger records are dead-lettered."
    )
    score_chunk: int = Field(
        default=500, ge=1, description="Posts scored per call; yields the loop between chunks."
    )
    rules_path: Path | None = Field(
        default=None, description="Routing rules YAML/JSON; default: bundled rules."
    )
    model_dir: Path | None = Field(
        default=None, description="Model written by `triage train`; default: shipped."
    )

    # --- Web / metrics -------------------------------------------------------------------------------
    web_host: str = Field(default="127.0.0.1", description="Bind address of /metrics and the web API.")
    web_port: int = Field(description="Port of /metrics and the web API.", default=6066, ge=0, le=65535)
    data_dir: Path = Field(default=Path("var"), description="Worker state directory.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Worker log level."
    )

    @cached_property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def bootstrap(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set (and no embedded broker was started)")
        return self.kafka_bootstrap_servers

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Connection settings for plain aiokafka clients (sources, sinks, state restore)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_context"] = ssl.create_default_context(
                cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
            )
        if self.kafka_security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.kafka_sasl_mechanism
            kwargs["sasl_plain_username"] = self.kafka_sasl_username
            kwargs["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        return kwargs
