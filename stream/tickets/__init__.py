"""Stage two, pure: actionable posts, lifecycle events and ops commands in, ticket changes out.

Duties: ticket ids and partitions, ticket state and its encoding, the changelog-backed store seam,
routing rules, priority, customer enrichment, the index of open tickets behind the backlog, and the
due index of the sweep that expires idle tickets and forgets closed ones (``lifecycle``).

Imports: schemas, :mod:`stream.pipeline`'s dead letters, :mod:`stream.kafka.records` and other pure
modules; never a Kafka, HTTP or Faust client.
"""
