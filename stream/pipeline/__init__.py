"""Stage one, pure: a raw frame of posts in, its outcomes out.

Duties: validate posts, drop duplicates, reposts and spam within a window, score and judge each post,
build dead letters and audit decisions, and decide which posts go on to the ticket stage.

Imports: schemas, the scoring path (:mod:`classifiers`), :mod:`stream.kafka.records` and other pure
modules; never a Kafka, HTTP or Faust client (checked by ``tests/test_architecture.py``).
"""
