"""The synthetic firehose: a seeded generator of realistic posts for ``make run``, tests and benchmarks."""
