"""Stop a child process when the process that started it dies without stopping it.

`triage run` starts the embedded broker and a worker in their own sessions, so that Ctrl-C reaches only
`triage run`, which then stops them in order. Its `finally` covers Ctrl-C, SIGTERM and SIGHUP, but nothing
runs after SIGKILL or the OOM killer: the broker (gigabytes of memory) and the worker (holding the metrics
port) would run on until someone finds them.

So each such child gets a reaper: a tiny watcher process, started by the same parent and run from this
file with the standard library only (``python -I -S``). It polls every half second. When the child has
exited it exits too. When its own parent has changed (the parent died and the reaper was re-parented to
init or a subreaper), it stops the child: SIGTERM, a grace period, then SIGKILL. Before signalling it
checks the child's start time in ``/proc`` (where there is one), so a PID the kernel has since given to
another process is never touched. ``PR_SET_PDEATHSIG`` would need no extra process, but it fires when the
*thread* that started the child exits, which is fragile under asyncio's thread pools.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["POLL_S", "guard", "release", "start_time", "watch"]

POLL_S = 0.5


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _running(pid: int, started: str | None) -> bool:
    """True while ``pid`` is the same live process (not exited, not a zombie, not a reused PID)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): fall back to signal 0, without the PID-reuse check
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] != "Z" and (started is None or fields[19] == started)


def watch(parent: int, child: int, started: str | None, grace: float, poll: float = POLL_S) -> str:
    """Wait until the child exits ("exited") or the parent dies; then stop the child ("stopped")."""
    while True:
        if not _running(child, started):
            return "exited"
        if os.getppid() != parent:
            break
        time.sleep(poll)
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _running(child, started):
            return "stopped"
        time.sleep(0.1)
    if _running(child, started):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    return "stopped"


def guard(child: subprocess.Popen[bytes], grace: float = 10.0) -> subprocess.Popen[bytes] | None:
    """Start a reaper for ``child`` (None when it could not be started: the child still runs)."""
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).resolve()), str(os.getpid()), str(child.pid),
             start_time(child.pid) or "-", str(grace)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal must not take the reaper with it
        )  # fmt: skip
    except OSError:
        return None


def release(reaper: subprocess.Popen[bytes] | None, timeout: float = 2.0) -> None:
    """After the child was stopped: the reaper sees it gone within one poll; collect it (no zombie)."""
    if reaper is None:
        return
    try:
        reaper.wait(timeout)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait(5)


def main(argv: list[str]) -> int:
    parent, child, started, grace = int(argv[0]), int(argv[1]), argv[2], float(argv[3])
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    watch(parent, child, None if started == "-" else started, grace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
