"""A `triage worker` as a child process, for `triage run`, the tests and the benchmarks: started with its
own web port, watched through its /metrics, stopped by its PID (and by a reaper if its starter dies)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stream.local.broker import free_port
from stream.local.children import stop_process
from stream.local.promtext import Scrape, scrape
from stream.local.reaper import guard, release
from stream.settings import Settings

__all__ = ["OUTCOMES", "WorkerProcess", "accounted"]

OUTCOMES = ("ticket", "filtered", "duplicate", "dead_letter")


class WorkerProcess:
    """A `triage worker` subprocess with its own web port; stopped by its PID."""

    def __init__(self, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.log_path = log_path
        self.web_port = settings.web_port or free_port()
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self._reaper: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://{self.settings.web_host}:{self.web_port}/metrics"

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.bootstrap,
            "TRIAGE_WEB_PORT": str(self.web_port),
            "TRIAGE_WEB_HOST": self.settings.web_host,
            "TRIAGE_PARTITIONS": str(self.settings.partitions),
            "TRIAGE_TOPIC_PREFIX": self.settings.topic_prefix,
            "TRIAGE_APP_ID": self.settings.app_id,
            "TRIAGE_DATA_DIR": str(self.settings.data_dir),
            **self.extra_env,
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stream", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._reaper = guard(self.process)  # stops the worker if this process is killed without stopping it
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        reaper, self._reaper = self._reaper, None
        release(reaper)

    def stop(self, timeout: float = 20.0) -> None:
        proc, self.process = self.process, None
        stop_process(proc, timeout)
        reaper, self._reaper = self._reaper, None
        release(reaper)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited early; see {self.log_path}")
            with contextlib.suppress(OSError):
                await asyncio.to_thread(scrape, self.metrics_url, 1.0)
                return
            await asyncio.sleep(0.25)
        raise TimeoutError(f"worker not serving {self.metrics_url} after {timeout:.0f}s; see {self.log_path}")

    async def wait_assigned(self, topic: str, partitions: int, timeout: float = 60.0) -> None:
        """Wait until this worker owns ``partitions`` partitions of ``topic``: a one-worker group settled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited early; see {self.log_path}")
            with contextlib.suppress(OSError):
                s = await asyncio.to_thread(scrape, self.metrics_url, 1.0)
                if s.value("triage_assigned_partitions", topic=topic) >= partitions:
                    return
            await asyncio.sleep(0.25)
        raise TimeoutError(f"worker was not assigned {topic} within {timeout:.0f}s; see {self.log_path}")


def accounted(s: Scrape) -> tuple[float, float]:
    """(posts in, posts with a final outcome): equal once the pipeline is drained."""
    return s.value("triage_posts_in_total"), sum(
        s.value("triage_posts_out_total", outcome=o) for o in OUTCOMES
    )
