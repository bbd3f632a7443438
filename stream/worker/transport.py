"""A Faust app whose consumer fetch wait is a setting instead of Faust's hard-coded 1.5 s, and whose
consumer leaves committing to the runtime (see ``_Consumer._commit``).

Measured here against the embedded broker: a fetch that covers several partitions is held about half of
``fetch_max_wait_ms`` even when data is waiting (~715 ms at Faust's 1,500 ms, ~15 ms at 100 ms), and every
pipeline hop pays it. Apache Kafka answers as soon as ``fetch_min_bytes`` is there, so a short wait costs
nothing there but a few more empty fetches on an idle topic.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream.kafka.connection import KafkaConnection

__all__ = ["TriageApp", "faust_brokers", "faust_credentials"]


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = getattr(self.app, "triage_fetch_max_wait_ms", 1500)  # read at start()
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Any) -> bool:
        """Faust's own commits are off: they are derived from acknowledgements plus the offset gaps Faust
        notes, and were seen committing records that never reached the agent. The runtime commits what it
        has stored instead (``stream.kafka.offsets.StoredOffsets``), through the consumer thread directly."""
        return True


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class TriageApp(faust.App):
    def __init__(self, *args: Any, fetch_max_wait_ms: int = 100, **kwargs: Any) -> None:
        self.triage_fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def faust_brokers(connection: KafkaConnection) -> list[str]:
    return [f"kafka://{hostport.strip()}" for hostport in connection.bootstrap.split(",")]


def faust_credentials(connection: KafkaConnection) -> Any:
    """Faust's credentials object for the connection's security settings (None for PLAINTEXT)."""
    if connection.security_protocol == "PLAINTEXT":
        return None
    context = connection.ssl_context()
    if connection.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=connection.sasl_username,
        password=connection.sasl_password_value(),
        mechanism=connection.sasl_mechanism,
        ssl_context=context,
    )
