"""Deployment files (Dockerfile, compose, Kubernetes, Grafana) parse and refer only to what the project
defines: `triage` sub-commands and flags (parsed by the real CLI parser), settings (the pydantic model),
ports, topics (as stream/kafka/admin.py creates them) and the image the Dockerfile builds."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream.cli import build_parser
from stream.settings import Settings

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
K8S = DEPLOY / "k8s"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = "social-triage"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Variables a container may set that are not the service's settings.
FOREIGN_ENV = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "PIP_NO_CACHE_DIR",
}


def env_names() -> dict[str, str]:
    """Environment variable -> settings field, exactly as pydantic-settings reads them."""
    names = {}
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        for name in getattr(alias, "choices", None) or [f"TRIAGE_{field.upper()}"]:
            names[str(name)] = field
    return names


ENV = env_names()
DEFAULTS = Settings()


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a process with exactly ``env`` would see (validation errors fail the test)."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def parses(argv: list[str]) -> Any:
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`triage {' '.join(argv)}` is not a valid command line")


# --- topics: the init scripts of compose and Kubernetes --------------------------------------------------
CREATE = re.compile(r"^\s*create (\S+) (\S+)((?: \S+)*)\s*$", re.M)


def check_topic_script(script: str, settings: Settings) -> None:
    """`create NAME PARTITIONS [CONFIG=VALUE ...]` lines must create every topic as `triage worker` would,
    the ticket states' changelog (named after TRIAGE_APP_ID) included."""
    script = script.replace("$$", "$")  # compose escapes $ as $$
    assert 'P="${TRIAGE_PARTITIONS}"' in script and '"${TRIAGE_REPLICATION_FACTOR}"' in script
    created = {
        m[1].strip('"').replace("${TRIAGE_APP_ID}", settings.app_id): (
            m[2],
            dict(c.split("=", 1) for c in m[3].split()),
        )
        for m in CREATE.finditer(script)
    }
    assert settings.ticket_changelog_topic in created, "the ticket states' changelog, compacted"
    assert sorted(created) == sorted(spec.name for spec in settings.topic_specs())
    specs = {spec.name: spec for spec in settings.topic_specs()}
    for name, (partitions, configs) in created.items():
        want = specs[name]
        got = settings.partitions if partitions == '"$P"' else int(partitions)
        assert got == want.partitions, name
        assert configs == want.configs, name


# --- Dockerfile ----------------------------------------------------------------------------------------
def stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    assert len(stages()) >= 2
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE
    assert all(s.startswith("${PYTHON_IMAGE}") for s in stages())
    final = stages()[-1]
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    users = re.findall(r"^USER (\S+)", final, re.M)
    assert users and not users[-1].startswith(("0", "root"))
    for tool in ("gcc", "build-essential", "apt-get install", "pip install", "git"):
        assert tool not in final, f"{tool} in the final image"
    assert re.search(r"^ENTRYPOINT \[\"triage\"\]$", final, re.M)
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", final, re.M)[1])  # type: ignore[index]
    assert cmd == ["worker"] and parses(cmd).command == "worker"
    assert "triage" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_dockerfile_installs_no_extras_and_only_settings_env() -> None:
    assert not re.search(r"pip install[^\n]*\[", DOCKERFILE), (
        "no extras (embeddings, test, bench) in the image"
    )
    envs = re.findall(r"^\s*(?:ENV\s+)?([A-Z_]+)=", stages()[-1], re.M)
    assert "TRIAGE_WEB_HOST" in envs
    unknown = [e for e in envs if e not in ENV and e not in FOREIGN_ENV]
    assert not unknown, unknown
    assert re.search(r"^\s*TRIAGE_WEB_HOST=0\.0\.0\.0", DOCKERFILE, re.M)
    ports = {int(p) for p in re.search(r"^EXPOSE (.*)$", DOCKERFILE, re.M)[1].split()}  # type: ignore[index]
    assert ports == {DEFAULTS.web_port, DEFAULTS.source_metrics_port, DEFAULTS.source_listen_port}


