"""Data every worker follows in full, whatever partitions it holds: CRM customer profiles and the routing
rules in force. Each comes from a compacted topic read from its start by a :class:`TopicFollower`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from schemas.rules import RoutingRules
from stream.kafka.connection import KafkaConnection
from stream.kafka.follower import TopicFollower
from stream.tickets.customers import CustomerDirectory
from stream.tickets.routing import Router
from stream.worker.metrics import Metrics

__all__ = ["SharedData"]

log = logging.getLogger(__name__)


class SharedData:
    def __init__(
        self,
        connection: KafkaConnection,
        *,
        customers_topic: str,
        rules_topic: str,
        customers: CustomerDirectory,
        apply_rules: Callable[[Router], None],
        rules_source: str,
        metrics: Metrics,
        dead_letter: Callable[[Any, str], None] | None = None,
        rules_limits: dict[str, int] | None = None,
    ) -> None:
        """``dead_letter(record, reason)``: where a refused record goes (the worker writes it to the
        dead-letter topic), so a bad profile or rules document is seen, not only counted."""
        self.customers = customers
        self.apply_rules = apply_rules  # hands a new router to the route stage
        self.rules_source = rules_source
        self.rules_topic = rules_topic
        self.metrics = metrics
        self.dead_letter = dead_letter or (lambda record, reason: None)
        self.rules_limits = rules_limits  # lowered limits of a rules document (TRIAGE_RULES_MAX_*)
        self.followers = [
            TopicFollower(connection, customers_topic, self.on_customer),
            TopicFollower(connection, rules_topic, self.on_rules),
        ]

    async def start(self) -> None:
        for follower in self.followers:
            await follower.start()

    async def stop(self) -> None:
        for follower in self.followers:
            await follower.stop()

    def on_customer(self, record: Any) -> None:
        refused = self.customers.on_record(record.key, record.value)
        if refused is not None:
            self.dead_letter(record, refused)
        self.metrics.customers_known.set(len(self.customers))

    def on_rules(self, record: Any) -> None:
        """A rules document from the rules topic replaces the rules in force; a bad one is refused and the
        rules in force stay (the ops API validates before writing; this guards against other writers)."""
        if record.value is None:
            return
        try:
            rules = RoutingRules.model_validate_json(record.value, context=self.rules_limits)
        except Exception as exc:  # a ValidationError, or anything else bad data can raise
            self.metrics.rules_updates.labels("rejected").inc()
            log.error("routing rules at offset %d refused, previous rules stay: %s", record.offset, exc)
            self.dead_letter(record, f"invalid routing rules: {str(exc)[:500]}")
            return
        self.apply_rules(Router(rules))
        self.rules_source = f"{self.rules_topic}@{record.offset}"
        self.metrics.rules_updates.labels("applied").inc()
        log.info("routing rules version %s applied from %s", rules.version, self.rules_source)
