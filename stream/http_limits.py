"""Limits of every HTTP server of the service: a worker's port, a push source's port, a source's metrics port.

Pure aiohttp helpers: no Kafka, no posts. What a client may cost a server:

- **Connections.** At most ``max_connections`` open at once per server; one more is answered with a bare
  ``503`` and closed at once, before anything of it is read.
- **Request heads.** A connection must deliver a complete request head (request line and headers) within
  ``header_timeout_s`` of opening, or of the first byte of its next request on a kept-alive connection;
  a connection idle between requests is closed after ``idle_timeout_s``. aiohttp bounds the size of a
  head (``max_line_size``, ``max_field_size``, ``max_headers``) but not the time it takes, so
  :class:`HttpGuard` wraps aiohttp's protocol in a small one of its own that keeps one timer per
  connection: armed while no request is being handled, disarmed by :meth:`HttpGuard.middleware` as soon
  as a head is complete (aiohttp hands a request to the application the moment its head is parsed).
- **Rate.** A token bucket per bearer token (for a request that presents one of the server's tokens) and
  per client address (every other request): over the rate, ``429`` with ``Retry-After``.
- **Bodies.** :class:`BodyLimit`: ``Content-Length`` over the limit is ``413`` before any of the body is
  read; a chunked body is cut off with ``413`` as soon as it passes the limit; the whole body must arrive
  within ``timeout_s`` (else ``408``); and at most ``concurrency`` bodies are read and handled at once (a
  request waits up to ``wait_s`` for its turn, then ``503`` with ``Retry-After``), so the bodies held in
  memory never exceed ``concurrency`` x ``max_bytes``.

Every refusal is reported to an ``on_refused(reason, status)`` callback (``status`` None when the
connection was closed without an answer), which each side turns into its own counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from pydantic import SecretStr

    from stream.settings import Settings

__all__ = [
    "GUARD_KEY",
    "BodyLimit",
    "BodyRefused",
    "HttpGuard",
    "HttpLimits",
    "OnRefused",
    "TokenBuckets",
    "guard_app",
    "runner_kwargs",
    "start_site",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: ``on_refused(reason, status)``: ``status`` is None when the connection was closed without an answer
OnRefused = Callable[[str, int | None], None]


def _ignore(reason: str, status: int | None) -> None:
    return None


#: reasons passed to ``on_refused``
CONNECTION_LIMIT = "connection_limit"
HEADER_TIMEOUT = "header_timeout"
IDLE_TIMEOUT = "idle_timeout"
RATE_LIMIT_TOKEN = "rate_limit_token"
RATE_LIMIT_IP = "rate_limit_ip"
BODY_TOO_LARGE = "body_too_large"
BODY_TIMEOUT = "body_timeout"
BUSY = "busy"

#: buckets kept per server; beyond it the least recently used one is dropped (an idle bucket is full anyway)
MAX_BUCKETS = 10_000

_BUSY_ANSWER = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 28\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections, retry\n"
)
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 28\r\n"
    b"Connection: close\r\n\r\nrequest head took too long.\n"
)

#: body bytes aiohttp buffers for a request not reading its body yet (it pauses the socket at twice this);
#: a request reading its body reads in chunks up to the body limit
READ_BUFSIZE = 64 * 1024

#: after answering a request whose body was not read (a 413, 401, 429), aiohttp reads and drops what
#: still comes for this long, so the client gets to read the answer before the connection closes
LINGER_S = 2.0

#: aiohttp's own bounds on a request head, passed to its request handler
HEAD_BOUNDS: dict[str, int] = {"max_line_size": 8190, "max_field_size": 8190, "max_headers": 64}


@dataclass(frozen=True)
class HttpLimits:
    """What one server allows a client; defaults are the settings' defaults."""

    header_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0
    body_timeout_s: float = 30.0
    max_connections: int = 256
    token_rate: float = 100.0
    ip_rate: float = 50.0
    burst_s: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            header_timeout_s=settings.http_header_timeout_s,
            idle_timeout_s=settings.http_idle_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
            max_connections=settings.http_max_connections,
            token_rate=settings.http_token_rate,
            ip_rate=settings.http_ip_rate,
            burst_s=settings.http_rate_burst_s,
        )


class TokenBuckets:
    """One token bucket per key: ``rate`` requests per second, bursts of ``rate * burst_s`` (at least 1).

    :meth:`take` answers 0 when the request may go, else the seconds until it may. ``rate`` 0: no limit.
    """

    def __init__(
        self,
        rate: float,
        burst_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_BUCKETS,
    ) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * burst_s)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take(self, key: str) -> float:
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def _secret(token: SecretStr | str | None) -> bytes | None:
    if token is None:
        return None
    value = token if isinstance(token, str) else token.get_secret_value()
    return value.strip().encode() or None  # a blank token would let "Bearer " in


