"""Operations logic, pure: SLA policy, business calendars and clocks, the SLA tracker, spike detection.

One concept per module. The SLA modules depend one way only: ``sla_policy`` (the policy document)
<- ``business_calendar`` (working time) <- ``sla_clock`` (one ticket's clocks) <- ``sla_tracker`` (many
tickets). ``spikes`` (the spike detector) needs none of them.

Imports: schemas and other pure modules; never a Kafka, HTTP or Faust client.
"""
