"""Reconnect delays as pure arithmetic, so the schedules X documents can be tested without sleeping.

X's filtered-stream guidance: network (TCP/IP) errors back off linearly, +250 ms per attempt up to 16 s;
HTTP errors exponentially from 5 s, doubling up to 320 s; HTTP 429 exponentially from 1 minute. X gives no
ceiling for 429; we stop doubling at 960 s (16 minutes) so a source never goes quiet for hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "HTTP_ERRORS",
    "NETWORK_ERRORS",
    "RATE_LIMITED",
    "BackoffPolicy",
    "Failure",
    "Schedule",
]


class Failure(StrEnum):
    """What went wrong, which picks the schedule."""

    NETWORK = "network"
    HTTP = "http"
    RATE_LIMIT = "rate_limit"


@dataclass(frozen=True, slots=True)
class Schedule:
    """Delay of the n-th consecutive attempt (n >= 1): linear ``initial + step*(n-1)`` or exponential."""

    initial: float
    cap: float
    step: float = 0.0
    factor: float = 1.0

    def delay(self, attempt: int) -> float:
        n = max(attempt, 1) - 1
        if self.factor > 1.0:
            # cap the exponent first so a long outage cannot overflow a float
            value = self.initial * self.factor ** min(n, 64)
        else:
            value = self.initial + self.step * n
        return min(value, self.cap)


NETWORK_ERRORS = Schedule(initial=0.25, step=0.25, cap=16.0)
HTTP_ERRORS = Schedule(initial=5.0, factor=2.0, cap=320.0)
RATE_LIMITED = Schedule(initial=60.0, factor=2.0, cap=960.0)


@dataclass(slots=True)
class BackoffPolicy:
    """Consecutive-failure counters per kind; :meth:`reset` once a connection delivers again.

    ``retry_after`` (from ``Retry-After`` or a rate-limit reset header) lengthens a delay, never shortens it.
    """

    schedules: dict[Failure, Schedule] = field(
        default_factory=lambda: {
            Failure.NETWORK: NETWORK_ERRORS,
            Failure.HTTP: HTTP_ERRORS,
            Failure.RATE_LIMIT: RATE_LIMITED,
        }
    )
    attempts: dict[Failure, int] = field(default_factory=dict)

    def next_delay(self, failure: Failure, retry_after: float | None = None) -> float:
        n = self.attempts.get(failure, 0) + 1
        self.attempts[failure] = n
        delay = self.schedules[failure].delay(n)
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return delay

    def reset(self) -> None:
        self.attempts.clear()

    @classmethod
    def scaled(cls, factor: float) -> BackoffPolicy:
        """The same schedules shrunk by ``factor`` (tests and impatient development setups)."""
        return cls(
            schedules={
                k: Schedule(s.initial * factor, s.cap * factor, s.step * factor, s.factor)
                for k, s in cls().schedules.items()
            }
        )
