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
        self.consumer_lag = Gauge(
            "triage_consumer_lag",
            "Records of an input partition held by this worker, not yet committed.",
            ["topic", "partition"],
            registry=r,
        )
        self.stalled = Gauge(
            "triage_stalled",
            "1 while input waits on a partition this worker holds but nothing is processed.",
            registry=r,
        )
        self.rereads = Counter(
            "triage_partition_rereads",
            "Input records the consumer counted as read without delivering them, read again (self-repair).",
            ["topic"],
            registry=r,
        )
        self.redelivered = Counter(
            "triage_records_redelivered",
            "Input records the consumer delivered again after they were handled (by the self-repair's "
            "reader, or before a rebalance that kept the partition here): skipped, not counted twice.",
            ["topic"],
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
        # --- tickets and operations (the route stage; each worker exports the partitions it holds) ----
        self.backlog = Gauge(
            "triage_backlog_tickets",
            "Open tickets by queue, priority and agent ('' when unassigned).",
            ["queue", "priority", "agent"],
            registry=r,
        )
        self.oldest_open = Gauge(
            "triage_oldest_open_ticket_seconds",
            "Age of the oldest open ticket per queue.",
            ["queue"],
            registry=r,
        )
        self.created = Counter(
            "triage_tickets_created", "Tickets opened (new threads and new episodes).", ["queue"], registry=r
        )
        self.first_responded = Counter(
            "triage_tickets_first_responded", "Tickets given a first response.", ["queue"], registry=r
        )
        self.resolved = Counter("triage_tickets_resolved", "Tickets resolved.", ["queue"], registry=r)
        self.reopened = Counter(
            "triage_tickets_reopened", "Tickets reopened (by the CRM or the customer).", ["queue"], registry=r
        )
        self.escalated = Counter(
            "triage_tickets_escalated", "Tickets moved to a higher tier.", ["queue"], registry=r
        )
        self.reassigned = Counter(
            "triage_tickets_reassigned", "Tickets moved by the CRM or the ops API.", ["queue"], registry=r
        )
        self.expired = Counter(
            "triage_tickets_expired",
            "Open tickets closed as expired: no activity for TRIAGE_TICKET_EXPIRE_AFTER_S.",
            ["queue"],
            registry=r,
        )
        self.states_evicted = Counter(
            "triage_ticket_states_evicted",
            "Closed ticket states forgotten once their reopen window passed (a changelog tombstone each).",
            registry=r,
        )
        self.time_to_first_response = Histogram(
            "triage_time_to_first_response_seconds",
            "Ticket created to first response (wall clock).",
            ["queue"],
            buckets=(60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400),
            registry=r,
        )
        self.time_to_resolution = Histogram(
            "triage_time_to_resolution_seconds",
            "Ticket created to resolved (wall clock).",
            ["queue"],
            buckets=(300, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 3 * 86400, 7 * 86400),
            registry=r,
        )
        self.first_responses_within_sla = Counter(
            "triage_first_responses_within_sla",
            "First responses given within the SLA (working time).",
            ["queue"],
            registry=r,
        )
        self.sla_at_risk = Counter(
            "triage_sla_at_risk", "Tickets that used 80% of an SLA budget.", ["queue", "target"], registry=r
        )
        self.sla_breaches = Counter(
            "triage_sla_breaches", "Tickets that ran out of an SLA budget.", ["queue", "target"], registry=r
        )
        self.spike_active = Gauge(
            "triage_spike_active",
            "1 while a surge of posts is going on for a brand or hashtag.",
            ["kind", "key"],
            registry=r,
        )
        self.spike_alerts = Counter("triage_spike_alerts", "Surges detected (started).", ["kind"], registry=r)
        self.ticket_events = Counter(
            "triage_ticket_events",
            "Lifecycle events and ops commands by type and result.",
            ["type", "result"],
            registry=r,
        )
        self.rules_updates = Counter(
            "triage_rules_updates",
            "Routing-rule documents from the rules topic: applied or rejected.",
            ["result"],
            registry=r,
        )
        self.customers_known = Gauge(
            "triage_customers_known", "CRM profiles held for enrichment.", registry=r
        )
        self.write_retries = Counter(
            "triage_kafka_write_retries",
            "Writes to Kafka retried (timeouts, lost connections): a sick cluster.",
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
        self.state_restored_records = Counter(
            "triage_state_restored_records",
            "Ticket-state changelog records replayed into the local stores after an assignment.",
            registry=r,
        )
        self.state_resets = Counter(
            "triage_state_resets",
            "Local state stores discarded and rebuilt from the changelog (bad files, another format, a "
            "changelog that no longer backs them).",
            registry=r,
        )
        self.log_restarts = Counter(
            "triage_log_restarts",
            "Input partitions whose log went back to its start under the worker (a broker that came back "
            "empty): the offset guards started over.",
            ["topic"],
            registry=r,
        )
        self.state_partitions_indexing = Gauge(
            "triage_state_partitions_indexing",
            "Partitions whose state is whole but whose open tickets are still joining the backlog and SLA "
            "clocks (backlog figures of those partitions are partial meanwhile).",
            registry=r,
        )
        self.state_partitions_restoring = Gauge(
            "triage_state_partitions_restoring",
            "Partitions of the route stage whose ticket state is being restored (readiness waits for 0).",
            registry=r,
        )
