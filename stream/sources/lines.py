"""Reading line-oriented streams (X's NDJSON, Mastodon's server-sent events) with stall detection.

Splitting is pure (:class:`LineSplitter`) so partial lines, CRLF and oversize lines are tested without a
socket; :func:`read_lines` adds the network edge: a read that brings nothing for ``stall_timeout`` seconds
(not even a keep-alive) is a stall, and a connection closed in the middle of a line is a disconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp

from stream.sources.backoff import Failure
from stream.sources.base import SourceError

__all__ = ["LineSplitter", "read_lines"]


class LineSplitter:
    """Bytes in, complete lines out (without the line end); lines over ``max_line`` bytes are skipped."""

    def __init__(self, max_line: int = 1 << 20) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._skipping = False
        self.oversize = 0

    @property
    def partial(self) -> bytes:
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            piece = data[start:end]
            if self._skipping:
                self._skipping = False
            elif len(self._buf) + len(piece) > self.max_line:
                self.oversize += 1
            else:
                if self._buf:
                    piece = bytes(self._buf) + piece
                    self._buf.clear()
                lines.append(piece[:-1] if piece.endswith(b"\r") else piece)
            self._buf.clear()
            start = end + 1
        rest = data[start:]
        if not self._skipping:
            if len(self._buf) + len(rest) > self.max_line:
                self._buf.clear()
                self._skipping = True
                self.oversize += 1
            else:
                self._buf += rest
        return lines


async def read_lines(
    content: aiohttp.StreamReader,
    stall_timeout: float,
    on_bytes: Callable[[], None] | None = None,
    max_line: int = 1 << 20,
) -> AsyncIterator[bytes]:
    """Yield lines as they complete; raise :class:`SourceError` on a stall or a disconnect mid-line."""
    splitter = LineSplitter(max_line)
    while True:
        try:
            chunk = await asyncio.wait_for(content.readany(), stall_timeout)
        except TimeoutError:
            raise SourceError("stall", Failure.NETWORK) from None
        if not chunk:
            if splitter.partial:
                raise SourceError(
                    f"disconnected mid-line ({len(splitter.partial)} bytes lost)", Failure.NETWORK
                )
            return
        if on_bytes is not None:
            on_bytes()
        for line in splitter.feed(chunk):
            yield line
