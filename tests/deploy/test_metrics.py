"""What the dashboards and alert rules query is what the service exports, and a real Prometheus answers it.

A worker (on the embedded broker) and two real source processes run a short scenario: posts through the
webhook source, a duplicate, a broken record, a first response, SLA budgets of a few seconds that run out,
a hashtag surge (detector thresholds shortened: the stock warm-up takes minutes) and a source that cannot
reach its feed. Then: every metric name and label in deploy/prometheus/rules.yml and the dashboards must be
in the scrape, and a Prometheus server (Debian's package, 127.0.0.1, temporary data directory) scraping the
processes must answer the backlog query, evaluate every rule without error, fire the surge alert and answer
every dashboard query with data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from stream.kafka.admin import ensure_topics
from stream.kafka.batch_sink import BatchSink
from stream.kafka.records import OutRecord
from stream.local.broker import EmbeddedBroker, free_port
from stream.local.promtext import scrape
from stream.local.worker_process import WorkerProcess
from stream.settings import Settings
from stream.tickets.ids import ticket_id
from tests.conftest import send, wait_accounted
from tests.deploy.test_files import dashboard_queries
from tests.factory import post

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
TOKEN = "deploy-test-webhook-token"
# Labels Prometheus adds (job, instance) or that histograms carry (le); `up` is Prometheus's own metric.
TARGET_LABELS = {"job", "instance", "le"}
PROMETHEUS_METRICS = {"up"}
TINY_SLA = """
version: "deploy-test"
default_targets:
  1: {first_response_s: 4, resolution_s: 3600}
  2: {first_response_s: 4, resolution_s: 3600}
  3: {first_response_s: 4, resolution_s: 3600}
  4: {first_response_s: 4, resolution_s: 3600}
"""
# Loaded at interpreter start by the worker only (PYTHONPATH): spike buckets of 1 s, a short warm-up, and
# surges that do not end during the test. The code under test (runtime, metrics) is unchanged.
FAST_SPIKES = """
import functools
import stream.ops.spikes as spike

