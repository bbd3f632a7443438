"""The same log line once per window, with a count: a Kafka client whose broker is down logs the same error
over and over.

Measured here: a worker whose broker was gone wrote ~155 lines/s for 17 minutes (aiokafka's "Unable
connect to node", "Unable to update metadata", "Failed fetch messages" and the like). In an outage that
buries whatever else the log says and fills disks. The first occurrence of a message goes out as it is.
Repeats within the window are counted, not written, and the next occurrence after the window says how many
were held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

__all__ = ["RepeatFilter", "basic_config", "install", "repeat_window_s"]

_Key = tuple[str, int, str]


class RepeatFilter(logging.Filter):
    """Lets one record per (logger, level, message) through per ``window_s``.

    A burst that stops inside a window is never followed by its count: the price of keeping this a plain
    filter, with no timer of its own. ``max_keys`` bounds memory when messages vary (ids, offsets).
    """

    #: Lines printed to stdout/stderr, which Faust's worker logs line by line through this logger: a
    #: traceback is many records, and holding back its repeated lines ("^", "await future") would garble it.
    EXEMPT = frozenset({"mode.redirect"})

    def __init__(
        self, window_s: float = 30.0, max_keys: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._seen: dict[_Key, list[float]] = {}  # key -> [window start, records held back in it]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in self.EXEMPT:
            return True

        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format itself: leave it to the handler's error path
            return True
        # A traceback's exception is part of the line: a different failure is never held back behind an
        # earlier one (a crash that followed another went unseen), while the same one repeating is counted.
        failure = record.exc_info[1] if record.exc_info else None
        key = (record.name, record.levelno, message if failure is None else f"{message}|{failure!r}")
        now = self.clock()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.window_s:
            entry[1] += 1
            return False
        if entry is None:
            if len(self._seen) >= self.max_keys:
                self._evict(now)
        elif entry[1]:
            held, since = entry[1], now - entry[0]
            record.msg = f"{message} ({held:.0f} more like this in the last {since:.0f} s not shown)"
            record.args = None
        self._seen[key] = [now, 0]
        return True

    def _evict(self, now: float) -> None:
        expired = [k for k, (start, _) in self._seen.items() if now - start >= self.window_s]
        for k in expired or list(self._seen)[: self.max_keys // 2]:
            del self._seen[k]


def install(handlers: Iterable[logging.Handler], window_s: float = 30.0) -> int:
    """A filter of its own on each handler (a shared one would pass a record to the first handler and hold
    it back from the second). Returns how many handlers got one; a handler that has one keeps it. A window
    of 0 installs nothing."""
    added = 0
    for handler in handlers if window_s > 0 else ():
        if not any(isinstance(x, RepeatFilter) for x in handler.filters):
            handler.addFilter(RepeatFilter(window_s))
            added += 1
    return added


def repeat_window_s() -> float:
    """``TRIAGE_LOG_REPEAT_WINDOW_S`` for a command line that sets up logging before it reads its settings;
    the default if the environment is invalid (the command reports that itself)."""
    from stream.settings import Settings

    try:
        return Settings().log_repeat_window_s
    except Exception:
        return float(Settings.model_fields["log_repeat_window_s"].default)


def basic_config(level: int, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
    """``logging.basicConfig`` for a command line, with repeats held back on the handler it creates. Handlers
    that were there before (an embedding program's, a test runner's) are left as they are."""
    root = logging.getLogger()
    before = set(root.handlers)
    logging.basicConfig(level=level, format=fmt)
    install([h for h in root.handlers if h not in before], repeat_window_s())
