"""The Prometheus alert rules (deploy/prometheus/rules.yml) pass `promtool check rules`, their unit tests pass
`promtool test rules`, every alert has a case where it fires and one where it stays silent, and the unit tests
really catch a broken alert (each alert is broken in turn and the tests must fail)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
SCRAPE_CONFIG = ROOT / "deploy" / "compose" / "prometheus.yml"
SEVERITIES = {"page", "warning"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: `make tools` installs Debian's prometheus package")
    return path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def unit_cases() -> list[dict[str, Any]]:
    cases = []
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


def test_rules_pass_promtool_check() -> None:
    result = run("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "no rule unit tests in deploy/prometheus/tests/"
    result = run("test", "rules", *(p.name for p in RULE_TESTS), cwd=RULE_TESTS[0].parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_ops_expect_exist() -> None:
    names = {a["alert"] for a in alerts()}
    expected = {
        "TriageSLABreachRate",  # SLA breach rate
        "TriageBacklogGrowing",  # backlog growth
        "TriageOldestTicketOverBudget",  # oldest ticket over budget
        "TriageConsumerLagGrowing",  # consumer lag growing
        "TriageDeadLetterSurge",  # dead-letter surge
        "TriageSourceDown",  # source down
        "TriageSurgeDetected",  # surge detected
    }
    assert expected <= names, expected - names
    assert len(names) == len(alerts()), "alert names must be unique"


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    cases = unit_cases()
    for alert in alerts():
        mine = [c for c in cases if c["alertname"] == alert["alert"]]
        assert any(c.get("exp_alerts") for c in mine), f"{alert['alert']}: no case where it fires"
        assert any(not c.get("exp_alerts") for c in mine), f"{alert['alert']}: no case where it stays silent"


def test_every_alert_says_how_bad_and_what_happened() -> None:
    for alert in alerts():
        assert alert["labels"]["severity"] in SEVERITIES, alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], alert["alert"]


def test_rules_use_the_job_names_prometheus_scrapes() -> None:
    jobs = {job["job_name"] for job in yaml.safe_load(SCRAPE_CONFIG.read_text())["scrape_configs"]}
    text = RULES.read_text()
    for job in ("triage-workers", "triage-sources"):
        assert f'job="{job}"' in text and job in jobs


@pytest.mark.parametrize("mutant", ["vector(0) > 1", "vector(1)"], ids=["never fires", "always fires"])
def test_unit_tests_catch_every_broken_alert(tmp_path: Path, mutant: str) -> None:
    """Break one alert at a time (its expression never or always fires): that alert's unit tests must fail.

    One promtool run checks every mutant: a rules file and a test file (that alert's cases only) per alert.
    """
    doc = yaml.safe_load(RULES.read_text())
    tests = [t for path in RULE_TESTS for t in yaml.safe_load(path.read_text())["tests"]]
    files = {}
    for i, name in enumerate(a["alert"] for a in alerts()):
        broken = yaml.safe_load(yaml.safe_dump(doc))
        for group in broken["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == name:
                    rule["expr"] = mutant
        (tmp_path / f"rules_{i}.yml").write_text(yaml.safe_dump(broken))
        mine = []
        for test in tests:
            cases = [c for c in test.get("alert_rule_test", []) if c["alertname"] == name]
            if cases:
                mine.append({**test, "alert_rule_test": cases})
        unit = {"rule_files": [f"rules_{i}.yml"], "evaluation_interval": "1m", "tests": mine}
        (tmp_path / f"test_{i}.yml").write_text(yaml.safe_dump(unit))
        files[f"test_{i}.yml"] = name
    result = run("test", "rules", *files, cwd=tmp_path)
    assert result.returncode != 0
    failures = result.stdout + result.stderr  # each failure names its alert; test_<i> holds one alert's cases
    survived = [name for name in files.values() if f"alertname: {name}," not in failures]
    assert not survived, f"the unit tests do not notice when these alerts break: {survived}"
