"""Data every worker follows (customer profiles, routing rules): a bad record is refused, counted and
dead-lettered with its reason; the followed data stays as it was."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord

from stream.kafka.connection import KafkaConnection
from stream.tickets.customers import CustomerDirectory
from stream.tickets.routing import Router, load_rules
from stream.worker.metrics import Metrics
from stream.worker.shared_data import SharedData


def record(topic: str, key: bytes | None, value: bytes | None, offset: int = 0) -> Any:
    return ConsumerRecord(topic, 0, offset, 0, 0, key, value, None, 0, 0, ())


def shared() -> tuple[SharedData, list[tuple[Any, str]], list[Router]]:
    dead: list[tuple[Any, str]] = []
    applied: list[Router] = []
    data = SharedData(
        KafkaConnection(bootstrap="127.0.0.1:1"),
        customers_topic="customers",
        rules_topic="rules",
        customers=CustomerDirectory(),
        apply_rules=applied.append,
        rules_source="bundled",
        metrics=Metrics(),
        dead_letter=lambda r, why: dead.append((r, why)),
    )
    return data, dead, applied


def test_a_bad_customer_profile_is_dead_lettered_and_a_good_one_applied() -> None:
    data, dead, _ = shared()
    data.on_customer(record("customers", b"x:kim", b'{"tier": "vip"}'))  # no customer_id
    data.on_customer(record("customers", None, b'{"customer_id": "c1"}', 1))
    data.on_customer(record("customers", b"x:jo", b'{"customer_id": "c2", "tier": "vip"}', 2))
    assert [why.split(":")[0] for _, why in dead] == [
        "invalid customer profile",
        "customer profile without a key",
    ]
    assert [r.offset for r, _ in dead] == [0, 1]
    assert len(data.customers) == 1


def test_a_bad_rules_document_is_dead_lettered_and_the_rules_in_force_stay() -> None:
    data, dead, applied = shared()
    data.on_rules(record("rules", b"rules", b"not json at all", 7))
    assert applied == [] and len(dead) == 1 and dead[0][1].startswith("invalid routing rules")
    data.on_rules(record("rules", b"rules", load_rules().model_dump_json().encode(), 8))
    assert len(applied) == 1 and data.rules_source == "rules@8"
