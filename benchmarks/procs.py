"""The processes of a benchmark run: broker, workers (Faust, limit loop, naive peer) and the source.

Every process is started in its own session and stopped by its PID (SIGTERM, then SIGKILL), and an
``Env`` stops all of them, and the broker, on any exit: an error, Ctrl-C or SIGTERM. Only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from stream.kafka.admin import ensure_topics
from stream.local.broker import EmbeddedBroker, free_port
from stream.local.children import stop_process
from stream.local.promtext import Scrape, scrape
from stream.settings import Settings

__all__ = ["KINDS", "Env", "Proc", "SourceProc"]

KINDS = {
    "faust": ["-m", "stream", "worker"],
    "limit": ["-m", "benchmarks.limit_loop"],
    "naive": ["-m", "benchmarks.naive_peer"],
}


_LIVE: set[int] = set()  # PIDs this harness started and has not seen stop


@atexit.register
def _kill_leftovers() -> None:
    """Last resort (an exception escaped every ``finally``): SIGKILL what we started, by PID."""
    for pid in list(_LIVE):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _stop_pid(proc: subprocess.Popen[bytes], timeout: float) -> None:
    _LIVE.discard(proc.pid)
    stop_process(proc, timeout)


class Proc:
    """A worker-like process (Faust worker, limit loop or naive peer) serving /metrics on its own port."""

    def __init__(self, name: str, kind: str, env: dict[str, str], log_path: Path, web_port: int) -> None:
        self.name, self.kind, self.env, self.log_path, self.web_port = name, kind, env, log_path, web_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/metrics"

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *KINDS[self.kind]],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _LIVE.add(self.process.pid)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is not None:
            _stop_pid(self.process, timeout)

    async def scrape(self) -> Scrape | None:
        try:
            return await asyncio.to_thread(scrape, self.metrics_url, 2.0)
        except OSError:
            return None

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            if await self.scrape() is not None:
                return
            await asyncio.sleep(0.25)
        raise TimeoutError(f"{self.name} not serving metrics after {timeout:.0f}s; see {self.log_path}")


class SourceProc:
    """``python -m benchmarks.source``: its progress lines are read as they come."""

    def __init__(self, env: dict[str, str], args: list[str], log_path: Path) -> None:
        self.env, self.args, self.log_path = env, args, log_path
        self.process: asyncio.subprocess.Process | None = None
        self.progress: list[tuple[float, int]] = []  # (unix time, posts handed to the producer)
        self.result: dict[str, Any] | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def sent(self) -> int:
        return self.progress[-1][1] if self.progress else 0

    async def start(self) -> SourceProc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.source",
                *self.args,
                env=self.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        _LIVE.add(self.process.pid)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            doc = orjson.loads(line)
            self.progress.append((doc["at"], doc["sent"]))
            if doc.get("done"):
                self.result = doc

    @property
    def done(self) -> bool:
        return self.result is not None

    async def wait_started(self, timeout: float = 300.0) -> None:
        """Until the first progress line: after ``--pregenerate``, the clock of the run starts there."""
        deadline = time.monotonic() + timeout
        while not self.progress:
            if self.process is not None and self.process.returncode is not None:
                raise RuntimeError(f"the source exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the source did not start within {timeout:.0f} s; see {self.log_path}")
            await asyncio.sleep(0.05)

    async def wait(self, timeout: float) -> dict[str, Any]:
        assert self.process is not None and self._reader is not None
        await asyncio.wait_for(self._reader, timeout)
        await asyncio.wait_for(self.process.wait(), 30)
        if self.result is None:
            raise RuntimeError(
                f"source ended without a result (code {self.process.returncode}); see {self.log_path}"
            )
        return self.result

    def stop(self) -> None:
        proc = self.process
        if proc is None:
            return
        _LIVE.discard(proc.pid)
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)


class Env:
    """A fresh embedded broker with the pipeline's topics, and every process started in it; all stopped on
    exit, so one run's broker memory (Tansu never frees it) and consumer groups do not leak into the next."""

    def __init__(self, workdir: Path, partitions: int = 4, prefix: str = "triage") -> None:
        self.workdir = workdir
        self.partitions = partitions
        self.prefix = prefix
        self.broker = EmbeddedBroker(log_path=workdir / "broker.log")
        self.procs: list[Proc] = []
        self.sources: list[SourceProc] = []
        self.settings = Settings(partitions=partitions, topic_prefix=prefix, data_dir=workdir / "data")

    async def __aenter__(self) -> Env:
        self.broker.start()
        if self.broker.pid is not None:
            _LIVE.add(self.broker.pid)
        self.settings = self.settings.model_copy(
            update={"kafka_bootstrap_servers": self.broker.bootstrap_servers}
        )
        await ensure_topics(self.settings.kafka, self.settings.topic_specs())
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for s in self.sources:
            s.stop()
        for p in reversed(self.procs):
            p.stop()
        _LIVE.discard(self.broker.pid or -1)
        self.broker.stop()

    def env(self, web_port: int, data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap,
            "TRIAGE_WEB_PORT": str(web_port),
            "TRIAGE_WEB_HOST": "127.0.0.1",
            "TRIAGE_PARTITIONS": str(s.partitions),
            "TRIAGE_TOPIC_PREFIX": s.topic_prefix,
            "TRIAGE_APP_ID": s.app_id,
            "TRIAGE_DATA_DIR": str(data_dir),
            **(extra or {}),
        }

    def worker(self, kind: str, index: int = 0, extra: dict[str, str] | None = None) -> Proc:
        port = free_port()
        name = f"{kind}{index}"
        proc = Proc(
            name, kind, self.env(port, self.workdir / name, extra), self.workdir / f"{name}.log", port
        )
        self.procs.append(proc)
        return proc.start()

    async def source(self, args: list[str], name: str = "source") -> SourceProc:
        src = SourceProc(self.env(0, self.workdir / name), args, self.workdir / f"{name}.log")
        self.sources.append(src)
        return await src.start()
