from pathlib import Path

import pytest

from stream.tickets.routing import RouteInput, Router, RulesError, load_rules


def inp(**over):
    base = dict(
        intent="complaint",
        lang="en",
        brand="acme",
        platform="x",
        customer_tier=None,
        urgency=(),
        priority=3,
        clout=10.0,
        text="my parcel is late",
    )
    base.update(over)
    return RouteInput(**base)


@pytest.fixture(scope="module")
def router():
    return Router(load_rules())


def test_first_matching_rule_wins(router):
    d = router.route(inp(urgency=("legal_threat",), customer_tier="vip", lang="es"))
    assert (d.queue, d.tier, d.rule) == ("tier2-escalations", 2, "legal-or-safety")


def test_vip_goes_to_vip_care_with_a_priority_boost(router):
    d = router.route(inp(customer_tier="VIP"))
    assert d.queue == "vip-care" and d.priority == 2
    assert any("boost" in r for r in d.reasons)


def test_language_platform_and_keywords(router):
    assert router.route(inp(lang="es")).queue == "care-es"
    assert router.route(inp(text="I was DOUBLE CHARGED on my bill")).queue == "billing"
    assert router.route(inp(text="refundable?")).queue == "social-x"  # whole words only
    assert router.route(inp(platform="instagram")).queue == "social-meta"
    d = router.route(inp(platform="reddit"))
    assert d.queue == "social-general" and d.rule is None


def test_bad_rule_files_are_refused_with_the_reason(tmp_path: Path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("default_queue: a\nqueues: [{name: a}]\nrules: [{name: r, queue: typo}]\n")
    with pytest.raises(RulesError, match="not declared"):
        load_rules(bad)
    bad.write_text("default_queue: a\nrules: [{name: r, queue: a, match: {colour: [red]}}]\n")
    with pytest.raises(RulesError, match="colour"):
        load_rules(bad)
    bad.write_text("rules: [")
    with pytest.raises(RulesError, match="not valid"):
        load_rules(bad)
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_keywords_are_literal_so_a_rule_cannot_backtrack(tmp_path: Path):
    rules = tmp_path / "rules.json"
    rules.write_text(
        '{"default_queue": "a", "rules": [{"name": "r", "queue": "b", "match": {"keywords": ["(a+)+$"]}}]}'
    )
    router = Router(load_rules(rules))
    assert router.route(inp(text="a" * 5000 + "!")).queue == "a"
    assert router.route(inp(text="look: (a+)+$ here")).queue == "b"


def test_a_complaint_from_a_very_high_reach_account_goes_to_specialists(router):
    d = router.route(inp(clout=90.0))
    assert (d.queue, d.tier, d.rule) == ("tier2-escalations", 2, "high-clout-complaint")
    assert router.route(inp(clout=90.0, intent="question")).queue == "social-x"
