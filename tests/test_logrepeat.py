"""Repeated log lines are held back and counted, per handler, so an outage does not flood the log."""

from __future__ import annotations

import logging
import sys

from stream.logrepeat import RepeatFilter, basic_config, install


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str, *args: object, name: str = "aiokafka.conn", level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args or None, None)


def test_a_repeated_line_is_written_once_per_window_then_with_its_count() -> None:
    clock = Clock()
    f = RepeatFilter(window_s=30, clock=clock)
    passed = []
    for second in range(95):  # the same error every 0.5 s for 95 s, as aiokafka does with its broker gone
        for half in (0.0, 0.5):
            clock.now = second + half
            r = record("Unable connect to node with id %s: %s", 111, "[Errno 111] Connect call failed")
            if f.filter(r):
                passed.append((clock.now, r.getMessage()))
    assert [t for t, _ in passed] == [0.0, 30.0, 60.0, 90.0]
    assert passed[0][1] == "Unable connect to node with id 111: [Errno 111] Connect call failed"
    assert passed[1][1] == passed[0][1] + " (59 more like this in the last 30 s not shown)"


def test_other_messages_levels_and_loggers_are_not_held_back() -> None:
    f = RepeatFilter(window_s=30, clock=Clock())
    assert f.filter(record("fetch failed: %s", "A"))
    assert f.filter(record("fetch failed: %s", "B"))  # another message
    assert f.filter(record("fetch failed: %s", "A", level=logging.WARNING))
    assert f.filter(record("fetch failed: %s", "A", name="stream.worker.runtime"))
    assert not f.filter(record("fetch failed: %s", "A"))
    for _ in range(3):  # a traceback printed to stderr, which the worker logs line by line: kept whole
        assert f.filter(record("^", name="mode.redirect", level=logging.WARNING))


def test_memory_stays_bounded_when_every_message_differs() -> None:
    clock = Clock()
    f = RepeatFilter(window_s=30, max_keys=100, clock=clock)
    for i in range(10_000):
        clock.now = i * 0.001
        assert f.filter(record("offset %s", i))
    assert len(f._seen) <= 100


def test_each_handler_gets_its_own_filter_and_sees_every_first_line() -> None:
    a, b = logging.Handler(), logging.Handler()
    assert install([a, b], window_s=30) == 2
    assert install([a], window_s=30) == 0  # already there
    assert install([logging.Handler()], window_s=0) == 0  # 0 turns it off
    r = record("broker down")
    assert a.filter(r) and b.filter(r)  # one record, two handlers: both write it
    assert not a.filter(record("broker down"))


def test_a_command_line_filters_only_the_handler_it_creates() -> None:
    """Called in-process (tests, an embedding program), it must not change handlers it did not make."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    theirs = logging.Handler()
    try:
        root.handlers = [theirs]
        basic_config(logging.INFO)  # basicConfig adds nothing when the root already has a handler
        assert root.handlers == [theirs] and theirs.filters == []
        root.handlers = []
        basic_config(logging.INFO)
        [ours] = root.handlers
        assert [type(f) for f in ours.filters] == [RepeatFilter]
    finally:
        root.handlers, root.level = saved, level


def test_a_different_crash_is_never_held_back_behind_an_earlier_one() -> None:
    # A stage crashed, then crashed again on another cause: the second traceback was held back (same line),
    # and the log showed no cause. The same failure repeating is still held back and counted.
    f = RepeatFilter(window_s=30, clock=Clock())

    def crash(exc: Exception) -> logging.LogRecord:
        try:
            raise exc
        except Exception:
            info = sys.exc_info()
        return logging.LogRecord("stream.worker", logging.ERROR, __file__, 1, "agent crashed", None, info)

    first = crash(OverflowError("date value out of range"))
    assert f.filter(first)
    assert not f.filter(crash(OverflowError("date value out of range")))  # the same again: counted
    assert f.filter(crash(KeyError("queue")))  # another cause: shown
