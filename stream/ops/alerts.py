"""Alert records for the alerts topic, built from SLA transitions and spike events. Pure: the worker
counts and writes them."""

from __future__ import annotations

from schemas.ops import Alert
from schemas.timestamps import utc_from_epoch
from stream.kafka.records import OutRecord
from stream.ops.sla_clock import SlaStatus, SlaTransition
from stream.ops.spikes import SpikeEvent

__all__ = ["sla_alert", "spike_alert"]


def sla_alert(tr: SlaTransition) -> OutRecord:
    at_risk = tr.status == SlaStatus.AT_RISK
    alert = Alert(
        alert_id=tr.event_id,
        kind="sla_at_risk" if at_risk else "sla_breached",
        ticket_id=tr.ticket_id,
        queue=tr.queue,
        target="first_response" if tr.target.value == "first_response" else "resolution",
        detail=f"P{tr.priority} {tr.target.value} {'at risk' if at_risk else 'breached'}, "
        f"due {tr.due_at.isoformat()}",
        at=tr.at,
    )
    return OutRecord(alert.model_dump_json().encode(), key=tr.ticket_id.encode())


def spike_alert(e: SpikeEvent) -> OutRecord:
    alert = Alert(
        alert_id=f"spike:{e.kind}:{e.key}:{int(e.at)}:{e.state}",
        kind="spike_started" if e.state == "started" else "spike_ended",
        key=e.key,
        detail=f"{e.kind} {e.key}: {e.volume} posts in {e.bucket_s:g}s vs {e.baseline:.1f} usual, "
        f"negative share {e.negative_share:.0%} (usually {e.baseline_negative_share:.0%})",
        at=utc_from_epoch(e.at),
    )
    return OutRecord(alert.model_dump_json().encode(), key=f"{e.kind}:{e.key}".encode())
