"""One changelog partition's state in RocksDB, with the changelog offset it reflects.

Kafka Streams and quix-streams keep state the same way: the changelog topic is the truth, the local store
a cache of it that survives restarts. Each write batch carries the offset just past the last changelog
record it contains, atomically, so after any restart (SIGTERM or SIGKILL) recovery replays only the
changelog's tail. A store written by another format version, or one RocksDB cannot open, is discarded with
one log line and rebuilt from the changelog: bad state on disk never becomes a crash loop.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from rocksdict import AccessType, BlockBasedOptions, Cache, Options, Rdict, WriteBatch

__all__ = ["PartitionStore", "StoreInUse", "StoreOptions"]

log = logging.getLogger(__name__)

_META = b"\x00meta/"
_OFFSET = _META + b"changelog-offset"
_FORMAT = _META + b"format"


class StoreInUse(RuntimeError):
    """The store's files are locked by another open handle: never a reason to discard them."""


class StoreOptions:
    """RocksDB memory bounds shared by every partition store of a process: one block cache, and small
    write buffers per partition, so RSS follows configuration rather than the number of keys."""

    def __init__(
        self, cache_bytes: int = 64 * 1024 * 1024, write_buffer_bytes: int = 8 * 1024 * 1024
    ) -> None:
        self.cache = Cache(cache_bytes)
        self.write_buffer_bytes = write_buffer_bytes

    def rocksdb(self) -> Options:
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.set_write_buffer_size(self.write_buffer_bytes)
        opts.set_max_write_buffer_number(2)
        table = BlockBasedOptions()
        table.set_block_cache(self.cache)
        table.set_bloom_filter(10, False)
        table.set_cache_index_and_filter_blocks(True)
        opts.set_block_based_table_factory(table)
        return opts


class PartitionStore:
    def __init__(self, path: Path, format_id: bytes, options: StoreOptions | None = None) -> None:
        self.path = path
        self.format_id = format_id
        self.options = options or StoreOptions()
        self._db: Rdict | None = None
        self.discarded: str | None = None  # why the state found on disk was thrown away, if it was

    # --- opening -------------------------------------------------------------------------------------
    def open(self) -> PartitionStore:
        """Open the store on disk; a store of another format, or one that cannot be opened, is discarded."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = Rdict(str(self.path), self.options.rocksdb(), access_type=AccessType.read_write())
        except Exception as exc:  # corrupt or truncated files: the changelog has everything
            if "lock" in str(exc).lower():
                # held by another process (a leftover worker on the same directory) or an iterator still
                # alive here: the files are fine, and discarding them would destroy someone's state
                raise StoreInUse(f"state store {self.path} is in use: {exc}") from exc
            self._discard(f"cannot be opened ({exc})")
            db = Rdict(str(self.path), self.options.rocksdb(), access_type=AccessType.read_write())
        found = db.get(_FORMAT)
        if found is not None and found != self.format_id:
            db.close()
            self._discard(f"was written as {found!r}, this release writes {self.format_id!r}")
            db = Rdict(str(self.path), self.options.rocksdb(), access_type=AccessType.read_write())
        if found != self.format_id:
            db.put(_FORMAT, self.format_id)
        self._db = db
        return self

    def _discard(self, why: str) -> None:
        self.discarded = why
        log.warning("state store %s %s: discarded, it will be rebuilt from the changelog", self.path, why)
        shutil.rmtree(self.path, ignore_errors=True)

    def reset(self, why: str) -> None:
        """Forget everything (the changelog no longer matches what is on disk): rebuilt from offset 0."""
        self.close()
        self._discard(why)
        self.open()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> Rdict:
        if self._db is None:
            raise RuntimeError(f"state store {self.path} is not open")
        return self._db

    # --- reading and writing -------------------------------------------------------------------------
    @property
    def next_offset(self) -> int:
        """The changelog offset just past the last record reflected here (0: nothing yet)."""
        raw = self.db.get(_OFFSET)
        return int(raw) if raw is not None else 0

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.db.get(key)
        return value

    def apply(self, entries: Iterable[tuple[bytes, bytes | None]], next_offset: int | None) -> int:
        """Write ``entries`` (None deletes) and, with them atomically, how far the changelog now reaches.
        ``next_offset`` None leaves the recorded offset as it is. Returns the number of entries."""
        batch = WriteBatch(raw_mode=True)
        n = 0
        for key, value in entries:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
            n += 1
        if next_offset is not None and next_offset > self.next_offset:
            batch.put(_OFFSET, str(next_offset).encode())
        self.db.write(batch)
        return n

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every key and value, in key order (metadata left out)."""
        it = self.db.iter()
        it.seek_to_first()
        while it.valid():
            key = it.key()
            if not key.startswith(_META):
                yield key, it.value()
            it.next()

    def flush(self) -> None:
        self.db.flush()
