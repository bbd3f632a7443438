"""A topic follower through a broker outage: it keeps retrying, and closes every client it opened."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

import stream.kafka.follower
from stream.kafka.follower import TopicFollower
from stream.local.broker import free_port
from stream.settings import Settings


async def test_a_follower_retrying_an_unreachable_broker_closes_every_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each retry builds a new consumer. One whose start failed used to be left open: its connections and
    tasks lingered until garbage collection, and aiokafka logged "Unclosed AIOKafkaConsumer" then."""
    made: list[AIOKafkaConsumer] = []

    class Recorded(AIOKafkaConsumer):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(stream.kafka.follower, "AIOKafkaConsumer", Recorded)
    settings = Settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")  # nothing listens there
    follower = TopicFollower(settings.kafka, "triage.customers", lambda record: None)
    await follower.start()
    await asyncio.sleep(4.5)  # three attempts, 2 s apart
    assert follower._task is not None and not follower._task.done()  # still retrying, not crashed
    await follower.stop()
    assert len(made) >= 2 and not follower.caught_up.is_set()
    assert [c._closed for c in made] == [True] * len(made)