def test_dockerfile_healthcheck_asks_healthz_on_the_right_port() -> None:
    line = re.search(r"^HEALTHCHECK .*\n\s+CMD (\[.*\])$", DOCKERFILE, re.M)
    assert line
    argv = json.loads(line[1])
    assert argv[:2] == ["python", "-c"]
    code = argv[2]
    compile(code, "HEALTHCHECK", "exec")
    assert "/healthz" in code and "urllib.request" in code
    for name in re.findall(r"'(TRIAGE_[A-Z_]+)'", code):
        assert name in ENV
    assert f"'TRIAGE_WEB_PORT', '{DEFAULTS.web_port}'" in code
    assert f"'TRIAGE_SOURCE_METRICS_PORT', '{DEFAULTS.source_metrics_port}'" in code


def build_context() -> Iterator[Path]:
    """Files Docker would send: everything not matched by .dockerignore."""
    patterns = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and p[0] != "#"
    ]
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatch(pre, pat.removeprefix("**/"))
            or fnmatch.fnmatch(parts[-1], pat.removeprefix("**/"))
            for pre in prefixes
            for pat in patterns
        ):
            continue
        if path.is_file():
            yield path


def test_the_image_wheel_carries_the_model_rules_and_sla(tmp_path: Path) -> None:
    """Build the wheel the builder stage builds, from the build context .dockerignore leaves."""
    context = tmp_path / "context"
    for path in build_context():
        target = context / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", stages()[0], re.M):
        for name in src.split():
            assert (context / name).exists(), f"COPY {name}: not in the build context"
    assert not (context / ".venv").exists() and not (context / "tests").exists()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            ".",
        ],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("social_triage-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "classifiers/models/default/model.json",
        "classifiers/models/default/model.npz",
        "stream/tickets/default_rules.yaml",
        "stream/ops/default_sla.yaml",
        "stream/data/sample_posts.jsonl.gz",
        "stream/cli.py",
    ):
        assert needed in names, needed


# --- compose -------------------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def triage_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose()["services"].items() if str(s.get("image", "")).startswith(f"{IMAGE}:")}


def resolved(value: Any) -> str:
    """A compose value with ${VAR:?msg} / ${VAR:-default} substituted by a placeholder or the default."""
    text = str(value)
    text = re.sub(r"\$\{([A-Z_]+):\?[^}]*\}", "placeholder-secret", text)
    return re.sub(r"\$\{([A-Z_]+):-([^}]*)\}", r"\2", text)


