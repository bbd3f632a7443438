"""One machine: the embedded broker, child processes and their reapers, ``triage run`` and ``triage top``."""
