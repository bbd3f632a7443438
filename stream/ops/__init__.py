"""Operations logic, pure: SLA policy, business calendars and clocks, the SLA tracker, spike detection.

Imports: schemas and other pure modules; never a Kafka, HTTP or Faust client.
"""