def _too_many(wait: float) -> web.Response:
    retry = max(1, math.ceil(wait))
    return web.json_response(
        {"error": "too many requests", "retry_after_s": retry},
        status=429,
        headers={"Retry-After": str(retry)},
    )


class _GuardedProtocol(asyncio.Protocol):
    """Stands between the transport and aiohttp's request handler: counts the connection and times heads."""

    def __init__(self, guard: HttpGuard, make_handler: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._make_handler = make_handler
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = 0  # requests of this connection being handled
        self._served = 0  # requests handed to the application so far
        self._head_started = False  # bytes of the next head arrived since the connection went idle

    # --- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        guard = self._guard
        if len(guard.connections) >= guard.limits.max_connections:
            guard.on_refused(CONNECTION_LIMIT, 503)
            transport.write(_BUSY_ANSWER)
            transport.close()
            return
        self._transport = transport
        guard.connections[transport] = self
        self._inner = self._make_handler()
        self._inner.connection_made(transport)
        self._arm(guard.limits.header_timeout_s)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._busy == 0 and not self._head_started and data:
            self._head_started = True  # a new head begins: from now on it has header_timeout_s
            if self._served:
                self._arm(self._guard.limits.header_timeout_s)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._inner is None:
            return
        if self._transport is not None:
            self._guard.connections.pop(self._transport, None)
        inner, self._inner = self._inner, None
        inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # --- what the middleware tells -------------------------------------------------------------------
    def request_started(self) -> None:
        self._busy += 1
        self._served += 1
        self._disarm()

    def request_finished(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self._inner is not None:
            self._head_started = False
            self._arm(self._guard.limits.idle_timeout_s)

    # --- the timer ----------------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        transport = self._transport
        if self._busy or transport is None or transport.is_closing():
            return
        partial = self._head_started or self._served == 0
        self._guard.on_refused(HEADER_TIMEOUT if partial else IDLE_TIMEOUT, None)
        if transport.get_write_buffer_size():
            transport.abort()  # a client that does not read its answers: no flushing first
            return
        if self._head_started and self._served == 0:
            transport.write(_TIMEOUT_ANSWER)  # only before the first request: no answer can be in flight
        transport.close()


class HttpGuard:
    """Connection limit, head and idle timeouts, and rate limits of one server.

    Put :attr:`middleware` first on the application, and start the server with :func:`start_site` (a
    server started otherwise, e.g. by aiohttp's test server, still gets the rate limits). ``tokens`` are
    the bearer tokens the server accepts: a request presenting one is limited per token, any other per
    client address (so a flood of wrong tokens is limited too).
    """

    def __init__(
        self,
        limits: HttpLimits,
        *,
        tokens: Iterable[SecretStr | str | None] = (),
        on_refused: OnRefused | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.on_refused: OnRefused = on_refused or _ignore
        self.connections: dict[asyncio.BaseTransport, _GuardedProtocol] = {}
        self._tokens = [t for t in (_secret(x) for x in tokens) if t is not None]
        self._per_token = TokenBuckets(limits.token_rate, limits.burst_s, clock=clock)
        self._per_ip = TokenBuckets(limits.ip_rate, limits.burst_s, clock=clock)

    def protocol_factory(
        self, make_handler: Callable[[], asyncio.Protocol]
    ) -> Callable[[], asyncio.Protocol]:
        return lambda: _GuardedProtocol(self, make_handler)

    def _bucket(self, request: web.Request) -> tuple[TokenBuckets, str, str]:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._tokens:
            presented = given.strip().encode()
            for index, token in enumerate(self._tokens):
                if hmac.compare_digest(presented, token):
                    return self._per_token, f"token:{index}", RATE_LIMIT_TOKEN
        return self._per_ip, f"ip:{request.remote}", RATE_LIMIT_IP

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        conn = self.connections.get(request.transport) if request.transport is not None else None
        if conn is not None:
            conn.request_started()
        try:
            buckets, key, reason = self._bucket(request)
            wait = buckets.take(key)
            if wait > 0:
                self.on_refused(reason, 429)
                return _too_many(wait)
            return await handler(request)
        finally:
            if conn is not None:
                conn.request_finished()


class BodyRefused(Exception):
    """A body not read, or not read whole: the answer's status, reason (for ``on_refused``) and message."""

    def __init__(self, status: int, reason: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def finish(self, resp: web.Response) -> web.Response:
        """``resp`` made ready to send: ``Retry-After`` when there is one, and after a 408 or 413 the
        connection closes (the rest of that body is not wanted)."""
        resp.headers.update(self.headers())
        if self.status in (408, 413):
            resp.force_close()
        return resp

    def response(self) -> web.Response:
        return self.finish(web.json_response({"error": self.message}, status=self.status))


class BodyLimit:
    """Bounded, timed body reads, at most ``concurrency`` at once (each held until its request is done).

    The application's ``client_max_size`` must be ``max_bytes`` (the body is read with aiohttp's
    ``request.read()``, which stops there, and keeps the bytes for later ``read()``/``json()`` calls).
    """

    def __init__(self, max_bytes: int, *, timeout_s: float, concurrency: int, wait_s: float) -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.wait_s = wait_s
        self._slots = asyncio.Semaphore(concurrency)

    def check_length(self, request: web.BaseRequest) -> None:
        """413 at once for a declared length over the limit, before a byte of the body is read."""
        if request.content_length is not None and request.content_length > self.max_bytes:
            raise BodyRefused(413, BODY_TOO_LARGE, f"body over {self.max_bytes} bytes")

    @contextlib.asynccontextmanager
    async def read(self, request: web.BaseRequest) -> AsyncIterator[bytes]:
        """The whole body, held in a slot until the ``async with`` block ends; raises :class:`BodyRefused`."""
        self.check_length(request)
        try:
            async with asyncio.timeout(self.wait_s):
                await self._slots.acquire()
        except TimeoutError:
            raise BodyRefused(503, BUSY, "busy: too many requests in progress, retry later", 1) from None
        try:
            yield await self._read(request)
        finally:
            # aiohttp keeps a request, and the body ``read()`` cached on it, until the connection's next
            # request: a kept-alive connection would hold its last body for as long as it idles.
            request._read_bytes = None
            self._slots.release()

    async def _read(self, request: web.BaseRequest) -> bytes:
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await request.read()
        except TimeoutError:
            raise BodyRefused(408, BODY_TIMEOUT, f"body not received within {self.timeout_s:g} s") from None
        except web.HTTPRequestEntityTooLarge:
            raise BodyRefused(413, BODY_TOO_LARGE, f"body over {self.max_bytes} bytes") from None
        if len(body) > self.max_bytes:  # an application whose client_max_size is larger
            raise BodyRefused(413, BODY_TOO_LARGE, f"body over {self.max_bytes} bytes")
        return body

    def middleware(self, on_refused: OnRefused | None = None) -> Any:
        """Reads every request body within the limits before the handler runs (the handler's own ``read``
        or ``json`` then gets the bytes kept); the slot is held until the handler is done."""
        report = on_refused or _ignore

        @web.middleware
        async def bounded_body(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.body_exists or request.match_info.http_exception is not None:
                return await handler(request)  # no body, or no route to take it (404, 405): not read
            try:
                async with self.read(request):
                    return await handler(request)
            except BodyRefused as refused:
                report(refused.reason, refused.status)
                return refused.response()

        return bounded_body


#: where an application keeps the guard :func:`start_site` serves it with
GUARD_KEY: web.AppKey[HttpGuard] = web.AppKey("http_guard", HttpGuard)


class _GuardedSite(web.BaseSite):
    """A TCP site whose connections go through an :class:`HttpGuard`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: HttpGuard, backlog: int) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.protocol_factory(server), self._host, self._port, backlog=self._backlog
        )
        sockets: Any = self._server.sockets or []
        if sockets:
            self._port = int(sockets[0].getsockname()[1])


async def start_site(
    runner: web.BaseRunner, host: str, port: int, guard: HttpGuard, backlog: int = 128
) -> int:
    """Listen on ``host:port`` (0: any free port) with ``guard`` on every connection; returns the port.

    Make the runner with :func:`runner_kwargs` so aiohttp's own limits match.
    """
    site = _GuardedSite(runner, host, port, guard, backlog)
    await site.start()
    return site.port


def runner_kwargs(limits: HttpLimits) -> dict[str, Any]:
    """aiohttp server options that go with ``limits``: head size bounds, a small buffer for bodies not
    being read yet, a short lingering close, and its keep-alive timer left to the guard (set past the idle
    timeout, so the guard's timer, which counts, fires first)."""
    return {
        **HEAD_BOUNDS,
        "read_bufsize": READ_BUFSIZE,
        "keepalive_timeout": limits.idle_timeout_s + limits.header_timeout_s + 1.0,
        "lingering_time": min(LINGER_S, limits.body_timeout_s),
    }


def guard_app(app: web.Application, guard: HttpGuard) -> None:
    """Put ``guard``'s middleware first on ``app``, and keep the guard there (``app[GUARD_KEY]``)."""
    app.middlewares.insert(0, guard.middleware)
    app[GUARD_KEY] = guard
