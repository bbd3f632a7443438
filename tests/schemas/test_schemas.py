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
