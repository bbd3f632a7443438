"""CPU time and memory of a process from /proc: the honest per-process figures on a shared 2-core box.

The broker, the generator and the workers share the cores, so every run reports what each of them used.
``VmHWM`` is the kernel's own peak RSS of a process, so the peak needs no sampling; CPU comes from
``utime + stime`` (all threads) read at the start and the end of a window.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

__all__ = ["ProcWatch", "cpu_seconds", "machine_cpu", "memory"]

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (all its threads); None once it has gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / _TICK


def memory(pid: int) -> tuple[int, int] | None:
    """(current RSS, peak RSS) in bytes, from VmRSS and VmHWM; None once it has gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
    except OSError:
        return None
    return rss, hwm


@dataclass
class _Track:
    pid: int
    cpu0: float
    t0: float
    cpu_last: float
    t_last: float
    peak_rss: int = 0
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, cores used, rss)


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat: other tenants' load (other
    jobs on this VM, or the hypervisor's steal) shows up as busy time no tracked process accounts for."""
    with open("/proc/stat", "rb") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


class ProcWatch:
    """Named processes, sampled about once a second by the harness; :meth:`summary` gives the figures."""

    def __init__(self) -> None:
        self._tracks: dict[str, _Track] = {}
        self._machine0 = machine_cpu()
        self._machine_t0 = time.monotonic()

    def add(self, name: str, pid: int | None) -> None:
        if pid is None:
            return
        now = time.monotonic()
        cpu = cpu_seconds(pid) or 0.0
        self._tracks[name] = _Track(pid, cpu, now, cpu, now)

    def mark(self) -> None:
        """Start the measured window now (after start-up and the consumer-group join)."""
        now = time.monotonic()
        self._machine0, self._machine_t0 = machine_cpu(), now
        for tr in self._tracks.values():
            cpu = cpu_seconds(tr.pid)
            if cpu is not None:
                tr.cpu0, tr.t0, tr.cpu_last, tr.t_last = cpu, now, cpu, now

    def sample(self, t: float) -> dict[str, tuple[float, int]]:
        """Cores used by each process since the previous sample, and its RSS now."""
        now = time.monotonic()
        out: dict[str, tuple[float, int]] = {}
        for name, tr in self._tracks.items():
            cpu, mem = cpu_seconds(tr.pid), memory(tr.pid)
            if cpu is None or mem is None:
                continue
            cores = (cpu - tr.cpu_last) / max(now - tr.t_last, 1e-6)
            tr.cpu_last, tr.t_last = cpu, now
            tr.peak_rss = max(tr.peak_rss, mem[1])
            tr.samples.append((round(t, 2), round(cores, 3), mem[0]))
            out[name] = (cores, mem[0])
        return out

    def machine(self) -> dict[str, float]:
        """Whole-machine busy and steal cores over the window, and what the tracked processes did not use."""
        busy, steal = machine_cpu()
        span = max(time.monotonic() - self._machine_t0, 1e-6)
        ours = sum(tr.cpu_last - tr.cpu0 for tr in self._tracks.values())
        return {
            "busy_cores": round((busy - self._machine0[0]) / span, 3),
            "steal_cores": round((steal - self._machine0[1]) / span, 3),
            "untracked_cores": round((busy - self._machine0[0] - ours) / span, 3),
        }

    def summary(self) -> dict[str, dict[str, float]]:
        """Per process: mean cores used over the window, CPU seconds in it, current and peak RSS (MB)."""
        out: dict[str, dict[str, float]] = {}
        for name, tr in self._tracks.items():
            mem = memory(tr.pid)
            if mem is not None:
                tr.peak_rss = max(tr.peak_rss, mem[1])
            span = max(tr.t_last - tr.t0, 1e-6)
            out[name] = {
                "pid": tr.pid,
                "cpu_s": round(tr.cpu_last - tr.cpu0, 2),
                "cores_mean": round((tr.cpu_last - tr.cpu0) / span, 3),
                "cores_max_1s": round(max((c for _, c, _ in tr.samples), default=0.0), 3),
                "peak_rss_mb": round(tr.peak_rss / 2**20, 1),
            }
        return out

    def series(self) -> dict[str, list[tuple[float, float, int]]]:
        return {name: tr.samples for name, tr in self._tracks.items()}
