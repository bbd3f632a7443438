"""The lifecycle every adapter shares: resume, connect, read, reconnect with backoff, stop cleanly.

An adapter implements :meth:`Source.session` (one connection or one polling loop, returning or raising when
it ends) and uses ``self.emitter`` to produce. The run loop classifies failures, waits as the backoff policy
says (through an injectable ``sleep`` so tests never wait for real), and stores the position on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import aiohttp

from stream.settings import Settings
from stream.sources.backoff import BackoffPolicy, Failure
from stream.sources.checkpoint import CheckpointStore
from stream.sources.emitter import Emitter
from stream.sources.metrics import SourceMetrics
from stream.sources.post_sink import PostSink

__all__ = ["ConfigError", "Sleep", "Source", "SourceError", "http_failure", "retry_after_seconds"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class ConfigError(ValueError):
    """Missing or contradictory configuration: the CLI prints it and exits 2 instead of retrying forever."""


class SourceError(Exception):
    """A failed connection or poll, with the kind that picks the backoff schedule."""

    def __init__(self, reason: str, failure: Failure, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.failure = failure
        self.retry_after = retry_after


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` or an ``x-rate-limit-reset`` epoch, whichever is given."""
    value = headers.get("Retry-After") if headers is not None else None
    if value is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(value))
    reset = headers.get("x-rate-limit-reset") if headers is not None else None
    if reset is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(reset) - (time.time() if now is None else now))
    return None


def http_failure(status: int, headers: Any = None) -> SourceError:
    if status == 429:
        return SourceError("HTTP 429", Failure.RATE_LIMIT, retry_after_seconds(headers))
    return SourceError(f"HTTP {status}", Failure.HTTP, retry_after_seconds(headers))


class Source(ABC):
    """Base of every adapter. ``kind`` is the CLI name; ``name`` labels metrics and the checkpoint file."""

    kind: ClassVar[str] = "source"
    #: no bytes (data or keep-alive) for this long counts as a stalled connection
    stall_timeout_s: float

    def __init__(
        self,
        settings: Settings,
        sink: PostSink,
        *,
        name: str | None = None,
        metrics: SourceMetrics | None = None,
        checkpoints: CheckpointStore | None = None,
        backoff: BackoffPolicy | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.name = name or self.kind
        self.metrics = metrics or SourceMetrics()
        self.checkpoints = checkpoints or CheckpointStore(settings.data_dir / "checkpoints")
        self.backoff = backoff or BackoffPolicy()
        self.clock = clock
        self.stop_event = asyncio.Event()
        self._sleep = sleep
        self.stall_timeout_s = settings.source_stall_timeout_s
        self.emitter = Emitter(
            self.name,
            sink,
            self.metrics,
            self.checkpoints,
            commit_every=settings.source_commit_every,
            commit_interval_s=settings.source_commit_interval_s,
            clock=clock,
        )
        self.connected = False
        self.last_activity = 0.0
        self.reconnects = 0
        self._session: aiohttp.ClientSession | None = None
        self._current: asyncio.Future[None] | None = None
        self._sink_failure: Exception | None = None
        self.check_config()

    # --- for adapters ------------------------------------------------------------------------------
    def check_config(self) -> None:  # noqa: B027 - optional hook
        """Raise :class:`ConfigError` naming the ``TRIAGE_*`` variable that is missing or wrong."""

    @abstractmethod
    async def session(self) -> None:
        """One connection (or polling loop): read until it ends; raise :class:`SourceError` on failure."""

    def restore(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Take the committed position after a restart."""

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30)
            )
        return self._session

    def mark_connected(self) -> None:
        """A connection delivers: reset the backoff so the next failure starts from the shortest delay."""
        if not self.connected:
            self.connected = True
            self.metrics.connected.labels(self.name).set(1)
            self.metrics.backoff.labels(self.name).set(0)
        self.backoff.reset()
        self.touch()

    def mark_disconnected(self) -> None:
        self.connected = False
        self.metrics.connected.labels(self.name).set(0)

    def touch(self) -> None:
        """Heard something (a post, keep-alive, or an empty poll): the connection is alive."""
        self.last_activity = self.clock()
        self.metrics.last_activity.labels(self.name).set(self.last_activity)

    def received(self, n: int = 1) -> None:
        self.metrics.received.labels(self.name).inc(n)

    def malformed(self, what: str, detail: object = "") -> None:
        self.metrics.malformed.labels(self.name).inc()
        log.warning("%s: malformed %s: %.200s", self.name, what, detail)

    def filtered(self, n: int = 1) -> None:
        self.metrics.filtered.labels(self.name).inc(n)

    async def sleep(self, seconds: float) -> None:
        """Wait, or return early once stopping; tests inject a recorder instead."""
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), timeout=max(0.0, seconds))

    # --- lifecycle ---------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        age = self.clock() - self.last_activity if self.last_activity else None
        healthy = self.connected and age is not None and age <= self.stall_timeout_s * 2
        return {
            "source": self.name,
            "healthy": healthy,
            "connected": self.connected,
            "last_activity_age_s": None if age is None else round(age, 3),
            "waiting": self.emitter.waiting,
            "reconnects": self.reconnects,
        }

    def stop(self) -> None:
        self.stop_event.set()

    async def run(self) -> None:
        """Until :meth:`stop`: session, classify the failure, back off, again. Config errors are fatal."""
        self.restore(self.emitter.restore())
        ticker = asyncio.create_task(self._commit_ticker())
        try:
            while not self.stop_event.is_set():
                failure, retry_after, reason = Failure.NETWORK, None, "eof"
                try:
                    await self._until_stopped(self.session())
                    if self.stop_event.is_set():
                        break
                except ConfigError:
                    raise
                except SourceError as exc:
                    failure, retry_after, reason = exc.failure, exc.retry_after, str(exc)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                except Exception as exc:  # e.g. Kafka unavailable during a flush: resume from the checkpoint
                    reason = f"{type(exc).__name__}: {exc}"
                self.mark_disconnected()
                if self.stop_event.is_set():
                    break
                self.reconnects += 1
                label = "stall" if reason == "stall" else "eof" if reason == "eof" else failure.value
                self.metrics.reconnects.labels(self.name, label).inc()
                delay = self.backoff.next_delay(failure, retry_after)
                self.metrics.backoff.labels(self.name).set(delay)
                log.warning("%s: %s; reconnecting in %.2fs", self.name, reason, delay)
                await self.sleep(delay)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            self.mark_disconnected()
            try:
                await self.emitter.commit()
            except Exception as exc:
                log.error("%s: final flush failed (%s); will resume from the last checkpoint", self.name, exc)
            await self.close()

    async def _commit_ticker(self) -> None:
        """Store the position of a quiet stream too: the last post must not wait for the next one."""
        interval = self.settings.source_commit_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.emitter.maybe_commit()
            except Exception as exc:  # restart the session from the last stored position
                log.warning("%s: periodic flush failed (%s: %s)", self.name, type(exc).__name__, exc)
                self._sink_failure = exc
                if self._current is not None:
                    self._current.cancel()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _until_stopped(self, work: Awaitable[None]) -> None:
        """Run ``work`` but cancel it as soon as :meth:`stop` is called."""
        task = asyncio.ensure_future(work)
        self._current, self._sink_failure = task, None
        stopper = asyncio.ensure_future(self.stop_event.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, stopper):
                if not t.done():
                    t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
        self._current = None
        if task.cancelled():
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self._sink_failure is not None:
                raise self._sink_failure
            return
        task.result()
