import math
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.rules import (
    MAX_KEYWORD_CHARS,
    MAX_KEYWORDS,
    MAX_RULE_KEYWORDS,
    MAX_RULES,
    MAX_RULES_BYTES,
    RoutingRules,
)
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


# --- bounded documents ---------------------------------------------------------------------------------


def doc(n: int, **rule: Any) -> dict[str, Any]:
    return {"default_queue": "a", "rules": [{"name": f"r{i}", "queue": "b", **rule} for i in range(n)]}


def test_a_document_holds_at_most_max_rules_and_says_so(tmp_path: Path):
    RoutingRules.model_validate(doc(MAX_RULES))
    with pytest.raises(ValidationError, match=f"at most {MAX_RULES} rules, not {MAX_RULES + 1}"):
        RoutingRules.model_validate(doc(MAX_RULES + 1))
    with pytest.raises(ValidationError, match="at most 1000 rules, not 10000"):  # the document
        RoutingRules.model_validate_json(orjson.dumps(doc(10_000)))
    # a caller may lower the limit (the API, from its settings), never raise it
    with pytest.raises(ValidationError, match="at most 3 rules, not 4"):
        RoutingRules.model_validate(doc(4), context={"max_rules": 3})
    with pytest.raises(ValidationError, match=f"at most {MAX_RULES} rules"):
        RoutingRules.model_validate(doc(MAX_RULES + 1), context={"max_rules": 10 * MAX_RULES})
    big = tmp_path / "rules.json"
    big.write_bytes(orjson.dumps(doc(MAX_RULES + 1)))
    with pytest.raises(RulesError, match="at most"):
        load_rules(big)


def test_a_document_over_the_size_limit_is_refused_before_it_is_parsed():
    padded = b'{"default_queue": "a"}' + b" " * MAX_RULES_BYTES  # valid JSON, too large
    with pytest.raises(ValidationError, match=f"more than the limit of {MAX_RULES_BYTES}") as caught:
        RoutingRules.model_validate_json(padded)
    (error,) = caught.value.errors()
    assert error["type"] == "document_too_large" and error["input"] == len(padded)
    with pytest.raises(ValidationError, match="more than the limit of 100"):
        RoutingRules.model_validate_json(b'{"default_queue": "a"}' + b" " * 100, context={"max_bytes": 100})
    assert RoutingRules.model_validate_json(b'{"default_queue": "a"}').default_queue == "a"
    assert RoutingRules.model_validate_json('{"default_queue": "é"}').default_queue == "é"


def test_duplicate_names_keyword_counts_and_lengths_are_checked():
    dupes = {"default_queue": "a", "rules": [{"name": n, "queue": "b"} for n in ["x", "y", "x", "z", "y"]]}
    with pytest.raises(ValidationError, match=r"rule names must be unique: \['x', 'y'\]"):
        RoutingRules.model_validate(dupes)
    with pytest.raises(ValidationError, match=f"at most {MAX_KEYWORDS} keywords over all rules"):
        RoutingRules.model_validate(doc(30, match={"keywords": [f"w{i}" for i in range(MAX_RULE_KEYWORDS)]}))
    with pytest.raises(ValidationError, match="at most 200 items"):
        RoutingRules.model_validate(doc(1, match={"keywords": ["w"] * (MAX_RULE_KEYWORDS + 1)}))
    with pytest.raises(ValidationError, match="at most 100 characters"):
        RoutingRules.model_validate(doc(1, match={"keywords": ["w" * (MAX_KEYWORD_CHARS + 1)]}))


# --- the index decides as trying the rules in order would ----------------------------------------------

WORDS = ["refund", "late", "bill", "billing", "wi-fi", "c++", "#outage", "double charged", "café", "straße"]
WORDS += ["ÉCOLE", "a_b", "_", "", " ", "re-fund", "x", "2fa", "now!", "i'm"]
SEPARATORS = [" ", "  ", "-", ",", "!", "", "_", "\n", "é", "'"]


def _maybe(values: st.SearchStrategy[Any], size: int = 3) -> st.SearchStrategy[Any]:
    return st.none() | st.lists(values, max_size=size)


