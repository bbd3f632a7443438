"""How every Kafka client of the project connects: bootstrap servers and security, decided once.

aiokafka clients (sinks, readers, admin) take :meth:`KafkaConnection.client_kwargs`; the Faust app's
credentials (``stream.worker.transport.faust_credentials``) use the same :meth:`ssl_context` and
:meth:`sasl_password_value`, so TLS and SASL settings cannot drift between them. The password is a
``SecretStr``: it never prints in a repr or a log line.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr

__all__ = ["KafkaConnection", "SaslMechanism", "SecurityProtocol"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaConnection(BaseModel):
    model_config = ConfigDict(frozen=True)

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        return ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)

    def sasl_password_value(self) -> str | None:
        return self.sasl_password.get_secret_value() if self.sasl_password else None

    def client_kwargs(self) -> dict[str, Any]:
        """Connection arguments for aiokafka's producer, consumer and admin client."""
        if not self.bootstrap:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set (and no embedded broker was started)")
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password_value()
        return kwargs

    def reader_kwargs(self, fetch_max_wait_ms: int = 100) -> dict[str, Any]:
        """A plain consumer outside any group that reads from the log start (followers, restores, gap
        fills, benchmark taps): it never commits, so it cannot disturb the workers' group."""
        return {
            **self.client_kwargs(),
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "fetch_max_wait_ms": fetch_max_wait_ms,
        }
