"""Writes the Grafana dashboards in deploy/grafana/dashboards/.

Run `python deploy/grafana/build_dashboards.py` after changing it.

The JSON files are committed; tests/deploy/test_files.py checks they match this script's output and their
structure, and tests/deploy/test_metrics.py runs every query against a real Prometheus scraping a worker.
Queries may use $queue (a multi-value variable, regex-matched), $__rate_interval and $__range.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "triage-prometheus"}  # provisioning/datasources/prometheus.yml
Q = 'queue=~"$queue"'
RI = "$__rate_interval"

Target = tuple[str, str]  # (PromQL, legend)


class Board:
    def __init__(self, uid: str, title: str, description: str, queue_variable: bool) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.queue_variable = queue_variable
        self.panels: list[dict[str, Any]] = []
        self.y = 0
        self.x = 0
        self.row_h = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "id": len(self.panels) + 1,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x, self.row_h = 0, 0

    def panel(
        self,
        kind: str,
        title: str,
        targets: list[Target],
        *,
        unit: str = "short",
        w: int = 12,
        h: int = 8,
        description: str = "",
        thresholds: list[tuple[float | None, str]] | None = None,
        instant: bool = False,
        decimals: int | None = None,
    ) -> None:
        if self.x + w > 24:
            self._newline()
        defaults: dict[str, Any] = {"unit": unit}
        if decimals is not None:
            defaults["decimals"] = decimals
        steps = thresholds or [(None, "green")]
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in steps],
        }
        if kind == "timeseries":
            defaults["custom"] = {"drawStyle": "line", "fillOpacity": 10, "showPoints": "never"}
        options: dict[str, Any] = {}
        if kind == "timeseries":
            options = {
                "legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]},
                "tooltip": {"mode": "multi", "sort": "desc"},
            }
        elif kind == "stat":
            options = {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "background",
                "graphMode": "area",
                "textMode": "auto",
            }
        elif kind == "table":
            options = {"showHeader": True}
        panel: dict[str, Any] = {
            "type": kind,
            "title": title,
            "description": description,
            "id": len(self.panels) + 1,
            "datasource": DATASOURCE,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options,
            "targets": [
                {
                    "datasource": DATASOURCE,
                    "refId": chr(ord("A") + i),
                    "expr": expr,
                    "legendFormat": legend,
                    "range": not (instant or kind == "table"),
                    "instant": instant or kind == "table",
                    **({"format": "table"} if kind == "table" else {}),
                }
                for i, (expr, legend) in enumerate(targets)
            ],
        }
        if kind == "table":
            panel["transformations"] = [{"id": "organize", "options": {"excludeByName": {"Time": True}}}]
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def render(self) -> dict[str, Any]:
        variables: list[dict[str, Any]] = []
        if self.queue_variable:
            variables.append(
                {
                    "type": "query",
                    "name": "queue",
                    "label": "Queue",
                    "datasource": DATASOURCE,
                    "query": {"query": "label_values(triage_backlog_tickets, queue)", "refId": "queue"},
                    "definition": "label_values(triage_backlog_tickets, queue)",
                    "refresh": 2,
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                    "sort": 1,
                }
            )
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["social-triage"],
            "timezone": "browser",
            "editable": False,
            "graphTooltip": 1,
            "refresh": "30s",
            "schemaVersion": 39,
            "version": 1,
            "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": variables},
            "annotations": {"list": []},
            "links": [{"type": "dashboards", "tags": ["social-triage"], "asDropdown": True}],
            "panels": self.panels,
        }


def operations() -> Board:
    b = Board(
        "social-triage-operations",
        "social-triage / Operations",
        "Queues, backlog, SLA and surges: what care leads and supervisors watch.",
        queue_variable=True,
    )
    b.row("Now")
    b.panel("stat", "Open tickets", [(f"sum(triage_backlog_tickets{{{Q}}})", "open")], w=6, h=4)
    b.panel(
        "stat",
        "Oldest open ticket",
        [(f"max(triage_oldest_open_ticket_seconds{{{Q}}})", "oldest")],
        unit="s",
        w=6,
        h=4,
        thresholds=[(None, "green"), (3600, "orange"), (4 * 3600, "red")],
    )
    b.panel(
        "stat",
        "First responses within SLA (time range)",
        [
            (
                f"sum(increase(triage_first_responses_within_sla_total{{{Q}}}[$__range]))"
                f" / sum(increase(triage_tickets_first_responded_total{{{Q}}}[$__range]))",
                "compliance",
            )
        ],
        unit="percentunit",
        w=6,
        h=4,
        decimals=1,
        thresholds=[(None, "red"), (0.9, "orange"), (0.95, "green")],
    )
    b.panel(
        "stat",
        "Active surges",
        [("count(max by (kind, key) (triage_spike_active) > 0) or vector(0)", "surges")],
        w=6,
        h=4,
        thresholds=[(None, "green"), (1, "red")],
    )
    b.row("Backlog")
    b.panel(
        "timeseries",
        "Backlog per queue",
        [(f"sum by (queue) (triage_backlog_tickets{{{Q}}})", "{{queue}}")],
        description="Open tickets per queue: what is the backlog in my queue right now?",
    )
    b.panel(
        "timeseries",
        "Backlog per priority",
        [(f"sum by (priority) (triage_backlog_tickets{{{Q}}})", "P{{priority}}")],
    )
    b.panel(
        "timeseries",
        "Oldest open ticket per queue",
        [(f"max by (queue) (triage_oldest_open_ticket_seconds{{{Q}}})", "{{queue}}")],
        unit="s",
    )
    b.panel(
        "table",
        "Open tickets per queue and agent",
        [(f"sum by (queue, agent) (triage_backlog_tickets{{{Q}}})", "")],
        description="Agent empty: not assigned yet.",
    )
    b.row("SLA")
    b.panel(
        "timeseries",
        "First-response SLA compliance per queue (1 h)",
        [
            (
                f"sum by (queue) (increase(triage_first_responses_within_sla_total{{{Q}}}[1h]))"
                f" / sum by (queue) (increase(triage_tickets_first_responded_total{{{Q}}}[1h]))",
                "{{queue}}",
            )
        ],
        unit="percentunit",
    )
    b.panel(
        "timeseries",
        "Time to first response (1 h)",
        [
            (
                f"histogram_quantile({q}, sum by (le) "
                f"(rate(triage_time_to_first_response_seconds_bucket{{{Q}}}[1h])))",
                f"p{int(q * 100)}",
            )
            for q in (0.5, 0.9, 0.99)
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "SLA breaches and at-risk tickets per hour",
        [
            (
                f"sum by (queue, target) (increase(triage_sla_breaches_total{{{Q}}}[1h]))",
                "breached {{queue}} {{target}}",
            ),
            (
                f"sum by (queue, target) (increase(triage_sla_at_risk_total{{{Q}}}[1h]))",
                "at risk {{queue}} {{target}}",
            ),
        ],
    )
    b.panel(
        "timeseries",
        "Time to resolution (1 h)",
        [
            (
                f"histogram_quantile({q}, sum by (le) "
                f"(rate(triage_time_to_resolution_seconds_bucket{{{Q}}}[1h])))",
                f"p{int(q * 100)}",
            )
            for q in (0.5, 0.9)
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Ticket flow per hour",
        [
            (f"sum(increase(triage_tickets_created_total{{{Q}}}[1h]))", "created"),
            (f"sum(increase(triage_tickets_first_responded_total{{{Q}}}[1h]))", "first responded"),
            (f"sum(increase(triage_tickets_resolved_total{{{Q}}}[1h]))", "resolved"),
            (f"sum(increase(triage_tickets_reopened_total{{{Q}}}[1h]))", "reopened"),
            (f"sum(increase(triage_tickets_escalated_total{{{Q}}}[1h]))", "escalated"),
        ],
        w=24,
    )
    b.row("Surges")
    b.panel(
        "table",
        "Surges going on",
        [("max by (kind, key) (triage_spike_active) > 0", "")],
        description="Brands and hashtags far above their learned baseline (details in triage.alerts).",
    )
    b.panel(
        "timeseries",
        "Surges detected",
        [("sum by (kind) (increase(triage_spike_alerts_total[1h]))", "{{kind}}")],
        description="Surges started in the last hour, by kind (brand or hashtag).",
    )
    return b


def pipeline() -> Board:
    b = Board(
        "social-triage-pipeline",
        "social-triage / Pipeline",
        "Throughput, latency, consumer lag, dead letters, duplicates and source health: what SREs watch.",
        queue_variable=False,
    )
    b.row("Flow")
    b.panel("stat", "Posts in / s", [(f"sum(rate(triage_posts_in_total[{RI}]))", "posts/s")], w=6, h=4)
    b.panel(
        "stat",
        "Ingest to ticket p95",
        [
            (
                f"histogram_quantile(0.95, sum by (le) (rate(triage_ingest_to_ticket_seconds_bucket[{RI}])))",
                "p95",
            )
        ],
        unit="s",
        w=6,
        h=4,
        thresholds=[(None, "green"), (5, "orange"), (30, "red")],
    )
    b.panel(
        "stat",
        "Consumer lag (records)",
        [("sum(triage_consumer_lag)", "lag")],
        w=6,
        h=4,
        thresholds=[(None, "green"), (1000, "orange"), (10000, "red")],
    )
    b.panel(
        "stat",
        "Workers up",
        [('sum(up{job="triage-workers"})', "workers")],
        w=6,
        h=4,
        thresholds=[(None, "red"), (1, "green")],
    )
    b.panel(
        "timeseries",
        "Posts by outcome / s",
        [
            (f"sum(rate(triage_posts_in_total[{RI}]))", "in"),
            (f"sum by (outcome) (rate(triage_posts_out_total[{RI}]))", "{{outcome}}"),
        ],
        description="Every post ends in one outcome: in = sum of the outcomes at rest.",
    )
    b.panel(
        "timeseries",
        "Throughput per stage (posts / s)",
        [(f"sum by (stage) (rate(triage_stage_posts_total[{RI}]))", "{{stage}}")],
    )
    b.panel(
        "timeseries",
        "Tickets written per queue / s",
        [(f"sum by (queue) (rate(triage_tickets_emitted_total[{RI}]))", "{{queue}}")],
    )
    b.panel(
        "timeseries",
        "Ingest to ticket latency",
        [
            (
                f"histogram_quantile({q}, sum by (le) (rate(triage_ingest_to_ticket_seconds_bucket[{RI}])))",
                f"p{int(q * 100)}",
            )
            for q in (0.5, 0.95, 0.99)
        ],
        unit="s",
    )
    b.row("Lag")
    b.panel(
        "timeseries",
        "Consumer lag per topic",
        [("sum by (topic) (triage_consumer_lag)", "{{topic}}")],
        description="Records of the input partitions not yet committed (each worker reports its own).",
    )
    b.panel(
        "timeseries",
        "Record age when a stage starts on it (p95)",
        [
            (
                f"histogram_quantile(0.95, sum by (stage, le) "
                f"(rate(triage_record_age_seconds_bucket[{RI}])))",
                "{{stage}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Processing time per record (p95)",
        [
            (
                f"histogram_quantile(0.95, sum by (stage, le) (rate(triage_stage_seconds_bucket[{RI}])))",
                "{{stage}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Partitions held per worker",
        [("sum by (instance, topic) (triage_assigned_partitions)", "{{instance}} {{topic}}")],
    )
    b.row("Ticket state")
    b.panel(
        "timeseries",
        "Partitions restoring per worker",
        [("sum by (instance) (triage_state_partitions_restoring)", "{{instance}}")],
        description="Partitions whose ticket state is being brought to the changelog's end after an "
        "assignment: their records wait and the worker's /readyz answers 503 until it is 0. A restart with "
        "its local state replays only the changelog's tail; an empty disk replays the whole changelog.",
    )
    b.panel(
        "timeseries",
        "Changelog records replayed and stores reset per hour",
        [
            (
                "sum by (instance) (increase(triage_state_restored_records_total[1h]))",
                "{{instance}} replayed",
            ),
            ("sum by (instance) (increase(triage_state_resets_total[1h]))", "{{instance}} resets"),
        ],
        description="Replayed: ticket-state changelog records read into the local stores (counted when a "
        "partition's restore ends). Resets: local stores discarded (bad files, another format, a changelog "
        "that no longer backs them) and rebuilt from the whole changelog.",
    )
    b.row("Dead letters and duplicates")
    b.panel(
        "timeseries",
        "Dead letters / s",
        [(f"sum by (stage, kind) (rate(triage_dead_letters_total[{RI}]))", "{{stage}} {{kind}}")],
        description="Records and posts written to triage.deadletter, by stage and reason kind.",
    )
    b.panel(
        "timeseries",
        "Duplicates / s",
        [(f"sum by (kind) (rate(triage_duplicates_total[{RI}]))", "{{kind}}")],
    )
    b.panel(
        "timeseries",
        "Dedupe window memory",
        [("sum(triage_dedupe_bytes)", "bytes")],
        unit="bytes",
    )
    b.panel(
        "timeseries",
        "Misrouted posts / s",
        [(f"sum(rate(triage_misrouted_posts_total[{RI}]))", "misrouted")],
        description="Posts written to a raw partition their dedupe key does not map to.",
    )
    b.row("Sources")
    b.panel(
        "table",
        "Source status",
        [
            ("max by (instance, source) (triage_source_connected)", ""),
        ],
        description="1: connected (stream open, last poll fine, or listening).",
    )
    b.panel(
        "timeseries",
        "Seconds since a source last produced a post",
        [("time() - max by (source) (triage_source_last_event_timestamp_seconds)", "{{source}}")],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Posts produced per source / s",
        [
            (f"sum by (source) (rate(triage_source_posts_produced_total[{RI}]))", "{{source}} produced"),
            (f"sum by (source) (rate(triage_source_malformed_total[{RI}]))", "{{source}} malformed"),
        ],
    )
    b.panel(
        "timeseries",
        "Reconnects and rejected requests per hour",
        [
            (
                "sum by (source, reason) (increase(triage_source_reconnects_total[1h]))",
                "{{source}} {{reason}}",
            ),
            (
                "sum by (source, status) (increase(triage_source_requests_rejected_total[1h]))",
                "{{source}} HTTP {{status}}",
            ),
        ],
    )
    b.panel(
        "timeseries",
        "Posts waiting on Kafka",
        [("sum by (source) (triage_source_waiting_posts)", "{{source}}")],
    )
    b.panel(
        "timeseries",
        "Source lag (receive minus creation time)",
        [("max by (source) (triage_source_lag_seconds)", "{{source}}")],
        unit="s",
    )
    return b


def dashboards() -> dict[str, dict[str, Any]]:
    return {f"{b.uid}.json": b.render() for b in (operations(), pipeline())}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, doc in dashboards().items():
        (OUT / name).write_text(render(doc))
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
