"""The reaper: a child started by a process that is SIGKILLed is stopped; otherwise it is left alone."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream.local.children import stop_process
from stream.local.reaper import guard, release, start_time, watch
from tests.procs import gone, wait_gone

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

_PARENT = """
import subprocess, sys, time
from stream.local.reaper import guard
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], start_new_session=True)
reaper = guard(child, grace=float(sys.argv[2]))
print(child.pid, reaper.pid, flush=True)
time.sleep(120)
"""
_SLEEPER = "import time; time.sleep(120)"
_STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def _killed_parent(child_code: str, grace: float) -> tuple[int, int]:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, child_code, str(grace)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child, reaper = (int(x) for x in parent.stdout.readline().split())
    time.sleep(1.0)  # two polls: the reaper must not act while the parent lives
    assert not gone(child)
    parent.kill()
    parent.wait(10)
    return child, reaper


def test_a_sigkilled_parents_child_is_stopped() -> None:
    child, reaper = _killed_parent(_SLEEPER, grace=5.0)
    assert wait_gone([child, reaper], timeout=5.0) == []


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    child, reaper = _killed_parent(_STUBBORN, grace=1.0)
    time.sleep(0.6)
    assert not gone(child)  # the SIGKILL comes only after the 1 s grace that follows the SIGTERM
    assert wait_gone([child, reaper], timeout=5.0) == []


def test_a_child_its_parent_stops_is_left_to_the_parent_and_the_reaper_exits() -> None:
    child = subprocess.Popen([sys.executable, "-c", _SLEEPER], start_new_session=True)
    reaper = guard(child)
    assert reaper is not None
    try:
        time.sleep(1.2)
        assert child.poll() is None and reaper.poll() is None  # parent alive: nothing happens
        stop_process(child, timeout=5)
        release(reaper)
        assert reaper.returncode == 0  # it saw the child gone and exited by itself
    finally:
        for p in (child, reaper):
            if p.poll() is None:
                p.kill()
                p.wait(5)


def test_a_reused_pid_is_never_signalled() -> None:
    """If the child exited and the kernel gave its PID to another process, the start time differs."""
    other = subprocess.Popen([sys.executable, "-c", _SLEEPER])
    try:
        real = start_time(other.pid)
        assert real is not None
        # a parent PID that is not ours: the reaper would act at once, were the process its child
        assert watch(parent=-1, child=other.pid, started=str(int(real) + 1), grace=0.1) == "exited"
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(5)
