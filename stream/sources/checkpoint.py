"""Where each source resumes: one small JSON file per source, replaced atomically.

The file is written only after the producer has flushed every post the position covers (see
:class:`stream.sources.emitter.Emitter`), so a crash at any moment leaves a position at or before the last
stored post: a restart may re-send a few posts (the pipeline drops them as duplicates) but never skips any.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import orjson

__all__ = ["CheckpointStore"]

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class CheckpointStore:
    """``<directory>/<source name>.json``; names are sanitised so any source label is a safe file name."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        safe = _SAFE.sub("_", name).strip("._") or "source"
        return self.directory / f"{safe}.json"

    def load(self, name: str) -> dict[str, Any]:
        """The stored state, or ``{}`` when there is none; an unreadable file is kept aside, not trusted."""
        path = self.path(name)
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            bad = path.with_suffix(".corrupt")
            with contextlib.suppress(OSError):
                path.replace(bad)
            log.error("checkpoint %s unreadable (%s); moved to %s, starting fresh", path, exc, bad)
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, name: str, state: dict[str, Any]) -> None:
        """Write to a temporary file, fsync, then rename over the old one: readers see old or new, whole."""
        path = self.path(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(state, option=orjson.OPT_SORT_KEYS))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()
