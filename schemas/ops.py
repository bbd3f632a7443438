"""Records around ticket operations: CRM customer profiles, ops commands and alerts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.timestamps import EventTime, UtcDatetime

__all__ = ["Alert", "CustomerProfile", "OpsCommand"]


class CustomerProfile(BaseModel):
    """A CRM profile on the customers topic, keyed by ``platform:handle`` (handle lower case, no @)."""

    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra={"$id": "customer.schema.json"})

    customer_id: str = Field(min_length=1, max_length=128)
    tier: str | None = Field(default=None, max_length=32, description="e.g. vip, elite, standard.")
    value: float | None = Field(default=None, description="Customer value as the CRM scores it.")


class OpsCommand(BaseModel):
    """A supervisor's command, written by the ops API to the commands topic.

    ``reassign`` moves one ticket (keyed by its id); ``retask`` moves every open ticket of a queue and/or
    agent, and is written to every partition so each worker applies it to the tickets it holds.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"$id": "ops_command.schema.json"}
    )

    command_id: str = Field(min_length=1, max_length=128)
    type: Literal["reassign", "retask"]
    ticket_id: str | None = Field(default=None, pattern=r"^tkt_[0-9a-f]{20}$")
    from_queue: str | None = Field(default=None, max_length=128)
    from_agent: str | None = Field(default=None, max_length=256)
    to_queue: str | None = Field(default=None, max_length=128)
    to_agent: str | None = Field(default=None, max_length=256, description="Empty string: unassign.")
    by: str | None = Field(default=None, max_length=256)
    at: EventTime

    @model_validator(mode="after")
    def _complete(self) -> OpsCommand:
        if self.to_queue is None and self.to_agent is None:
            raise ValueError("say where to: to_queue and/or to_agent")
        if self.type == "reassign" and self.ticket_id is None:
            raise ValueError("reassign needs ticket_id")
        if self.type == "retask" and self.from_queue is None and self.from_agent is None:
            raise ValueError("retask needs from_queue and/or from_agent")
        return self


class Alert(BaseModel):
    """An SLA or spike alert on the alerts topic."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"$id": "alert.schema.json"})

    alert_id: str = Field(description="Stable per condition, so a repeated alert can be de-duplicated.")
    kind: Literal["sla_at_risk", "sla_breached", "spike_started", "spike_ended"]
    ticket_id: str | None = None
    queue: str | None = None
    target: Literal["first_response", "resolution"] | None = None
    key: str | None = Field(default=None, description="Brand or hashtag of a spike.")
    detail: str
    at: UtcDatetime
