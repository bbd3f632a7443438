"""The ops API's backend on a running worker: :class:`~stream.worker.ops_api.OpsBackend` served from the
:class:`~stream.worker.runtime.PipelineRuntime`'s ticket store, SLA tracker, router and sink.

This is the one place that knows which parts of the runtime the ops API reads and which Kafka records its
changes become (commands topic, rules topic).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from schemas.ops import OpsCommand
from schemas.rules import RoutingRules
from stream.kafka.records import OutRecord
from stream.ops.sla_clock import SlaSnapshot
from stream.tickets.backlog import OpenTicket
from stream.tickets.state import TicketState

if TYPE_CHECKING:
    from stream.worker.runtime import PipelineRuntime

__all__ = ["RuntimeOpsBackend"]


class RuntimeOpsBackend:
    """Implements :class:`~stream.worker.ops_api.OpsBackend` over a :class:`PipelineRuntime`."""

    def __init__(self, runtime: PipelineRuntime) -> None:
        self._rt = runtime

    def held_partitions(self) -> list[int]:
        actionable = self._rt.settings.topics.actionable
        return sorted(p for t, p in self._rt.assigned_tps() if t == actionable)

    def open_tickets(self) -> Iterable[tuple[str, OpenTicket]]:
        return self._rt.ticketing.open.items()

    def ticket_states(self) -> Iterable[TicketState]:
        return self._rt.ticketing.states()

    def load_ticket(self, ticket_id: str) -> TicketState | None:
        return self._rt.ticketing.load(ticket_id)

    def sla_snapshot(self, ticket_id: str, now: datetime) -> SlaSnapshot | None:
        return self._rt.sla.tracker.snapshot(ticket_id, now)

    def routing_rules(self) -> RoutingRules:
        return self._rt.router.rules

    def rules_source(self) -> str:
        return self._rt.rules_source

    async def submit_command(self, command: OpsCommand) -> None:
        value = command.model_dump_json().encode()
        if command.ticket_id is not None:  # one ticket: keyed, so it lands on the ticket's partition
            records = [OutRecord(value, key=command.ticket_id.encode())]
        else:  # a retask: every partition, so each worker applies it to the tickets it holds
            records = [OutRecord(value, key=None, partition=p) for p in range(self._rt.settings.partitions)]
        await (await self._rt.sink.send(self._rt.settings.topics.commands, records))

    async def publish_rules(self, rules: RoutingRules) -> None:
        record = OutRecord(rules.model_dump_json().encode(), key=b"rules", partition=0)
        await (await self._rt.sink.send(self._rt.settings.topics.rules, [record]))
