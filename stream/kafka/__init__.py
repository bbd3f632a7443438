"""Kafka plumbing, with no knowledge of posts or tickets.

Duties: connection settings and security, batched writes (:mod:`.batch_sink`), record framing and
partitioning, offset bookkeeping for at-least-once commits, readers outside the consumer group (followers,
partition ranges, whole topics), lag and committed offsets, topic administration.

Imports: the standard library, aiokafka and faust; nothing from the domain folders.
"""
