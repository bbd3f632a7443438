"""SLA clocks of the open tickets this worker holds: moved by ticket changes, advanced by time, measured.

Wraps the pure tracker (``stream.ops.sla_tracker``) with what only the worker has: its metrics, and the
ticket states to rebuild the clocks from after a rebalance.
"""

from __future__ import annotations

from schemas.sla import SlaPolicy
from schemas.timestamps import utc_from_epoch
from stream.kafka.records import OutRecord
from stream.ops.alerts import sla_alert
from stream.ops.sla_clock import SlaStatus
from stream.ops.sla_tracker import SlaTracker
from stream.tickets.stage import TicketingOutput
from stream.tickets.state import TicketState
from stream.worker.metrics import Metrics

__all__ = ["SlaMonitor"]


class SlaMonitor:
    def __init__(self, policy: SlaPolicy, metrics: Metrics) -> None:
        self.policy = policy
        self.metrics = metrics
        self.tracker = SlaTracker(policy)

    def open_state(self, state: TicketState) -> None:
        """An open ticket's clocks from its timestamps: for a state restored after an assignment."""
        tid = state.ticket_id
        self.tracker.open(tid, state.queue, state.priority, utc_from_epoch(state.created_at))
        if state.first_response_at is not None:
            self.tracker.first_response(tid, utc_from_epoch(state.first_response_at))

    def track(self, out: TicketingOutput) -> None:
        """Move the clocks with the ticket changes; record what stopped (time to first response...)."""
        m, sla = self.metrics, self.tracker
        for c in out.changes:
            t, tid = c.after, c.after.ticket_id
            if c.change in ("created", "new_episode", "updated", "escalated"):
                if c.change == "new_episode":
                    sla.forget(tid)
                sla.open(tid, t.queue, t.priority, utc_from_epoch(t.created_at))  # an upsert moves deadlines
            elif c.change == "reopened":
                if tid not in sla:  # forgotten when it was resolved: its history rebuilt from the state
                    sla.open(tid, t.queue, t.priority, utc_from_epoch(t.created_at))
                    if t.first_response_at is not None:
                        sla.first_response(tid, utc_from_epoch(t.first_response_at))
                    if c.before is not None and c.before.resolved_at is not None:
                        sla.resolved(tid, utc_from_epoch(c.before.resolved_at))
                sla.reopened(tid, utc_from_epoch(t.updated_at))
            elif c.change == "expired":
                sla.forget(tid)  # closed without an answer: no more at-risk or breach alerts
            elif c.change == "reassigned":
                sla.reassigned(tid, t.queue)
            elif c.change == "first_response" and t.first_response_at is not None:
                measured = sla.first_response(tid, utc_from_epoch(t.first_response_at))
                if measured is not None:
                    m.time_to_first_response.labels(t.queue).observe(measured.wall_s)
                    if measured.within_sla:
                        m.first_responses_within_sla.labels(t.queue).inc()
            elif c.change == "resolved" and t.resolved_at is not None:
                measured = sla.resolved(tid, utc_from_epoch(t.resolved_at))
                if measured is not None:
                    m.time_to_resolution.labels(t.queue).observe(measured.wall_s)
                # a resolved ticket's clocks have nothing left to watch: forgotten, so a worker does not
                # hold one per ticket it ever resolved (a reopen rebuilds them from the state, above)
                sla.forget(tid)

    def advance(self, now: float) -> list[OutRecord]:
        """Targets that became at risk or breached by ``now``: counted, and returned as alert records."""
        alerts = []
        for tr in self.tracker.advance(utc_from_epoch(now)):
            counter = (
                self.metrics.sla_at_risk if tr.status == SlaStatus.AT_RISK else self.metrics.sla_breaches
            )
            counter.labels(tr.queue, tr.target.value).inc()
            alerts.append(sla_alert(tr))
        return alerts
