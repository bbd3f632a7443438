import json

import pytest

from schemas.export import EXPORTED, SCHEMA_DIR, generate


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_committed_schema_equals_the_generated_one(name):
    """The committed JSON Schema is the contract with CRMs; a model change must update it (make schemas)."""
    committed = json.loads((SCHEMA_DIR / name).read_text())
    assert committed == generate(name)


def test_ticket_schema_requires_what_crms_rely_on():
    schema = generate("ticket.schema.json")
    for field in ("ticket_id", "queue", "priority", "posts", "scores", "explanation", "created_at"):
        assert field in schema["required"]
    assert schema["properties"]["ticket_id"]["pattern"] == "^tkt_[0-9a-f]{20}$"


def test_the_hot_path_audit_decision_is_the_contract_s_audit_decision() -> None:
    from schemas.events import AuditDecision, AuditDecisionDoc, Outcome, audit_decision

    assert set(AuditDecisionDoc.__annotations__) == set(AuditDecision.model_fields)
    doc = audit_decision(
        "route", "x:1", Outcome.TICKET, "created: why", "2026-12-07T10:00:00Z", "tkt_" + "a" * 20, "q"
    )
    parsed = AuditDecision.model_validate(doc)
    assert parsed.outcome == Outcome.TICKET and parsed.ticket_id == doc["ticket_id"] and parsed.queue == "q"
    assert AuditDecision.model_validate(
        audit_decision("triage", "?", "actionable", "r", "2026-12-07T10:00:00Z")
    )
