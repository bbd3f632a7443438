"""One settings model for every process, read from the environment (``TRIAGE_*``, plus Kafka's usual names).

Secrets are ``SecretStr`` so they never print in reprs or logs; they come only from the environment.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.rules import MAX_RULES, MAX_RULES_BYTES
from stream.kafka.connection import KafkaConnection, SaslMechanism, SecurityProtocol
from stream.kafka.records import TopicSpec

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
        self.ticket_events = f"{prefix}.ticket-events"  # CRMs write lifecycle events here, keyed by ticket id
        self.commands = f"{prefix}.commands"  # the ops API writes reassign/retask here
        self.customers = f"{prefix}.customers"  # CRM profiles keyed by platform:handle (compacted)
        self.rules = f"{prefix}.rules"  # routing rules changed live (one partition, latest wins)
        self.alerts = f"{prefix}.alerts"  # SLA at-risk/breached and spike alerts

    def all(self) -> list[str]:
        return [
            self.raw,
            self.actionable,
            self.tickets,
            self.audit,
            self.deadletter,
            self.dedupe_changelog,
            self.ticket_events,
            self.commands,
            self.customers,
            self.rules,
            self.alerts,
        ]


class Settings(BaseSettings):
    """Every knob of the service. Field docs are the reference for the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", populate_by_name=True)

    # --- Kafka ---------------------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "TRIAGE_KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]. Unset: `triage run` starts the embedded broker.",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
        default="PLAINTEXT",
        validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL", "TRIAGE_KAFKA_SECURITY_PROTOCOL"),
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
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
    fetch_max_wait_ms: int = Field(
        default=100, ge=1, le=10_000, description="Longest a worker's fetch waits for data (Faust's is 1500)."
    )
    stall_after_s: float = Field(
        default=20.0,
        gt=0,
        description="Input waiting this long with nothing committed: /healthz answers 503, and waiting "
        "records that never reached the agent are read with a separate reader.",
    )
    session_timeout_s: float = Field(
        default=10.0, gt=0, description="Consumer session and rebalance timeout."
    )

    # --- Pipeline ------------------------------------------------------------------------------------
    dedupe_window_s: int = Field(default=3600, ge=60, description="How long a post id or text is remembered.")
    dedupe_bucket_s: int = Field(default=60, ge=1, description="Granularity of dedupe-window expiry.")
    near_dup_min_tokens: int = Field(
        default=8, ge=1, description="Texts with at least this many tokens are deduplicated by content too."
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
    forward_linger_s: float = Field(
        default=0.2,
        ge=0,
        description="Longest a worker holds actionable posts to merge them with other records' into one "
        "record per partition (the route stage pays per record); 0 sends each raw record's frames at once. "
        "0.2 s rather than 0.1 s halves the route stage's records; measured, it lowered p99 latency at "
        "5,000 posts/s (0.83 -> 0.66-0.69 s) and let 2 workers keep pace with 9,000/s "
        "(benchmarks/RESULTS.md).",
    )
    forward_max_bytes: int = Field(
        default=128 * 1024,
        ge=1024,
        description="A merged actionable record goes out once it reaches this size (at most half of "
        "TRIAGE_MAX_RECORD_BYTES). Bigger records buffer more in a worker that is draining a backlog "
        "(512 KiB: 1 GB RSS and a slower drain, measured).",
    )
    group_instance_id: str | None = Field(
        default=None,
        max_length=249,
        description="Kafka static membership (group.instance.id): a stable name per worker, such as the "
        "pod name of a StatefulSet. A worker that restarts within TRIAGE_SESSION_TIMEOUT_S gets its own "
        "partitions back without a rebalance, so it reuses its local state. Unset: dynamic membership.",
    )
    state_cache_mb: int = Field(
        default=64,
        ge=8,
        le=65536,
        description="RocksDB block cache shared by a worker's ticket-state stores (on disk under "
        "TRIAGE_DATA_DIR/state): what the stores may hold in memory, whatever the number of tickets.",
    )
    sink_linger_s: float = Field(
        default=0.01,
        ge=0,
        le=1.0,
        description="How long the writer lets records gather before each flush to Kafka: fewer, bigger "
        "produce requests under load (quick runs at 9,000 posts/s, 2 workers: 6,982/s out with none, "
        "7,711-7,792/s with 10 ms; broker 0.21 -> 0.16-0.17 cores) for a few milliseconds per write.",
    )
    gc_young_threshold: int = Field(
        default=50_000,
        ge=0,
        description="Allocations between young-generation garbage collections in a worker (Python's "
        "default is 700, which spends a third of a loaded worker's time in the collector); 0 keeps "
        "Python's default.",
    )
    score_chunk: int = Field(
        default=500, ge=1, description="Posts scored per call; yields the loop between chunks."
    )
    reopen_window_s: int = Field(
        default=7 * 86400,
        ge=0,
        description="A resolved ticket reopens if the customer posts again within this.",
    )
    ticket_expire_after_s: int = Field(
        default=14 * 86400,
        ge=3600,
        description="An open ticket with no activity (post, CRM event, command) for this long closes as "
        "expired: a ticket record with status expired. Closed states (resolved, expired) are forgotten "
        "TRIAGE_REOPEN_WINDOW_S after they closed.",
    )
    escalate_after_contacts: int = Field(
        default=3, ge=2, description="Posts in one ticket after which it goes to the escalation queue."
    )
    escalation_queue: str = Field(default="tier2-escalations", description="Tier-2 queue for escalations.")
    public_reply_first_response: bool = Field(
        default=True,
        description="A reply by one of the brand's accounts (TRIAGE_BRAND_HANDLES) in a ticket's thread is "
        "that ticket's first response: it stops the first-response SLA clock, as a CRM first_response event "
        "would. False: only the CRM's events count.",
    )
    ops_token: SecretStr | None = Field(
        default=None, description="Bearer token of the ops API (/api/...); unset: the API answers 503."
    )
    ops_max_listings: int = Field(
        default=8,
        ge=1,
        le=1000,
        description="Open-ticket listings (GET /api/tickets) in progress at once on a worker; more get 429.",
    )
    ops_max_scans: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Heavy ops requests in progress at once on a worker: listings of closed tickets (a scan "
        "of the state store) and rules documents being validated; more get 429.",
    )
    rules_max_count: int = Field(
        default=MAX_RULES,
        ge=1,
        le=MAX_RULES,
        description="Most rules a routing-rules document may hold (PUT /api/rules); at most the schema's "
        f"{MAX_RULES}, which every worker enforces on whatever it reads.",
    )
    rules_max_bytes: int = Field(
        default=MAX_RULES_BYTES,
        ge=1024,
        le=MAX_RULES_BYTES,
        description="Largest routing-rules document (PUT /api/rules, as sent and as the workers read it), "
        f"in bytes; at most the schema's {MAX_RULES_BYTES}, which every worker enforces.",
    )
    sla_path: Path | None = Field(
        default=None, description="SLA policy YAML/JSON (service centres, hours, targets); default: bundled."
    )
    rules_path: Path | None = Field(
        default=None, description="Routing rules YAML/JSON; default: bundled rules."
    )
    model_dir: Path | None = Field(
        default=None, description="Model written by `triage train`; default: shipped."
    )

    # --- Web / metrics -------------------------------------------------------------------------------
    web_host: str = Field(
        default="127.0.0.1", description="Bind address of /metrics and the web API (a source's /metrics too)."
    )
    web_port: int = Field(description="Port of /metrics and the web API.", default=6066, ge=0, le=65535)
    # Limits of every HTTP server (the worker's port, a push source's port, a source's metrics port).
    http_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A request head (request line and headers) must arrive whole within this many seconds "
        "of the connection opening, or of its first byte on a kept-alive connection; else the connection "
        "is closed (slow clients).",
    )
    http_idle_timeout_s: float = Field(
        default=30.0, gt=0, description="A kept-alive connection with no request for this long is closed."
    )
    http_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A request body must arrive whole within this many seconds once its reading starts, "
        "else 408. Also the longest a request with a body waits for its turn to be read (see "
        "TRIAGE_WEBHOOK_MAX_CONCURRENCY), else 503 with Retry-After.",
    )
    http_max_connections: int = Field(
        default=256,
        ge=1,
        description="Open connections per HTTP server of a process; one more is answered 503 and closed "
        "at once.",
    )
    http_token_rate: float = Field(
        default=100.0,
        ge=0,
        description="Requests per second per bearer token (webhook ingest, ops API); more get 429 with "
        "Retry-After. 0: no limit.",
    )
    http_ip_rate: float = Field(
        default=50.0,
        ge=0,
        description="Requests per second per client address for requests without a valid bearer token "
        "(Meta deliveries, /metrics, probes, wrong tokens); more get 429 with Retry-After. Behind a proxy "
        "every client shares the proxy's address. 0: no limit.",
    )
    http_rate_burst_s: float = Field(
        default=2.0, gt=0, description="A token or address may burst this many seconds' worth of its rate."
    )
    data_dir: Path = Field(default=Path("var"), description="Worker state directory.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Worker log level."
    )
    log_repeat_window_s: float = Field(
        default=30.0,
        ge=0,
        description="The same log line (logger, level, message) is written once per this many seconds, then "
        "with a count of the repeats held back: a Kafka client whose broker is down repeats itself about "
        "150 times a second. 0: write every line.",
    )

    # --- Sources (stream/sources) --------------------------------------------------------------------
    # Lists are JSON in the environment, e.g. TRIAGE_BRAND_KEYWORDS='["acme", "acme air"]'.
    source_metrics_port: int = Field(
        default=6067, ge=0, le=65535, description="Port of a source's /metrics and /healthz."
    )
    source_listen_host: str = Field(
        default="127.0.0.1", description="Bind address of push sources (webhook ingest, Meta webhooks)."
    )
    source_listen_port: int = Field(default=8088, ge=0, le=65535, description="Port of push sources.")
    source_commit_every: int = Field(
        default=1000, ge=1, description="Posts a source may have waiting on Kafka before it flushes."
    )
    source_commit_interval_s: float = Field(
        default=1.0, gt=0, description="Longest time between flush + checkpoint while posts arrive."
    )
    source_stall_timeout_s: float = Field(
        default=30.0, gt=0, description="Reconnect a stream silent this long (no keep-alive)."
    )
    brand: str | None = Field(default=None, description="Brand name stamped on posts from sources.")
    brand_handles: list[str] = Field(
        default_factory=list,
        description="The brand's own accounts, handles without @ as the platform shows them (e.g. "
        "AcmeHelp, acme.bsky.social, AcmeHelp@mastodon.social). Sources keep the posts that mention them "
        "(Bluesky, Mastodon, Reddit, RSS); workers open no ticket for a post written by exactly one of these "
        "accounts.",
    )

    @field_validator("brand_handles")
    @classmethod
    def _bare_handles(cls, handles: list[str]) -> list[str]:
        """Handles as the platforms show them: no @, no padding, no empty entries (an empty one would make a
        source think it filters by handle, and make an author without a handle the brand)."""
        return [h.strip().lstrip("@") for h in handles if h.strip().lstrip("@")]

    brand_keywords: list[str] = Field(
        default_factory=list, description="Words or phrases that make a post about the brand (any case)."
    )
    x_api_url: str = Field(default="https://api.x.com", description="X API base URL.")
    x_bearer_token: SecretStr | None = Field(default=None, description="X API v2 app bearer token.")
    x_rules: list[str] = Field(
        default_factory=list,
        description="Filtered-stream rules to keep in place (others are deleted); empty: leave rules as is.",
    )
    x_backfill_minutes: int = Field(
        default=0, ge=0, le=5, description="Minutes X re-sends after a reconnect (if allowed)."
    )
    bluesky_jetstream_url: str = Field(
        default="wss://jetstream2.us-east.bsky.network/subscribe", description="Jetstream WebSocket URL."
    )
    bluesky_dids: list[str] = Field(
        default_factory=list, description="The brand's DIDs: posts mentioning them are kept."
    )
    bluesky_rewind_s: float = Field(
        default=5.0, ge=0, description="On resume, replay from this long before the cursor (gapless)."
    )
    mastodon_url: str | None = Field(default=None, description="Mastodon server base URL, https://host.")
    mastodon_access_token: SecretStr | None = Field(default=None, description="Mastodon access token.")
    mastodon_stream: Literal["public", "public:local", "hashtag", "list"] = Field(
        default="public", description="Which streaming timeline to follow."
    )
    mastodon_tag: str | None = Field(default=None, description="Hashtag (without #) for the hashtag stream.")
    mastodon_list_id: str | None = Field(default=None, description="List id for the list stream.")
    meta_app_secret: SecretStr | None = Field(
        default=None, description="Facebook app secret: verifies X-Hub-Signature-256 of deliveries."
    )
    meta_verify_token: SecretStr | None = Field(
        default=None, description="Token Meta echoes in the subscription handshake (hub.verify_token)."
    )
    meta_path: str = Field(default="/meta/webhook", description="Path of the Meta webhook endpoint.")
    reddit_api_url: str = Field(default="https://oauth.reddit.com", description="Reddit OAuth API base URL.")
    reddit_auth_url: str = Field(
        default="https://www.reddit.com/api/v1/access_token", description="Reddit token endpoint."
    )
    reddit_client_id: str | None = Field(default=None, description="Reddit app client id.")
    reddit_client_secret: SecretStr | None = Field(default=None, description="Reddit app client secret.")
    reddit_user_agent: str = Field(
        default="social-triage/0.1", description="User-Agent Reddit requires (app:version by u/you)."
    )
    reddit_subreddits: list[str] = Field(default_factory=list, description="Subreddits to poll (no r/).")
    reddit_poll_interval_s: float = Field(default=30.0, gt=0, description="Seconds between Reddit polls.")
    rss_feeds: list[str] = Field(default_factory=list, description="RSS/Atom feed URLs of forums and blogs.")
    rss_review_feeds: list[str] = Field(
        default_factory=list, description="RSS/Atom feed URLs of review sites (platform 'review')."
    )
    rss_poll_interval_s: float = Field(default=300.0, gt=0, description="Seconds between feed polls.")
    rss_seen_ids: int = Field(default=5000, ge=10, description="Entry ids remembered per feed.")
    webhook_token: SecretStr | None = Field(
        default=None, description="Bearer token the webhook ingest endpoint requires."
    )
    webhook_path: str = Field(default="/ingest", description="Path of the webhook ingest endpoint.")
    webhook_max_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Larger webhook bodies get 413."
    )
    webhook_max_concurrency: int = Field(
        default=16, ge=1, description="Push requests handled at once; more wait (bounds memory)."
    )

    @cached_property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def bootstrap(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set (and no embedded broker was started)")
        return self.kafka_bootstrap_servers

    @property
    def kafka(self) -> KafkaConnection:
        """The connection every Kafka client of this process uses. A missing bootstrap is reported when a
        client starts, not here, so configuration errors of the process itself are named first."""
        return KafkaConnection(
            bootstrap=self.kafka_bootstrap_servers or "",
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_cafile=self.kafka_ssl_cafile,
        )

    @property
    def ticket_changelog_topic(self) -> str:
        """The ticket states' changelog (compacted). Named as Faust named its table's changelog, so a
        deployment keeps its state across the move to the worker's own store."""
        return f"{self.app_id}-tickets-changelog"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state" / "tickets"

    def topic_specs(self) -> list[TopicSpec]:
        """Every pipeline topic with its partitions and configs, created up front (see ``ensure_topics``)."""
        topics = self.topics
        specs = []
        for name in topics.all():
            configs: dict[str, str] = {}
            partitions = self.partitions
            if name in (topics.customers, topics.rules):
                configs["cleanup.policy"] = "compact"  # latest profile per customer; latest rules document
            if name == topics.rules:
                partitions = 1  # one order of rule changes for every worker
            if name == topics.dedupe_changelog:
                configs["retention.ms"] = str(max(self.dedupe_window_s * 2, 3600) * 1000)
            specs.append(TopicSpec(name, partitions, self.replication_factor, configs))
        changelog = {"cleanup.policy": "compact"}  # the latest state per ticket; tombstones forget
        specs.append(
            TopicSpec(self.ticket_changelog_topic, self.partitions, self.replication_factor, changelog)
        )
        return specs
