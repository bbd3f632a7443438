"""The CRM's view of who is posting: profiles from the customers topic, looked up per ticket."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from schemas.ops import CustomerProfile

__all__ = ["CustomerDirectory", "customer_key"]

log = logging.getLogger(__name__)


def customer_key(platform: str, handle: str) -> str:
    """How CRMs key profiles: ``platform:handle``, handle lower case without @."""
    return f"{platform}:{handle.lstrip('@').lower()}"


class CustomerDirectory:
    """Latest profile per key; a record with no value (a tombstone) forgets the customer."""

    def __init__(self, max_customers: int = 5_000_000) -> None:
        self.max_customers = max_customers
        self._profiles: dict[str, CustomerProfile] = {}
        self.rejected = 0

    def __len__(self) -> int:
        return len(self._profiles)

    def get(self, platform: str, handle: str) -> CustomerProfile | None:
        return self._profiles.get(customer_key(platform, handle))

    def on_record(self, key_bytes: bytes | None, value: bytes | None) -> str | None:
        """One record of the customers topic (compacted, keyed ``platform:handle``). Returns why it was
        refused (for its dead letter), or None when it was applied."""
        if key_bytes is None:
            self.rejected += 1
            return "customer profile without a key"
        key = key_bytes.decode("utf-8", "replace").lower()
        if value is None:
            self._profiles.pop(key, None)
            return None
        try:
            profile = CustomerProfile.model_validate_json(value)
        except Exception as exc:  # a ValidationError, or anything else bad data can raise
            self.rejected += 1
            why = (
                exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else f"{type(exc).__name__}: {exc}"
            )
            log.warning("customer profile %r refused: %s", key, why)
            return f"invalid customer profile: {why}"
        if key not in self._profiles and len(self._profiles) >= self.max_customers:
            self.rejected += 1
            return f"customer directory full ({self.max_customers} profiles)"
        self._profiles[key] = profile
        return None