MATCHES = st.fixed_dictionaries(
    {},
    optional={
        "intent": _maybe(st.sampled_from(["complaint", "question", "praise", "request"])),
        "lang": _maybe(st.sampled_from(["en", "es", "EN", ""])),
        "brand": _maybe(st.sampled_from(["acme", "Acme", "other"])),
        "platform": _maybe(st.sampled_from(["x", "facebook", "reddit"])),
        "customer_tier": _maybe(st.sampled_from(["vip", "VIP", "elite"])),
        "urgency": _maybe(st.sampled_from(["legal_threat", "safety", "outage", "press"])),
        "max_priority": st.none() | st.integers(1, 4),
        "min_clout": st.none() | st.sampled_from([0.0, 10.0, 50.0, 85.0, 100.0]),
        "keywords": _maybe(st.sampled_from(WORDS), size=6),
    },
)
RULE_LISTS = st.lists(
    st.fixed_dictionaries(
        {"match": MATCHES, "queue": st.sampled_from(["q1", "q2"]), "priority_boost": st.integers(0, 3)}
    ),
    max_size=14,
)
TEXTS = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=8).map(
    lambda parts: "".join(w + s for w, s in parts)
)
INPUTS = st.builds(
    RouteInput,
    intent=st.sampled_from(["complaint", "question", "praise"]),
    lang=st.none() | st.sampled_from(["en", "es", "EN", "fr"]),
    brand=st.none() | st.sampled_from(["acme", "ACME", "other"]),
    platform=st.sampled_from(["x", "facebook", "reddit"]),
    customer_tier=st.none() | st.sampled_from(["vip", "Elite", "basic"]),
    urgency=st.lists(st.sampled_from(["legal_threat", "safety", "outage"]), max_size=2).map(tuple),
    priority=st.integers(1, 4),
    clout=st.sampled_from([0.0, 9.9, 10.0, 50.0, 84.9, 85.0, 100.0, math.nan]),
    text=TEXTS,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=RULE_LISTS, xs=st.lists(INPUTS, min_size=1, max_size=8))
def test_the_index_chooses_the_rule_trying_them_in_order_would(rules, xs):
    named = [{"name": f"r{i}", **r} for i, r in enumerate(rules)]
    router = Router(RoutingRules.model_validate({"default_queue": "d", "rules": named}))
    for x in xs:
        assert router.route(x) == router.route_by_scan(x), x


def test_keywords_match_as_whole_words_whatever_their_characters():
    def queue(keywords: list[str], text: str) -> str:
        many = [{"name": f"pad{i}", "queue": "b", "match": {"keywords": [f"zz{i}"]}} for i in range(6)]
        rules = [*many, {"name": "r", "queue": "hit", "match": {"keywords": keywords}}]
        router = Router(RoutingRules.model_validate({"default_queue": "a", "rules": rules}))
        decided = router.route(inp(text=text, platform="reddit"))
        assert decided == router.route_by_scan(inp(text=text, platform="reddit"))
        return decided.queue

    assert queue(["wi-fi"], "my Wi-Fi is down") == "hit"
    assert queue(["wi-fi"], "my wi-fiber is down") == "a"
    assert queue(["c++"], "c++ compiler") == "hit" and queue(["c++"], "c++x") == "a"
    assert queue(["#outage"], "big #outage today") == "hit" and queue(["#outage"], "a#outage") == "a"
    assert queue(["double charged"], "I was DOUBLE CHARGED!") == "hit"
    assert queue(["double charged"], "double  charged") == "a"  # the phrase, literally
    assert queue(["café"], "au CAFÉ ce matin") == "hit" and queue(["café"], "cafés") == "a"
    assert queue(["refund", "late delivery"], "a late delivery") == "hit"
    # digits and the underscore are word characters too (\w), letters of any script as well
    assert queue(["wi-fi"], "wi-fi2") == "a" and queue(["c++"], "c++_x") == "a"
    assert queue(["#outage"], "9#outage") == "a" and queue(["#outage"], "_#outage") == "a"
    assert queue(["#outage"], "é#outage") == "a" and queue(["#outage"], "!#outage!") == "hit"


def test_first_match_wins_with_the_most_rules_a_document_may_hold():
    rnd = random.Random(7)
    words = [f"w{i}" for i in range(3000)]
    rules = []
    for i in range(MAX_RULES - 1):
        match: dict[str, Any] = [
            {"keywords": [*rnd.sample(words, 3), f"{rnd.choice(words)} {rnd.choice(words)}"]},
            {"lang": [f"l{i % 7}"], "intent": ["complaint"]},
            {"brand": [f"b{i % 11}"], "platform": ["x"]},
            {"urgency": [f"u{i % 5}"], "min_clout": float(i % 100)},
            {"customer_tier": [f"t{i % 3}"], "max_priority": 1 + i % 4, "keywords": [rnd.choice(words)]},
        ][i % 5]
        rules.append({"name": f"r{i}", "queue": f"q{i % 4}", "match": match})
    rules.append({"name": "last", "queue": "last"})  # matches everything: wins only when nothing before does
    router = Router(RoutingRules.model_validate({"default_queue": "d", "rules": rules}))
    for n in range(300):
        x = RouteInput(
            "complaint",
            rnd.choice(["l1", "l3", "en", None]),
            rnd.choice(["b2", "acme", None]),
            rnd.choice(["x", "reddit"]),
            rnd.choice(["t1", None]),
            tuple(rnd.sample(["u1", "u2", "u7"], rnd.randint(0, 2))),
            rnd.randint(1, 4),
            rnd.uniform(0, 100),
            " ".join(rnd.sample(words, 12)) + (" w5 w6" if n % 2 else ""),
        )
        assert router.route(x) == router.route_by_scan(x)
