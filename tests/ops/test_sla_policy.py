"""The SLA policy document: the bundled one fits the routing rules; a bad one is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stream.ops.sla_policy import SlaError, load_sla_policy
from stream.tickets.routing import load_rules
from tests.ops.support import H, centre, policy


def test_default_policy_covers_the_routing_queues() -> None:
    rules = load_rules()
    declared = {q.name for q in rules.queues}
    pol = load_sla_policy(queues=declared)
    assert {q.queue for q in pol.queues} == declared
    centres = {c.name for c in pol.centres}
    for q in rules.queues:
        if q.service_centre and q.service_centre != "follow-the-sun":
            assert pol.queue(q.name).centres == [q.service_centre]  # type: ignore[union-attr]
            assert q.service_centre in centres
    assert pol.target("social-x", 1).first_response_s == 15 * 60
    assert pol.target("social-x", 4).resolution_s == 72 * H
    assert pol.target("unknown-queue", 9) == pol.default_targets[4]


def _write(tmp_path: Path, text: str, name: str = "sla.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """
centres:
  - {name: uk, timezone: Europe/London, hours: {mon: [["09:00", "17:00"]]}}
default_targets:
  1: {first_response_s: 60, resolution_s: 600}
  2: {first_response_s: 60, resolution_s: 600}
  3: {first_response_s: 60, resolution_s: 600}
  4: {first_response_s: 60, resolution_s: 600}
queues:
  - {queue: billing, centres: [uk]}
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("centres: [uk]", "centres: [uj]"), "queue 'billing' names unknown centres ['uj']"),
        (("Europe/London", "Europe/Londn"), "unknown IANA time zone 'Europe/Londn'"),
        (('[["09:00", "17:00"]]', '[["09:00", "17:00"], ["16:00", "18:00"]]'), "overlap"),
        (('[["09:00", "17:00"]]', '[["17:00", "09:00"]]'), "end must be after start"),
        (('[["09:00", "17:00"]]', '[["09:00", 17:00]]'), "quote times"),
        (('[["09:00", "17:00"]]', '[["09:00", "25:00"]]'), "should match pattern"),
        (("  4: {first_response_s: 60, resolution_s: 600}\n", ""), "missing [4]"),
        (("resolution_s: 600}\nqueues", "resolution_s: 6}\nqueues"), "shorter than first_response_s"),
        (
            ('hours: {mon: [["09:00", "17:00"]]}', 'always_open: true, hours: {mon: [["09:00", "17:00"]]}'),
            "always_open",
        ),
        (('hours: {mon: [["09:00", "17:00"]]}', "hours: {}"), "no business hours"),
        (("hours: {mon:", "hours: {monday:"), "monday"),
    ],
)
def test_a_bad_policy_is_refused_with_the_reason(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    assert GOOD.count(change[0]) == 1
    with pytest.raises(SlaError, match="is invalid") as info:
        load_sla_policy(_write(tmp_path, GOOD.replace(*change)))
    assert message in str(info.value)


def test_unreadable_unparsable_or_stray_queue_policies_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SlaError, match="cannot read"):
        load_sla_policy(tmp_path / "missing.yaml")
    with pytest.raises(SlaError, match="not valid yaml"):
        load_sla_policy(_write(tmp_path, "centres: [\n"))
    with pytest.raises(SlaError, match="not valid json"):
        load_sla_policy(_write(tmp_path, "{", "p.json"))
    with pytest.raises(SlaError, match=r"do not declare: \['billing'\]"):
        load_sla_policy(_write(tmp_path, GOOD), queues={"social-x"})
    assert load_sla_policy(_write(tmp_path, GOOD)).queue("billing") is not None


def test_model_rejects_duplicates() -> None:
    c = centre("uk", "Europe/London")
    with pytest.raises(ValidationError, match="unique"):
        policy(c, c)
    with pytest.raises(ValidationError, match="more than once"):
        policy(c, queues=[{"queue": "a"}, {"queue": "a"}])
