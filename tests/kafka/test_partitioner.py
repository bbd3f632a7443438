"""Our partitioner must agree with Kafka's default partitioner everywhere, or lifecycle events written by a
CRM's own client would land on a partition that does not hold the ticket."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from stream.kafka.partitioner import kafka_partition, murmur2


def test_murmur2_matches_the_kafka_clients_on_random_keys_of_every_length() -> None:
    rnd = random.Random(3)
    for _ in range(5000):
        key = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 80)))
        assert murmur2(key) == aiokafka_murmur2(key) & 0xFFFFFFFF


def test_known_values_from_the_java_client() -> None:
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed ints there)
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536}
    for key, signed in cases.items():
        assert murmur2(key) == signed & 0xFFFFFFFF


def test_partition_of_a_key_is_the_default_partitioners() -> None:
    default = DefaultPartitioner()
    rnd = random.Random(4)
    for n in (1, 3, 4, 12, 64):
        parts = list(range(n))
        for _ in range(300):
            key = f"tkt_{rnd.getrandbits(80):020x}".encode()
            assert kafka_partition(key, n) == default(key, parts, parts)
