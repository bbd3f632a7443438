"""`triage run` (what `make run` does) from start to summary: its own embedded broker, a worker, a replay."""

from __future__ import annotations

import gzip
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from stream.local.broker import free_port
from stream.local.run import SAMPLE_PATH
from stream.sources.synthetic.generator import brand_account_handles
from tests.procs import gone, wait_gone

pytestmark = pytest.mark.integration


def test_triage_run_replays_a_sample_and_accounts_for_every_post(tmp_path: Path) -> None:
    lines = gzip.decompress(SAMPLE_PATH.read_bytes()).splitlines()[:800]
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b"\n".join(lines) + b"\n" + b'{"not": "a post"\n')  # and one broken line
    env = _env(tmp_path, free_port())
    env["TRIAGE_BRAND_HANDLES"] = orjson.dumps(brand_account_handles()).decode()  # as for the whole sample
    run = subprocess.run(
        [sys.executable, "-m", "stream", "run", "--sample", str(sample), "--rate", "400"],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    out = run.stdout
    assert "embedded Kafka broker (Tansu)" in out and "worker joined the consumer group" in out
    assert f"posts sent by the source   {len(lines) + 1:>8,}" in out
    assert "accounted for" in out and "OK" in out.split("accounted for", 1)[1].splitlines()[0]
    assert "most urgent tickets" in out and "why:" in out
    # the brands answer some customers in their threads: those tickets got their first response
    answered = out.split("first responses", 1)[1].split()
    assert int(answered[0]) > 0 and answered[1:3] == ["tickets", "answered,"], answered[:6]
    assert all(orjson.loads(line) for line in lines)  # the sample itself is intact


def _env(tmp_path: Path, web_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({"TRIAGE_WEB_PORT": str(web_port), "TRIAGE_DATA_DIR": str(tmp_path / "var")})
    return env


def _small_sample(tmp_path: Path, n: int = 200) -> Path:
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b"\n".join(gzip.decompress(SAMPLE_PATH.read_bytes()).splitlines()[:n]) + b"\n")
    return sample


def test_triage_run_refuses_a_metrics_port_that_is_taken(tmp_path: Path) -> None:
    """A worker left from an earlier run would answer /metrics, and the summary would be its figures."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "stream", "run", "--sample", str(_small_sample(tmp_path))],
            env=_env(tmp_path, port), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"127.0.0.1:{port} is already in use" in run.stdout and "TRIAGE_WEB_PORT" in run.stdout
    assert "embedded Kafka broker" not in run.stdout  # refused before starting anything


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_stopped_triage_run_takes_its_broker_and_worker_with_it(tmp_path: Path, stop: int) -> None:
    """timeout, systemd and CI cancels send SIGTERM; the OOM killer and `kill -9` send SIGKILL, after which
    nothing in `triage run` runs: its reapers stop the broker and the worker (own sessions) then."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream", "run", "--sample", str(_small_sample(tmp_path)), "--follow"],
        env=_env(tmp_path, free_port()), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("following:"):
                break
        out = "".join(lines)
        assert "following:" in out, out[-2000:]
        broker_pid = int(re.search(r"Tansu\) pid (\d+)", out).group(1))  # type: ignore[union-attr]
        worker_pid = int(re.search(r"worker pid (\d+)", out).group(1))  # type: ignore[union-attr]
        assert not gone(broker_pid) and not gone(worker_pid)
        proc.send_signal(stop)
        assert proc.wait(timeout=60) == (143 if stop == signal.SIGTERM else -signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    # after SIGKILL: a poll, then the worker's stop (10 s grace at most)
    left = wait_gone([broker_pid, worker_pid], timeout=30)
    assert not left, f"left running after {signal.Signals(stop).name}: {left}"
