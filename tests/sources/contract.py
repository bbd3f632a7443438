"""The contract every source adapter keeps, written once and subclassed per adapter (as faststream's test
cases are subclassed per broker).

An adapter's test module subclasses the most specific level that fits it and fills in the hooks: how to
build the source against its fake platform, what a platform payload of brand post ``i`` looks like, which
payloads are malformed or not for ticketing, and how the fake platform hands payloads over. Each level's
tests then run against that adapter; its own module keeps only what is particular to the platform.

- :class:`SourceContract`, every adapter: a payload becomes a valid post with its platform, ids, author and
  brand; malformed payloads are skipped and counted, never fatal; a payload dated out of the post range
  (or out of what UTC can hold) is malformed, and the source goes on without reconnecting; items not for
  ticketing are filtered and counted; every item received is accounted for; a stop flushes what waits;
  bad configuration is named.
- :class:`PullSourceContract`, adapters that read (streams, polls, replay): a slow sink pauses reading; a
  restart does not produce again what was stored.
- :class:`StreamSourceContract`, long-lived connections: failures back off by kind and reset after a good
  connection; a silent connection is a stall.
- :class:`PushSourceContract`, adapters the platform calls: a delivery is acknowledged only once stored;
  forged credentials are refused and counted; without Kafka the answer is 503 and the resend is stored.

Payloads are delivered as ``payload(1)``, the extras under test, then ``payload(9)``: extras that must be
ordered (cursors, ids) use indices 2 to 8.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import jsonschema
import orjson
import pytest

from schemas.export import SCHEMA_DIR
from stream.sources.base import ConfigError, Source
from stream.sources.push import PushSource
from stream.sources.testing import FakeClock, MemorySink, wait_for

__all__ = [
    "POISON_DATES",
    "PullSourceContract",
    "PushSourceContract",
    "SourceContract",
    "StreamSourceContract",
    "count",
]

BRAND = "acme"
#: dates any user of a platform can give a post, and no post may have: after the last instant a datetime
#: holds once in UTC, before the first, far ahead, and before the post range (2006-01-01)
POISON_DATES = (
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:30:00+01:00",
    "2999-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
)
POST_SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "post.schema.json").read_text()))

Until = Callable[[Source, MemorySink], bool]


def count(source: Source, metric: str, **labels: str) -> float:
    """A source metric by its name after ``triage_source_`` (``posts_received_total``, ``connected``...)."""
    value = source.metrics.registry.get_sample_value(
        f"triage_source_{metric}", {"source": source.name, **labels}
    )
    return value or 0.0


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(_contains(actual.get(k), v) for k, v in expected.items())
    return bool(actual == expected)


class SourceContract:
    """What every adapter does with what the platform gives it. Not collected itself (no ``Test`` prefix)."""

    #: the ``platform`` of the posts ``payload(i)`` becomes
    platform: ClassVar[str]
    #: settings overrides that ``make_source`` must refuse, each with the message the ConfigError matches
    config_errors: ClassVar[list[tuple[dict[str, Any], str]]]
    #: whether a clean stop leaves a resume position in the checkpoint store
    keeps_position: ClassVar[bool] = False

    tmp_path: Path

    @pytest.fixture(autouse=True)
    def _contract_tmp_path(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    # --- hooks -------------------------------------------------------------------------------------
    def make_source(self, sink: MemorySink, clock: FakeClock | None = None, **settings: Any) -> Source:
        """The adapter, configured against the fake platform and filtering for the brand ``acme``;
        ``settings`` override (or blank) any setting."""
        raise NotImplementedError

    def payload(self, i: int) -> Any:
        """The platform's payload of brand post ``i`` (an event, line, listing child, feed item, row...)."""
        raise NotImplementedError

    def expected(self, i: int) -> dict[str, Any]:
        """Fields (``post_id`` at least) the post of ``payload(i)`` has; nested dicts compare as subsets."""
        raise NotImplementedError

    def malformed_payloads(self) -> list[Any]:
        """Payloads that cannot become posts, each counted once as malformed."""
        raise NotImplementedError

    def dated(self, i: int, when: str) -> Any:
        """``payload(i)`` with its date (``created_at``, ``createdAt``, ``pubDate``...) set to ``when``, an
        ISO 8601 string, as a user of the platform could set it."""
        raise NotImplementedError

    def unwanted_payloads(self) -> list[Any]:
        """Well-formed payloads not to ticket (off-brand, not a post, already seen), each counted once as
        filtered; ``[]`` when the adapter produces every valid post."""
        raise NotImplementedError

    def serve(self, payloads: list[Any]) -> None:
        """Have the fake platform hand ``payloads`` over, in order, to the next source that runs."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def running(self, source: Source) -> AsyncIterator[asyncio.Task[None]]:
        """Run ``source`` for the body of the block, then stop it and wait for the end of ``run``."""
        task = asyncio.create_task(source.run())
        try:
            yield task
        finally:
            source.stop()
            await asyncio.wait_for(task, 5)

    # --- helpers -----------------------------------------------------------------------------------
    def post_id(self, i: int) -> str:
        return str(self.expected(i)["post_id"])

    async def run(
        self,
        payloads: list[Any],
        until: Until,
        sink: MemorySink | None = None,
        clock: FakeClock | None = None,
        **settings: Any,
    ) -> tuple[Source, MemorySink]:
        """Serve ``payloads``, run a new source until ``until(source, sink)`` holds or it ends, stop it."""
        sink = sink if sink is not None else MemorySink()
        self.serve(payloads)
        source = self.make_source(sink, clock, **settings)
        await self.run_source(source, until)
        return source, sink

    async def run_source(self, source: Source, until: Until) -> None:
        sink = source.emitter.sink
        assert isinstance(sink, MemorySink)
        async with self.running(source) as task:
            await wait_for(lambda: until(source, sink) or task.done())

    def assert_counted(self, source: Source, produced: int, filtered: int = 0, malformed: int = 0) -> None:
        """Exactly these counts, and every item received is accounted for as one of them."""
        got = {
            name: count(source, f"{name}_total")
            for name in ("posts_received", "posts_produced", "posts_filtered", "malformed")
        }
        assert got == {
            "posts_received": produced + filtered + malformed,
            "posts_produced": produced,
            "posts_filtered": filtered,
            "malformed": malformed,
        }

    # --- the contract --------------------------------------------------------------------------------
    async def test_a_payload_becomes_a_valid_post_with_its_platform_ids_author_and_brand(self) -> None:
        source, sink = await self.run([self.payload(1)], lambda s, k: len(k.stored) == 1, brand=BRAND)
        [post] = sink.stored
        assert [e.message for e in POST_SCHEMA.iter_errors(post)] == []
        assert post["platform"] == self.platform and post["brand"] == BRAND
        assert post["schema_version"] == 1 and post["source"] and post["author"]["id"]
        assert _contains(post, self.expected(1)), (post, self.expected(1))
        self.assert_counted(source, produced=1)

    async def test_malformed_payloads_are_skipped_and_counted_not_fatal(self) -> None:
        bad = self.malformed_payloads()
        assert bad, "every adapter can be sent something it cannot read"
        source, sink = await self.run(
            [self.payload(1), *bad, self.payload(9)],
            lambda s, k: len(k.added) == 2 and count(s, "malformed_total") >= len(bad),
        )
        assert sink.ids == [self.post_id(1), self.post_id(9)]
        self.assert_counted(source, produced=2, malformed=len(bad))

    async def test_a_date_out_of_range_is_malformed_and_the_source_goes_on_without_reconnecting(
        self,
    ) -> None:
        poison = [self.dated(2 + n, when) for n, when in enumerate(POISON_DATES)]
        source, sink = await self.run(
            [self.payload(1), *poison, self.payload(9)],
            lambda s, k: len(k.added) == 2 and count(s, "malformed_total") >= len(poison),
        )
        assert sink.ids == [self.post_id(1), self.post_id(9)]
        self.assert_counted(source, produced=2, malformed=len(poison))
        self.assert_no_reconnect(source)

    def assert_no_reconnect(self, source: Source) -> None:
        assert source.reconnects == 0

    async def test_what_is_not_to_be_ticketed_is_dropped_and_counted_as_filtered(self) -> None:
        unwanted = self.unwanted_payloads()
        if not unwanted:
            pytest.skip(f"{type(self).__name__}: every valid post is produced, there is nothing to filter")
        source, sink = await self.run(
            [self.payload(1), *unwanted, self.payload(9)],
            lambda s, k: len(k.added) == 2 and count(s, "posts_filtered_total") >= len(unwanted),
        )
        assert sink.ids == [self.post_id(1), self.post_id(9)]
        self.assert_counted(source, produced=2, filtered=len(unwanted))

    async def test_a_stop_flushes_what_waits_and_leaves_the_source_disconnected(self) -> None:
        # no periodic flush during the test: what is stored was flushed by the stop
        source, sink = await self.run(
            [self.payload(1), self.payload(2)],
            lambda s, k: len(k.added) == 2,
            source_commit_interval_s=3600,
        )
        assert sink.ids == [self.post_id(1), self.post_id(2)] and sink.stored == sink.added
        assert not source.connected and count(source, "connected") == 0
        if self.keeps_position:
            assert source.checkpoints.load(source.name), "the resume position is stored"

    def test_missing_or_wrong_configuration_is_an_error_naming_it(self) -> None:
        self.serve([])  # the platform is there; only the configuration is wrong
        for settings, message in self.config_errors:
            with pytest.raises(ConfigError, match=message):
                self.make_source(MemorySink(), **settings)


class PullSourceContract(SourceContract):
    """Adapters that read from the platform at their own pace: streams, polls and replay."""

    keeps_position = True
    #: why posts the platform sends again after a restart are produced again (``None``: they are not)
    restart_produces_again: ClassVar[str | None] = None

    async def test_a_slow_sink_pauses_reading(self) -> None:
        sink = MemorySink()
        sink.gate.clear()
        self.serve([self.payload(i) for i in range(1, 41)])
        source = self.make_source(sink)
        try:
            async with self.running(source):
                await wait_for(lambda: count(source, "posts_received_total") >= 1)
                await asyncio.sleep(0.3)
                # the first post waits on the sink, and nothing more is read meanwhile
                assert count(source, "posts_received_total") == 1 and sink.added == []
                sink.gate.set()
                await wait_for(lambda: len(sink.added) == 40)
        finally:
            sink.gate.set()
        assert sink.ids == [self.post_id(i) for i in range(1, 41)]
        assert count(source, "backpressure_seconds_total") >= 0.25

    async def test_a_restart_does_not_produce_again_what_was_stored(self) -> None:
        if self.restart_produces_again:
            pytest.skip(self.restart_produces_again)
        await self.run([self.payload(1), self.payload(2)], lambda s, k: len(k.stored) == 2)
        # the platform sends the first two again (a rewind, the same listing, feed or file) and a new one
        _source, sink = await self.run(
            [self.payload(1), self.payload(2), self.payload(3)], lambda s, k: len(k.added) >= 1
        )
        assert sink.ids == [self.post_id(3)]


class StreamSourceContract(PullSourceContract):
    """Adapters that hold a connection open and read what the platform pushes down it."""

    def connections(self, *plans: tuple[int | str, list[Any]]) -> None:
        """How the fake platform answers the next connections, in order. A plan is ``(status, [])`` to
        refuse with that HTTP status, or ``(end, payloads)`` to deliver the payloads and then: ``"hold"``
        the connection open and alive (with the platform's keep-alives, if it sends any), ``"close"`` it,
        or keep it ``"silent"`` (open, not a byte more). Afterwards the connection is held, empty."""
        raise NotImplementedError

    def connection_count(self) -> int:
        """Connections the fake platform has seen so far."""
        raise NotImplementedError

    def serve(self, payloads: list[Any]) -> None:
        self.connections(("hold", payloads))

    def assert_no_reconnect(self, source: Source) -> None:
        super().assert_no_reconnect(source)
        assert self.connection_count() == 1

    async def test_failures_back_off_by_kind_and_reset_after_a_good_connection(self) -> None:
        clock, sink = FakeClock(), MemorySink()
        self.connections((429, []), (503, []), (500, []), ("close", [self.payload(1)]), (503, []))
        source = self.make_source(sink, clock)
        await self.run_source(source, lambda s, k: self.connection_count() >= 6)
        # rate limited: from a minute; HTTP errors: 5 s, doubling; a good connection resets the counts,
        # so its end reconnects after 0.25 s and the next 503 waits 5 s again
        assert clock.sleeps[:5] == [60, 5, 10, 0.25, 5]
        assert count(source, "reconnects_total", reason="rate_limit") == 1
        assert count(source, "reconnects_total", reason="http") >= 3
        assert sink.ids == [self.post_id(1)]

    async def test_a_silent_connection_is_a_stall_and_is_replaced(self) -> None:
        clock, sink = FakeClock(), MemorySink()
        self.connections(("silent", [self.payload(1)]), ("hold", [self.payload(2)]))
        source = self.make_source(sink, clock, source_stall_timeout_s=0.3)
        await self.run_source(source, lambda s, k: len(k.added) == 2)
        assert sink.ids == [self.post_id(1), self.post_id(2)]
        assert count(source, "reconnects_total", reason="stall") == 1 and clock.sleeps[0] == 0.25


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class PushSourceContract(SourceContract):
    """Adapters the platform calls: ``serve`` keeps the payloads, ``running`` POSTs them once listening."""

    #: the endpoint deliveries are POSTed to
    path: ClassVar[str]
    #: the status of a delivery whose posts are stored
    accepted: ClassVar[int]

    http: aiohttp.ClientSession

    def credentials(self, body: bytes) -> dict[str, str]:
        """Headers that authenticate a request with this body (a token, a signature)."""
        raise NotImplementedError

    def forged_credentials(self, body: bytes) -> list[dict[str, str]]:
        """Headers of requests with this body that must be refused: missing, wrong, for another body."""
        raise NotImplementedError

    def check_refusal(self, answer: Answer) -> None:
        """Anything particular about the adapter's 401 (e.g. a ``WWW-Authenticate`` header)."""

    def serve(self, payloads: list[Any]) -> None:
        self.pending = list(payloads)

    @contextlib.asynccontextmanager
    async def running(self, source: Source) -> AsyncIterator[asyncio.Task[None]]:
        assert isinstance(source, PushSource)
        task = asyncio.create_task(source.run())
        try:
            await wait_for(lambda: source.port is not None or task.done())
            async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{source.port}") as http:
                self.http = http
                for payload in getattr(self, "pending", []):
                    await self.post(payload)
                yield task
        finally:
            source.stop()
            await asyncio.wait_for(task, 5)

    async def post(self, payload: Any, headers: dict[str, str] | None = None) -> Answer:
        """POST a payload (bytes as they are, anything else as JSON), signed unless ``headers`` are given."""
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        given = self.credentials(body) if headers is None else headers
        async with self.http.post(
            self.path, data=body, headers={"Content-Type": "application/json", **given}
        ) as resp:
            return Answer(resp.status, dict(resp.headers), await resp.read())

    async def test_a_delivery_is_acknowledged_only_once_its_posts_are_stored(self) -> None:
        sink = MemorySink()
        self.serve([])
        async with self.running(self.make_source(sink)):
            answer = await self.post(self.payload(1))
            assert answer.status == self.accepted
            assert sink.ids == [self.post_id(1)] and sink.stored == sink.added

    async def test_forged_credentials_are_refused_counted_and_nothing_is_stored(self) -> None:
        sink = MemorySink()
        source = self.make_source(sink)
        body = orjson.dumps(self.payload(1))
        forged = self.forged_credentials(body)
        self.serve([])
        async with self.running(source):
            for headers in forged:
                answer = await self.post(self.payload(1), headers)
                assert answer.status == 401, headers
                self.check_refusal(answer)
        assert sink.added == [] and count(source, "signature_failures_total") == len(forged)
        self.assert_counted(source, produced=0)

    async def test_without_kafka_the_answer_is_503_and_the_resend_is_stored(self) -> None:
        sink = MemorySink()
        source = self.make_source(sink)
        self.serve([])
        async with self.running(source):
            sink.fail = RuntimeError("broker down")
            assert (await self.post(self.payload(1))).status == 503
            sink.fail = None
            assert (await self.post(self.payload(1))).status == self.accepted
        assert sink.ids == [self.post_id(1)] and sink.stored == sink.added
        assert count(source, "requests_rejected_total", status="503") == 1
