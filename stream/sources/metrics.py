"""Prometheus metrics of source adapters (``triage_source_`` prefix, ``source`` label).

They answer the questions users of listening tools ask: is it connected, when did it last hear anything,
how far behind is it, what did it drop as malformed, and how much is waiting on Kafka.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["SourceMetrics"]


class SourceMetrics:
    """All source metrics of one process, on their own registry (tests can hold several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "triage_source_posts_received",
            "Items received from the platform (before filtering and normalisation).",
            ["source"],
            registry=r,
        )
        self.produced = Counter(
            "triage_source_posts_produced",
            "Normalised posts handed to the Kafka producer.",
            ["source"],
            registry=r,
        )
        self.filtered = Counter(
            "triage_source_posts_filtered",
            "Items received but not about the brand, not a post, or already seen.",
            ["source"],
            registry=r,
        )
        self.malformed = Counter(
            "triage_source_malformed",
            "Lines, events or payloads that could not be parsed or normalised.",
            ["source"],
            registry=r,
        )
        self.reconnects = Counter(
            "triage_source_reconnects",
            "Reconnects (or failed polls) by reason: network, http, rate_limit, stall, eof.",
            ["source", "reason"],
            registry=r,
        )
        self.keepalives = Counter(
            "triage_source_keepalives",
            "Keep-alive lines or heartbeat comments received on streaming connections.",
            ["source"],
            registry=r,
        )
        self.signature_failures = Counter(
            "triage_source_signature_failures",
            "Push deliveries rejected for a missing or wrong signature or token.",
            ["source"],
            registry=r,
        )
        self.rejected = Counter(
            "triage_source_requests_rejected",
            "Push requests rejected, by HTTP status.",
            ["source", "status"],
            registry=r,
        )
        self.http_limited = Counter(
            "triage_source_http_limited",
            "Requests and connections refused by an HTTP limit, by reason: rate_limit_token, rate_limit_ip, "
            "connection_limit, header_timeout, idle_timeout, body_too_large, body_timeout, busy.",
            ["source", "reason"],
            registry=r,
        )
        self.connected = Gauge(
            "triage_source_connected",
            "1 while the stream is connected (or the last poll succeeded), else 0.",
            ["source"],
            registry=r,
        )
        self.last_event = Gauge(
            "triage_source_last_event_timestamp_seconds",
            "Unix time the source last produced a post.",
            ["source"],
            registry=r,
        )
        self.last_activity = Gauge(
            "triage_source_last_activity_timestamp_seconds",
            "Unix time the source last heard anything (posts, keep-alives, empty polls).",
            ["source"],
            registry=r,
        )
        self.lag = Gauge(
            "triage_source_lag_seconds",
            "Receive time minus creation time of the last produced post.",
            ["source"],
            registry=r,
        )
        self.waiting = Gauge(
            "triage_source_waiting_posts",
            "Posts handed to the producer and not yet confirmed stored by Kafka.",
            ["source"],
            registry=r,
        )
        self.blocked = Counter(
            "triage_source_backpressure_seconds",
            "Time reading was paused waiting for Kafka (producer backpressure).",
            ["source"],
            registry=r,
        )
        self.backoff = Gauge(
            "triage_source_backoff_seconds",
            "Delay chosen before the next reconnect (0 while connected).",
            ["source"],
            registry=r,
        )
        self.checkpoint = Gauge(
            "triage_source_checkpoint_timestamp_seconds",
            "Unix time the source last stored its resume position.",
            ["source"],
            registry=r,
        )