def test_compose_runs_kafka_in_kraft_mode_and_creates_the_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert not any("zookeeper" in n for n in services)
    init = services["kafka-init"]
    assert init["image"] == kafka["image"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    env = {k: resolved(v) for k, v in init["environment"].items()}
    check_topic_script(init["command"][0], settings_from(env, monkeypatch))


def test_compose_triage_services_use_the_project_image_commands_and_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = triage_services()
    commands = {n: s["command"] for n, s in services.items()}
    assert sum(c == ["worker"] for c in commands.values()) == 2, "two workers"
    assert any(c[:1] == ["source"] and c[1] != "generate" for c in commands.values()), "a source with metrics"
    shared = None
    for name, service in services.items():
        assert service["image"] == f"{IMAGE}:{VERSION}", name
        assert (COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
            ROOT / "Dockerfile"
        )
        parses([str(a) for a in service["command"]])
        env = {k: resolved(v) for k, v in service["environment"].items()}
        unknown = sorted(set(env) - set(ENV))
        assert not unknown, f"{name}: not settings: {unknown}"
        assert env["TRIAGE_WEB_HOST"] == "0.0.0.0", f"{name}: must listen beyond 127.0.0.1 in a container"
        s = settings_from(env, monkeypatch)
        # every process must agree on the Kafka cluster, the topics, the partitions and the group
        mine = (s.kafka_bootstrap_servers, s.topic_prefix, s.partitions, s.app_id)
        assert shared in (None, mine), name
        shared = mine
        published = {int(str(p).rsplit(":", 1)[1]) for p in service.get("ports", [])}
        if service["command"] == ["worker"]:
            assert published <= {s.web_port}, name
            assert s.ops_token is not None, "the ops API needs TRIAGE_OPS_TOKEN"
        elif service["command"][1] in ("webhook", "facebook"):
            assert published <= {s.source_metrics_port, s.source_listen_port}
            assert s.source_listen_host == "0.0.0.0"
        if service["command"][:2] == ["source", "generate"]:
            assert service["healthcheck"] == {"disable": True}, "generate serves no /healthz"


def image_env(name: str) -> str:
    """A variable the final image sets (Dockerfile ENV)."""
    found = re.search(rf"^\s*(?:ENV\s+)?{name}=(\S+)", stages()[-1], re.M)
    assert found, f"the image sets no {name}"
    return found[1]


def test_compose_workers_keep_their_state_on_a_named_volume_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ticket states live under TRIAGE_DATA_DIR: each worker mounts its own named volume there, so a
    container restart (or `up --build`) replays only the changelog's tail."""
    doc = compose()
    declared = set(doc.get("volumes") or {})
    workers = {n: s for n, s in triage_services().items() if s["command"] == ["worker"]}
    sources = set()
    for name, service in workers.items():
        env = {k: resolved(v) for k, v in service["environment"].items()}
        data_dir = env.get("TRIAGE_DATA_DIR", image_env("TRIAGE_DATA_DIR"))
        s = settings_from({**env, "TRIAGE_DATA_DIR": data_dir}, monkeypatch)
        assert s.state_dir.is_relative_to(s.data_dir)
        mounts = {}
        for v in service.get("volumes", []):
            src, dst = str(v).split(":")[:2]
            mounts[dst] = src
        assert str(s.data_dir) in mounts, f"{name}: nothing mounted at TRIAGE_DATA_DIR {s.data_dir}"
        source = mounts[str(s.data_dir)]
        assert not source.startswith((".", "/", "~")), f"{name}: {source} is a bind mount, not a named volume"
        assert source in declared, f"{name}: volume {source} is not declared under volumes:"
        sources.add(source)
    assert len(sources) == len(workers), "one volume per worker: two RocksDB owners of one directory clash"


def test_compose_secrets_come_from_the_env_file_example() -> None:
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = {
        line.split("=", 1)[0]
        for line in (COMPOSE.parent / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required == example
    assert not re.search(r"\$\{[A-Z_]+:-[^}]+\}", text), "no default secrets"
    for name in required - {"GRAFANA_ADMIN_PASSWORD"}:
        assert name in ENV


def test_compose_prometheus_scrapes_every_worker_and_source_and_loads_the_rules() -> None:
    services = compose()["services"]
    prom = services["prometheus"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in prom["volumes"] if v.startswith("."))
    for src in mounts:
        assert (COMPOSE.parent / src).exists(), src
    config = yaml.safe_load((COMPOSE.parent / "prometheus.yml").read_text())
    rule_glob = config["rule_files"][0]
    assert any(fnmatch.fnmatch(dst, rule_glob) for dst in mounts.values())
    jobs = {
        j["job_name"]: {t for c in j["static_configs"] for t in c["targets"]}
        for j in config["scrape_configs"]
    }
    triage = triage_services()
    workers = {f"{n}:{DEFAULTS.web_port}" for n, s in triage.items() if s["command"] == ["worker"]}
    sources = {
        f"{n}:{s['environment'].get('TRIAGE_SOURCE_METRICS_PORT', DEFAULTS.source_metrics_port)}"
        for n, s in triage.items()
        if s["command"][:1] == ["source"] and s["command"][1] != "generate"
    }
    assert jobs["triage-workers"] == workers
    assert jobs["triage-sources"] == sources
    assert all(
        str(s["environment"].get("TRIAGE_WEB_PORT", DEFAULTS.web_port)) == str(DEFAULTS.web_port)
        for s in triage.values()
    )


def test_compose_grafana_is_provisioned_with_the_datasource_and_dashboards() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"] if v.startswith("."))
    assert (COMPOSE.parent / "../grafana/provisioning").resolve() == (DEPLOY / "grafana" / "provisioning")
    assert mounts["../grafana/dashboards"] == "/var/lib/grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DASHBOARDS / Path(home).name).exists()
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/social-triage.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose()["services"]


# --- Kubernetes ----------------------------------------------------------------------------------------
def k8s_objects() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    objects: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        objects.extend(d for d in yaml.safe_load_all((K8S / resource).read_text()) if d)
    return objects


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in k8s_objects() if o["kind"] == kind]


def configmap() -> dict[str, str]:
    (cm,) = by_kind("ConfigMap")
    return {k: str(v) for k, v in cm["data"].items()}


def test_k8s_manifests_have_what_a_platform_team_expects() -> None:
    kinds = {o["kind"] for o in k8s_objects()}
    assert {
        "Namespace",
        "ConfigMap",
        "StatefulSet",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ScaledObject",
        "Job",
    } <= kinds
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["images"] == [{"name": IMAGE, "newTag": VERSION}]
    (generator,) = kustomization["secretGenerator"]
    assert generator["name"] == "social-triage-secrets" and generator["envs"] == ["secrets.env"]
    assert "triage-worker" not in {o["metadata"]["name"] for o in by_kind("Deployment")}, "a StatefulSet now"


def worker_statefulset() -> dict[str, Any]:
    (worker,) = (o for o in by_kind("StatefulSet") if o["metadata"]["name"] == "triage-worker")
    return worker


def worker_container() -> dict[str, Any]:
    (c,) = (
        c for c in worker_statefulset()["spec"]["template"]["spec"]["containers"] if c["args"] == ["worker"]
    )
    return c


def quantity(value: str) -> int:
    """A Kubernetes quantity in bytes (binary suffixes only, as these manifests use)."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    found = re.fullmatch(r"(\d+)([KMGT]i)?", str(value))
    assert found, f"{value}: not a quantity these checks read"
    return int(found[1]) * units.get(found[2] or "", 1)


def test_k8s_worker_is_a_statefulset_with_its_state_on_a_volume_per_pod(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each pod gets its own claim (volumeClaimTemplates) mounted at TRIAGE_DATA_DIR, where the ticket
    states' RocksDB stores live, so a restarted or rescheduled pod replays only the changelog's tail."""
    worker = worker_statefulset()
    spec = worker["spec"]
    assert spec["podManagementPolicy"] == "Parallel", "any pod can take any partition"
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain", "KEDA scales down often"
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert quantity(claim["spec"]["resources"]["requests"]["storage"]) >= 2**30
    c = worker_container()
    env = dict(configmap()) | {e["name"]: str(e["value"]) for e in c["env"] if "value" in e}
    s = settings_from(env | {"TRIAGE_OPS_TOKEN": "placeholder-secret"}, monkeypatch)
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts.get(str(s.data_dir)) == claim["metadata"]["name"], "TRIAGE_DATA_DIR is the pod's claim"
    assert s.state_dir.is_relative_to(s.data_dir)
    pod_volumes = {v["name"] for v in spec["template"]["spec"].get("volumes", [])}
    assert claim["metadata"]["name"] not in pod_volumes, (
        "a pod volume of the same name would shadow the claim"
    )
    assert str(s.data_dir) == image_env("TRIAGE_DATA_DIR"), "the image's data dir, owned by its user"
    security = spec["template"]["spec"]["securityContext"]
    assert security["fsGroup"] == security["runAsGroup"], "the claim must be writable by the worker"
    # memory: states are on disk; the limit holds the block cache plus the process and the dedupe window
    assert "TRIAGE_STATE_CACHE_MB" in configmap()
    limit = quantity(c["resources"]["limits"]["memory"])
    assert limit - s.state_cache_mb * 2**20 >= 512 * 2**20, "the block cache leaves too little memory"
    # the headless Service a StatefulSet needs for its pods' identities
    (governing,) = (svc for svc in by_kind("Service") if svc["metadata"]["name"] == spec["serviceName"])
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()


def test_k8s_worker_probes_restart_on_a_stall_never_on_a_restore() -> None:
    """/healthz answers during a state restore, so startup and liveness ask it; readiness asks /readyz,
    which waits for every held partition's state."""
    c = worker_container()
    for probe in ("startupProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {p["name"] for p in c["ports"]} == {"http"}
    text = (K8S / "worker.yaml").read_text()
    assert "Readiness, not liveness, waits for the state restore" in text


def test_deploy_files_name_only_settings_that_exist() -> None:
    """Comments included: a setting that was removed (TRIAGE_TABLE_STANDBY_REPLICAS) is named nowhere."""
    for path in sorted(DEPLOY.rglob("*")):
        if not path.is_file() or path.suffix not in {".yml", ".yaml", ".env", ".example", ".py"}:
            continue
        for name in set(re.findall(r"\b(TRIAGE_[A-Z0-9_]*[A-Z0-9])\b", path.read_text())):
            assert name in ENV, f"{path.relative_to(ROOT)}: {name} is not a setting"


def containers() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for o in by_kind("StatefulSet") + by_kind("Deployment") + by_kind("Job"):
        for c in o["spec"]["template"]["spec"]["containers"]:
            yield o, c


def test_k8s_containers_use_the_image_commands_settings_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    cm = configmap()
    assert not set(cm) - set(ENV), set(cm) - set(ENV)
    secret_keys = {
        line.split("=", 1)[0]
        for line in (K8S / "secrets.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert secret_keys <= set(ENV)
    assert not {"TRIAGE_OPS_TOKEN", "TRIAGE_WEBHOOK_TOKEN", "KAFKA_SASL_PASSWORD"} & set(cm), (
        "secrets go in the Secret"
    )
    uid = int(re.findall(r"^USER (\d+)", DOCKERFILE, re.M)[-1])
    seen = set()
    for obj, c in containers():
        if c["image"] != IMAGE:
            continue
        seen.add(c["args"][0] if c["args"][0] == "worker" else c["args"][1])
        args = parses(c["args"])
        env = dict(cm)
        for e in c.get("env", []):
            assert e["name"] in ENV, e["name"]
            if "valueFrom" in e and "fieldRef" in e["valueFrom"]:  # the pod's own name, for static membership
                assert e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
                env[e["name"]] = "triage-worker-0"
            elif "valueFrom" in e:
                ref = e["valueFrom"]["secretKeyRef"]
                assert ref["name"] == "social-triage-secrets" and ref["key"] in secret_keys
                env[e["name"]] = "placeholder-secret"
            else:
                env[e["name"]] = str(e["value"])
        s = settings_from(env, monkeypatch)
        assert s.web_host == "0.0.0.0"
        pod = obj["spec"]["template"]
        assert (
            pod["spec"]["securityContext"]["runAsNonRoot"]
            and pod["spec"]["securityContext"]["runAsUser"] == uid
        )
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        requests, limits = c["resources"]["requests"], c["resources"]["limits"]
        assert {"cpu", "memory"} <= set(requests) and "memory" in limits
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        if args.command == "worker":
            assert ports == {"http": s.web_port} and annotations["prometheus.io/port"] == str(s.web_port)
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert s.ops_token is not None
        else:
            assert ports == {"ingest": s.source_listen_port, "metrics": s.source_metrics_port}
            assert annotations["prometheus.io/port"] == str(s.source_metrics_port)
            assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
            assert s.source_listen_host == "0.0.0.0"
    assert seen == {"worker", "webhook"}


def test_k8s_topics_job_creates_what_the_workers_expect(monkeypatch: pytest.MonkeyPatch) -> None:
    (job,) = by_kind("Job")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["image"].startswith("apache/kafka:")
    assert c["envFrom"] == [{"configMapRef": {"name": "social-triage-config"}}]
    check_topic_script(c["args"][0], settings_from(configmap(), monkeypatch))


def test_k8s_services_pdb_and_autoscaling_point_at_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings_from(configmap(), monkeypatch)
    workloads = {d["metadata"]["name"]: d for d in by_kind("StatefulSet") + by_kind("Deployment")}
    for svc in by_kind("Service"):
        pods = [
            d
            for d in workloads.values()
            if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(pods) == 1, svc["metadata"]["name"]
        names = {p["name"] for c in pods[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= names
    (pdb,) = by_kind("PodDisruptionBudget")
    worker = worker_statefulset()
    assert pdb["spec"]["selector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    (scaled,) = by_kind("ScaledObject")
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": worker["metadata"]["name"],
    }
    assert scaled["spec"]["minReplicaCount"] >= 2 and scaled["spec"]["maxReplicaCount"] <= s.partitions
    triggers = scaled["spec"]["triggers"]
    assert {t["metadata"]["topic"] for t in triggers} == {s.topics.raw, s.topics.actionable}
    for t in triggers:
        assert t["type"] == "kafka"
        assert t["metadata"]["consumerGroup"] == s.app_id
        assert t["metadata"]["bootstrapServers"] == s.kafka_bootstrap_servers


# --- Grafana dashboards --------------------------------------------------------------------------------
def dashboard_files() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def test_dashboards_are_what_the_generator_writes() -> None:
    sys.path.insert(0, str(DEPLOY / "grafana"))
    try:
        import build_dashboards
    finally:
        sys.path.pop(0)
    expected = build_dashboards.dashboards()
    assert sorted(expected) == sorted(dashboard_files())
    for name, doc in expected.items():
        assert (DASHBOARDS / name).read_text() == build_dashboards.render(doc), (
            f"run {build_dashboards.__file__}"
        )


def test_dashboards_are_well_formed_and_use_the_provisioned_datasource() -> None:
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    uids = set()
    for name, doc in dashboard_files().items():
        assert doc["uid"] not in uids and len(doc["uid"]) <= 40, name
        uids.add(doc["uid"])
        variables = {v["name"] for v in doc["templating"]["list"]}
        cells: set[tuple[int, int]] = set()
        for panel in doc["panels"]:
            g = panel["gridPos"]
            assert g["x"] + g["w"] <= 24, panel["title"]
            area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not area & cells, f"{name}: {panel['title']} overlaps another panel"
            cells |= area
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(set(refs)) == len(refs)
            for t in panel["targets"]:
                assert t["datasource"]["uid"] == uid
                for var in re.findall(r"\$(\w+)", t["expr"]):
                    assert var in variables or var.startswith("__"), f"{panel['title']}: ${var} undefined"


def test_dashboards_cover_what_ops_watch() -> None:
    exprs = " ".join(
        t["expr"] for d in dashboard_files().values() for p in d["panels"] for t in p.get("targets", [])
    )
    for metric in (
        "triage_backlog_tickets",  # backlog per queue
        "triage_oldest_open_ticket_seconds",  # oldest open ticket
        "triage_first_responses_within_sla_total",  # SLA compliance
        "triage_tickets_first_responded_total",
        "triage_time_to_first_response_seconds_bucket",  # TTFR quantiles
        "triage_stage_posts_total",  # throughput per stage
        "triage_dead_letters_total",
        "triage_duplicates_total",
        "triage_consumer_lag",
        "triage_spike_active",  # spike alerts
        "triage_spike_alerts_total",
        "triage_source_connected",  # source health
        "triage_source_last_event_timestamp_seconds",
    ):
        assert metric in exprs, metric


def test_every_dashboard_query_parses_with_promtool(tmp_path: Path) -> None:
    """Each query, variables filled in, as a recording rule: promtool parses it with PromQL's parser."""
    from tests.deploy.test_rules import promtool

    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(dashboard_queries())]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def fill_variables(expr: str) -> str:
    """Grafana's variables as Grafana would expand them for an 'All' selection over the last hour."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$__interval", "15s")
        .replace("$queue", ".*")
    )


def dashboard_queries() -> list[str]:
    return [
        fill_variables(t["expr"])
        for d in dashboard_files().values()
        for p in d["panels"]
        for t in p.get("targets", [])
    ]
