"""Helpers for tests that check which processes are left running: read /proc, never the code under test."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

__all__ = ["gone", "wait_gone"]


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie counts: exited, not yet collected by init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` for all to exit; return those still running, after SIGKILLing them (so no
    test leaves a process to the next)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if not gone(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    return left
