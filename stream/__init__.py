"""social-triage pipeline: Faust agents on Kafka that turn social posts into routed, prioritised tickets."""

__version__ = "0.1.0"
