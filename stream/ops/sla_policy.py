"""The SLA policy document: where the bundled one lives, and reading and validating one (YAML or JSON).

The policy names the service centres (time zone, hours, holidays), which centres serve which queue, and the
first-response and resolution budgets per queue and priority; its model is ``schemas.sla.SlaPolicy``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from schemas.sla import SlaPolicy
from stream.documents import load_document

__all__ = ["DEFAULT_SLA_PATH", "SlaError", "load_sla_policy"]

DEFAULT_SLA_PATH = Path(__file__).parent / "default_sla.yaml"


class SlaError(ValueError):
    """An SLA policy or calendar that cannot be used; the message says where and why."""


def load_sla_policy(path: Path | None = None, *, queues: Collection[str] | None = None) -> SlaPolicy:
    """Reads and validates an SLA policy (YAML, or JSON by suffix).

    With ``queues`` (the routing rules' declared queues), a policy entry for a queue the rules never use is
    refused: it is almost always a typo that leaves the real queue on default targets.
    """
    path = path or DEFAULT_SLA_PATH
    policy = load_document(path, SlaPolicy, "SLA policy", SlaError)
    if queues is not None:
        unknown = sorted({q.queue for q in policy.queues} - set(queues))
        if unknown:
            raise SlaError(f"SLA policy {path} names queues the routing rules do not declare: {unknown}")
    return policy
