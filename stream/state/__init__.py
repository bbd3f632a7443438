"""State that grows with traffic, kept on local disk (RocksDB) and backed by a changelog topic.

Duties: one RocksDB per changelog partition that records how far the changelog reaches into it
(:mod:`.partition_store`); a mapping over the partitions a worker holds whose writes become changelog
records and reach the disk only once Kafka has stored them (:mod:`.changelog_store`); and recovery that
replays a changelog partition from the stored offset to its true end (:mod:`.recovery`).

Imports: :mod:`stream.kafka` and ``rocksdict``; nothing from the domain folders (keys and values are bytes).
"""
