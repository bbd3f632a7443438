"""Prometheus metrics of the pipeline (``triage_`` prefix). The README's metrics table documents them.

Accounting holds at rest: ``triage_posts_in_total`` equals the sum over outcomes of
``triage_posts_out_total`` (ticket, filtered, duplicate, dead_letter).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["LATENCY_BUCKETS", "Metrics"]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """All metrics of one process, on their own registry so tests and embedders can hold several."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.posts_in = Counter(
            "triage_posts_in", "Posts that entered the pipeline (a broken record counts 1).", registry=r
        )
        self.posts_out = Counter(
            "triage_posts_out",
            "Posts by final outcome: ticket, filtered, duplicate, dead_letter.",
            ["outcome"],
            registry=r,
        )
        self.duplicates = Counter(
            "triage_duplicates",
            "Duplicates dropped, by kind: same_post, repost, near_identical.",
            ["kind"],
            registry=r,
        )
        self.dead_letters = Counter(
            "triage_dead_letters",
            "Records or posts sent to the dead-letter topic, by stage and reason kind.",
            ["stage", "kind"],
            registry=r,
        )
        self.stage_records = Counter(
            "triage_stage_records",
            "Kafka records processed per stage (frames count once).",
            ["stage"],
            registry=r,
        )
        self.stage_posts = Counter("triage_stage_posts", "Posts processed per stage.", ["stage"], registry=r)
        self.stage_seconds = Histogram(
            "triage_stage_seconds",
            "Processing time of one record per stage.",
            ["stage"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.record_age = Histogram(
            "triage_record_age_seconds",
            "Age of a Kafka record when a stage starts on it: lag in seconds.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tickets = Counter(
            "triage_tickets_emitted",
            "Ticket records written to the tickets topic.",
            ["queue", "priority"],
            registry=r,
        )
        self.ingest_to_ticket = Histogram(
            "triage_ingest_to_ticket_seconds",
            "From a source receiving a post to its ticket being written.",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.misrouted = Counter(
            "triage_misrouted_posts",
            "Posts on a partition their dedupe key does not map to (producer ignored "
            "the partitioning contract; cross-worker duplicates may slip through).",
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "triage_assigned_partitions",
            "Partitions of each input topic assigned to this worker.",
            ["topic"],
            registry=r,
        )
        self.dedupe_keys = Gauge(
            "triage_dedupe_keys", "Keys held in the dedupe windows of this worker.", registry=r
        )
        self.dedupe_bytes = Gauge("triage_dedupe_bytes", "Memory held by the dedupe windows.", registry=r)
        self.dedupe_restored = Counter(
            "triage_dedupe_restored_keys",
            "Keys restored from the dedupe changelog after an assignment.",
            registry=r,
        )
