"""Stopping a child process by its PID: SIGTERM, a grace period, then SIGKILL. Used for the embedded broker,
worker subprocesses and benchmark processes alike."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

__all__ = ["stop_process"]


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
