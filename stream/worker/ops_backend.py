"""The ops API's backend on a running worker: :class:`~stream.worker.ops_api.OpsBackend` served from the
:class:`~stream.worker.runtime.PipelineRuntime`'s ticket store, SLA tracker, router and sink.

This is the one place that knows which parts of the runtime the ops API reads and which Kafka records its
changes become (commands topic, rules topic).

**Closed tickets** (resolved, expired) are not indexed, so listing them scans the ticket store: RocksDB per
partition plus the writes not yet stored. The scan is built so that it never holds the event loop for long
and never races the worker:

- the store is read on the event loop, :data:`SCAN_SLICE` entries at a time, each slice with a fresh
  iterator that is dropped before the loop is yielded. A RocksDB iterator keeps its database open: one
  held across an await (or by a thread) while a rebalance closes and reopens the partition makes the
  reopen fail on the database's lock, and the store would be discarded. A partition closed meanwhile is
  simply not read further;
- the pending writes (newer than the disk) are copied once, on the loop, at the start: they are never read
  while the route stage changes them;
- a state whose bytes cannot hold the wanted status (``"resolved"`` appears nowhere in them) is skipped
  without decoding; the others are decoded in a worker thread (:func:`asyncio.to_thread`), from the
  immutable bytes the slice copied: the thread touches nothing the loop changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, cast

import orjson

from schemas.ops import OpsCommand
from schemas.rules import RoutingRules
from schemas.ticket import TicketStatus
from stream.kafka.records import OutRecord
from stream.ops.sla_clock import SlaSnapshot
from stream.state.changelog_store import ChangelogStore
from stream.tickets.backlog import OpenTicket
from stream.tickets.state import _V2, _V2_FIELDS, TicketState
from stream.worker.ops_api import OpsLimits, TicketRow

if TYPE_CHECKING:
    from stream.state.partition_store import PartitionStore
    from stream.worker.runtime import PipelineRuntime

__all__ = ["SCAN_SLICE", "RuntimeOpsBackend", "decode_rows"]

SCAN_SLICE = 2000  # store entries read on the event loop between two yields (~1 ms)

_META_PREFIX = b"\x00"  # the partition store's own keys (format, changelog offset) start with a NUL byte
# where a version-2 state (TicketState.dumps: [2, field, ...]) keeps the fields a listing shows, from the
# encoding's own field list (a test holds decode_rows equal to TicketState.loads)
_AT = {name: i + 1 for i, name in enumerate(_V2_FIELDS)}
_ID, _QUEUE, _PRIORITY, _AGENT, _STATUS, _CREATED = (
    _AT[f] for f in ("ticket_id", "queue", "priority", "agent", "status", "created_at")
)
_LENGTH = len(_V2_FIELDS) + 1


def decode_rows(values: list[bytes], status: str) -> list[TicketRow]:
    """The rows of the states among ``values`` whose status is ``status``; undecodable ones are skipped. Pure
    (run in a worker thread). A version-2 state is read as one JSON array, without building its posts and
    scores (eight times cheaper than :meth:`TicketState.loads`, which reads any other)."""
    rows = []
    for value in values:
        try:
            doc = orjson.loads(value)
            if type(doc) is list and len(doc) == _LENGTH and doc[0] == _V2:
                if doc[_STATUS] == status:
                    rows.append(
                        TicketRow(doc[_ID], doc[_QUEUE], doc[_PRIORITY], doc[_AGENT], status, doc[_CREATED])
                    )
            else:
                state = TicketState.loads(value)
                if state.status.value == status:
                    rows.append(TicketRow.of(state))
        except (ValueError, TypeError, KeyError):  # not a ticket state: nothing to list
            continue
    return rows


Entries = list[tuple[bytes, bytes]]


def _read_slice(store: PartitionStore, after: bytes | None, marker: bytes) -> tuple[Entries, bytes | None]:
    """Up to :data:`SCAN_SLICE` entries of ``store`` after the key ``after`` whose value holds ``marker``;
    and the last key read, or None at the end. The iterator does not outlive the call."""
    found: Entries = []
    # a store opened in raw mode: keys and values are bytes
    items = cast(
        "Iterator[tuple[bytes, bytes]]",
        store.db.items(from_key=after) if after is not None else store.db.items(),
    )
    last: bytes | None = None
    n = 0
    for key, value in items:
        if key == after or key.startswith(_META_PREFIX):
            continue
        if marker in value:
            found.append((key, value))
        last = key
        n += 1
        if n >= SCAN_SLICE:
            break
    else:
        last = None
    del items
    return found, last


class RuntimeOpsBackend:
    """Implements :class:`~stream.worker.ops_api.OpsBackend` over a :class:`PipelineRuntime`."""

    def __init__(self, runtime: PipelineRuntime) -> None:
        self._rt = runtime

    def limits(self) -> OpsLimits:
        s = self._rt.settings
        return OpsLimits(
            max_listings=s.ops_max_listings,
            max_scans=s.ops_max_scans,
            rules_max_count=s.rules_max_count,
            rules_max_bytes=s.rules_max_bytes,
        )

    def held_partitions(self) -> list[int]:
        actionable = self._rt.settings.topics.actionable
        return sorted(p for t, p in self._rt.assigned_tps() if t == actionable)

    def open_tickets(self) -> Mapping[str, OpenTicket]:
        return self._rt.ticketing.open

    async def closed_tickets(self, status: TicketStatus) -> AsyncIterator[list[TicketRow]]:
        store = self._rt.ticket_store
        assert isinstance(store, ChangelogStore)
        held = self.held_partitions()
        wanted = set(held)
        marker = orjson.dumps(status.value)  # b'"resolved"': in the bytes of every state with that status
        # the writes not on disk yet, copied now: the route stage changes them between our awaits (the store
        # offers no public copy of them; they are only read here, on the loop)
        pending = {k: v for k, (v, _) in list(store._pending.items()) if store.partition_of(k) in wanted}
        for partition in held:
            after: bytes | None = None
            while True:
                part = store.partitions.get(partition)
                if part is None:  # revoked (and closed) meanwhile: no more of it here
                    break
                try:
                    found, after = _read_slice(part, after, marker)
                except RuntimeError:  # closed meanwhile (``db`` of a closed store)
                    break
                values = [v for k, v in found if k not in pending]
                if values:
                    yield await asyncio.to_thread(decode_rows, values, status.value)
                if after is None:
                    break
                await asyncio.sleep(0)
        newer = [v for v in pending.values() if v is not None and marker in v]
        for start in range(0, len(newer), SCAN_SLICE):
            yield await asyncio.to_thread(decode_rows, newer[start : start + SCAN_SLICE], status.value)

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