spike.SpikeConfig = functools.partial(
    spike.SpikeConfig, bucket_s=1.0, warmup_buckets=2, min_volume=5, confirm_buckets=1, end_buckets=100000
)
"""
SURGE_THINGS = [
    "router",
    "phone",
    "laptop",
    "tablet",
    "modem",
    "watch",
    "camera",
    "speaker",
    "printer",
    "console",
    "tv",
    "doorbell",
]
COMPLAINTS = [
    "my order {n} never arrived and nobody answers, this is unacceptable",
    "I was double charged on my bill for order {n}, I want a refund now",
    "the app is down again, can't log in to pay invoice {n}",
]


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@dataclass
class Stack:
    settings: Settings
    worker: WorkerProcess
    webhook_metrics: str
    rss_metrics: str
    started: list[Proc]
    tmp: Path

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                argv,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        proc = Proc(name, process, log)
        self.started.append(proc)
        return proc


def source_env(s: Settings, metrics_port: int, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap,
        "TRIAGE_TOPIC_PREFIX": s.topic_prefix,
        "TRIAGE_PARTITIONS": str(s.partitions),
        "TRIAGE_WEB_HOST": "127.0.0.1",
        "TRIAGE_SOURCE_METRICS_PORT": str(metrics_port),
        "TRIAGE_DATA_DIR": str(s.data_dir),
        "TRIAGE_BRAND": "acme",
        **extra,
    }


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            result = await asyncio.to_thread(check)
            if result:
                return result
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def write_events(settings: Settings, records: list[OutRecord]) -> None:
    sink = BatchSink.from_settings(settings, "deploy-test")
    await sink.start()
    try:
        await (await sink.send(settings.topics.ticket_events, records))
    finally:
        await sink.stop()


def event(tid: str, kind: str, eid: str) -> OutRecord:
    doc = {"event_id": eid, "ticket_id": tid, "type": kind, "at": datetime.now(UTC).isoformat()}
    return OutRecord(orjson.dumps(doc), key=tid.encode())


def ndjson(posts: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(p) for p in posts)


@pytest.fixture(scope="module")
async def stack(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("deploy")
    tag = f"d{uuid.uuid4().hex[:8]}"
    s = Settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=tag,
        app_id=f"triage-{tag}",
        partitions=2,
        web_port=free_port(),
        data_dir=tmp / "data",
    )
    await ensure_topics(s.kafka, s.topic_specs())
    (tmp / "sla.yaml").write_text(TINY_SLA)
    (tmp / "site").mkdir()
    (tmp / "site" / "sitecustomize.py").write_text(FAST_SPIKES)
    worker = WorkerProcess(
        s,
        tmp / "worker.log",
        extra_env={"TRIAGE_SLA_PATH": str(tmp / "sla.yaml"), "PYTHONPATH": str(tmp / "site")},
    )
    webhook_metrics, webhook_port, rss_metrics = free_port(), free_port(), free_port()
    st = Stack(
        s,
        worker,
        f"http://127.0.0.1:{webhook_metrics}/metrics",
        f"http://127.0.0.1:{rss_metrics}/metrics",
        [],
        tmp,
    )
    cli = [sys.executable, "-m", "stream", "source"]
    try:
        worker.start()
        st.start(
            "webhook",
            [*cli, "webhook", "--port", str(webhook_port)],
            source_env(s, webhook_metrics, TRIAGE_WEBHOOK_TOKEN=TOKEN),
        )
        # A feed nobody serves: the source keeps reconnecting and reports itself disconnected.
        st.start(
            "rss",
            [*cli, "rss", "--feed", f"http://127.0.0.1:{free_port()}/feed.xml", "--interval", "1"],
            source_env(s, rss_metrics, TRIAGE_DATA_DIR=str(tmp / "rss")),
        )
        await worker.wait_ready()
        await worker.wait_assigned(s.topics.actionable, s.partitions)
        await until(lambda: http(st.webhook_metrics)[0] == 200, 30, "the webhook source")

        ingest = f"http://127.0.0.1:{webhook_port}/ingest"
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
        complaints = [post(i, COMPLAINTS[i % 3].format(n=i)) for i in range(1, 7)]
        praise = [post(7, "love the new app update, thanks team!")]
        surge = [  # distinct texts: copies would be dropped as duplicates before the surge detector
            post(100 + i, f"#acmedown my {thing} stopped working during the outage", hashtags=["acmedown"])
            for i, thing in enumerate(SURGE_THINGS)
        ]
        ready = time.monotonic()
        replies = [  # the customer writes twice more in thread 2: the ticket escalates
            post(8, "still waiting for any answer about my refund", reply_to="2", conversation_id="2"),
            post(9, "third time asking, I want to speak to a manager now", reply_to="2", conversation_id="2"),
        ]
        posts = [*complaints, *praise, complaints[0], *replies]  # complaints[0] twice: a duplicate
        assert http(ingest, ndjson(posts), auth)[0] == 202
        assert http(ingest, ndjson(posts[:1]), {"Content-Type": "application/x-ndjson"})[0] == 401
        assert http(ingest, b'{"no": "post"}', auth)[0] == 400
        await send(s, [b"this is not JSON"])  # a broken record: dead-lettered
        await wait_accounted(worker, len(posts) + 1, timeout=60)

        # One ticket answered and resolved in time, then reopened; the others run out of their 4 s budget.
        answered = ticket_id("x", "acme", "1")
        await write_events(
            s,
            [
                event(answered, "first_response", "e1"),
                event(answered, "resolved", "e2"),
                event(answered, "reopened", "e3"),
            ],
        )

        # The surge, once the detector's (shortened) warm-up is over: a hashtag never seen before.
        await asyncio.sleep(max(0.0, 5.0 - (time.monotonic() - ready)))
        assert http(ingest, ndjson(surge), auth)[0] == 202
        await wait_accounted(worker, len(posts) + 1 + len(surge), timeout=60)

        missing: list[str] = []

        def complete() -> bool:
            m, rss = scrape(worker.metrics_url), scrape(st.rss_metrics)
            missing[:] = [
                what
                for what, ok in (
                    ("SLA breaches", m.value("triage_sla_breaches_total") > 0),
                    ("a resolution", m.value("triage_tickets_resolved_total") > 0),
                    ("a reopen", m.value("triage_tickets_reopened_total") > 0),
                    ("an escalation", m.value("triage_tickets_escalated_total") > 0),
                    ("the surge", m.value("triage_spike_active", key="acmedown") > 0),
                    ("consumer lag", "triage_consumer_lag" in m.names()),
                    ("rss reconnects", rss.value("triage_source_reconnects_total") > 0),
                )
                if not ok
            ]
            return not missing

        with contextlib.suppress(AssertionError):
            await until(complete, 30, "the scenario")
        if missing:
            m = scrape(worker.metrics_url)
            seen = {n: m.samples[n] for n in m.names() if "spike" in n or "posts_out" in n or "dupl" in n}
            raise AssertionError(f"the scenario did not produce: {missing} ({seen}); logs in {tmp}")
        yield st
    finally:
        for proc in reversed(st.started):
            proc.stop()
        worker.stop()


# --- what the rules and dashboards use ------------------------------------------------------------------
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "rate", "increase", "delta", "deriv", "histogram_quantile", "time", "vector",
    "offset", "bool",
}  # fmt: skip


def used(expr: str) -> list[tuple[str, set[str], set[str]]]:
    """(metric, labels in its matchers, labels grouped on in the expression) for each metric of ``expr``."""
    grouped = {g.strip() for groups in GROUPING.findall(expr) for g in groups.split(",") if g.strip()}
    bare = GROUPING.sub(" ", re.sub(r"\[[^\]]*\]", " ", expr))
    bare = re.sub(r'"[^"]*"', '""', bare)
    out = []
    for name, matchers in SELECTOR.findall(bare):
        if name in PROMQL_WORDS or not (name.startswith("triage_") or name in PROMETHEUS_METRICS):
            continue
        out.append((name, set(MATCHER.findall(matchers or "")), grouped))
    return out


def rule_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def exported(stack: Stack) -> dict[str, set[str]]:
    """Metric sample name -> the label names it carries, over the worker and both sources."""
    names: dict[str, set[str]] = {}
    for url in (stack.worker.metrics_url, stack.webhook_metrics, stack.rss_metrics):
        m = scrape(url)
        for name in m.names():
            names.setdefault(name, set()).update(m.labels_of(name))
    return names


# Metrics a dashboard shows that this scenario cannot produce in seconds (declared: HELP/TYPE are served).
NOT_DRIVEN = {
    "triage_source_lag_seconds": "set from a post's created_at; the factory's posts carry a fixed past date",
}


def test_every_metric_and_label_the_rules_and_dashboards_use_is_exported(stack: Stack) -> None:
    have = exported(stack)
    declared = set()
    for url in (stack.worker.metrics_url, stack.webhook_metrics, stack.rss_metrics):
        with urllib.request.urlopen(url, timeout=5) as resp:
            declared |= set(re.findall(r"^# TYPE (\S+)", resp.read().decode(), re.M))
    problems = []
    exprs = rule_exprs() + dashboard_queries()
    for expr in exprs:
        metrics = used(expr)
        labels_in_expr: set[str] = set()
        for name, _, _ in metrics:
            labels_in_expr |= have.get(name, set())
        for name, matchers, grouped in metrics:
            if name in PROMETHEUS_METRICS:
                continue
            if name not in have:
                family = re.sub(r"_(total|bucket|count|sum)$", "", name)
                if name in NOT_DRIVEN and family in declared:
                    continue
                problems.append(f"{name}: not in the scrape ({expr.strip()[:60]}...)")
                continue
            for label in matchers - have[name] - TARGET_LABELS:
                problems.append(f"{name}: no label {label!r}")
            for label in grouped - labels_in_expr - TARGET_LABELS:
                problems.append(f"{name}: grouped by {label!r}, which no metric of the expression has")
    assert not problems, "\n".join(problems)
    # the scenario really drove what ops care about (so the check above is not vacuous)
    assert len({n for e in exprs for n, _, _ in used(e)}) >= 30
    assert {"queue", "priority", "agent"} <= have["triage_backlog_tickets"]
    assert {"kind", "key"} <= have["triage_spike_active"]
    assert {"topic", "partition"} <= have["triage_consumer_lag"]
    assert {"source", "reason"} <= have["triage_source_reconnects_total"]


def test_health_endpoints_the_probes_use(stack: Stack) -> None:
    base = stack.worker.metrics_url.removesuffix("/metrics")
    assert http(f"{base}/healthz")[0] == 200
    assert http(f"{base}/readyz")[0] == 200
    assert http(stack.webhook_metrics.replace("/metrics", "/healthz"))[0] == 200
    status, body = http(stack.rss_metrics.replace("/metrics", "/healthz"))
    assert status == 503 and json.loads(body)["connected"] is False  # what the source-down alert sees


# --- a real Prometheus ----------------------------------------------------------------------------------
def query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as resp:
        doc = json.load(resp)
    assert doc["status"] == "success", (promql, doc)
    return list(doc["data"]["result"])


@pytest.fixture(scope="module")
def prometheus(stack: Stack) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: `make tools` installs Debian's prometheus package")
    tmp = stack.tmp / "prometheus"
    (tmp / "data").mkdir(parents=True)
    shutil.copy(RULES, tmp / "rules.yml")

    def host(url: str) -> str:
        return url.split("/")[2]

    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yml")],
        "scrape_configs": [
            {"job_name": "triage-workers", "static_configs": [{"targets": [host(stack.worker.metrics_url)]}]},
            {
                "job_name": "triage-sources",
                "static_configs": [{"targets": [host(stack.webhook_metrics), host(stack.rss_metrics)]}],
            },
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


async def test_prometheus_scrapes_the_pipeline_and_answers_the_dashboards_and_rules(
    stack: Stack, prometheus: tuple[str, subprocess.Popen[bytes]]
) -> None:
    base, proc = prometheus

    def targets_up() -> bool:
        assert proc.poll() is None, "prometheus exited"
        return len(query(base, "up == 1")) == 3

    await asyncio.sleep(0.5)
    await until(targets_up, 30, "prometheus to scrape the worker and both sources")

    # "What is the backlog in my queue right now?" -- through Prometheus's HTTP API, as Grafana asks it.
    worker = await asyncio.to_thread(scrape, stack.worker.metrics_url)
    want = worker.by_label("triage_backlog_tickets", "queue")
    assert want and sum(want.values()) >= 5
    result = await asyncio.to_thread(query, base, "sum by (queue) (triage_backlog_tickets)")
    assert {r["metric"]["queue"]: float(r["value"][1]) for r in result} == want

    # Rates need two samples in their window: wait a few scrapes, then every dashboard query has data.
    await asyncio.sleep(4)
    empty = []
    for promql in dashboard_queries():
        if not await asyncio.to_thread(query, base, promql):
            empty.append(promql)
    may_be_empty = {
        q for q in dashboard_queries() if any(m in q for m in (*NOT_DRIVEN, "triage_misrouted_posts_total"))
    } | {q for q in dashboard_queries() if "time_to_resolution" in q}
    assert not set(empty) - may_be_empty, "\n".join(sorted(set(empty) - may_be_empty))

    # Every rule evaluates without error; the surge alert fires, the source-down alert is pending for rss.
    def rules_evaluated() -> list[dict[str, Any]] | None:
        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=10) as resp:
            groups = json.load(resp)["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        done = all(r.get("lastEvaluation", "").startswith("2") and r["health"] != "unknown" for r in rules)
        return rules if rules and done else None

    rules = await until(rules_evaluated, 15, "every rule to be evaluated")
    assert len(rules) == len(rule_exprs())
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    with urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=10) as resp:
        alerts = json.load(resp)["data"]["alerts"]
    states = {
        (a["labels"]["alertname"], a["labels"].get("key") or a["labels"].get("source")): a["state"]
        for a in alerts
    }
    assert states.get(("TriageSurgeDetected", "acmedown")) == "firing", states
    assert states.get(("TriageSourceDown", "rss")) == "pending", states
    assert ("TriageSourceDown", "webhook") not in states
