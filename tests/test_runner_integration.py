"""`triage run` (what `make run` does) from start to summary: its own embedded broker, a worker, a replay."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from stream.broker import free_port
from stream.runner import SAMPLE_PATH
from stream.sources.generator import brand_account_handles

pytestmark = pytest.mark.integration


def test_triage_run_replays_a_sample_and_accounts_for_every_post(tmp_path: Path) -> None:
    lines = gzip.decompress(SAMPLE_PATH.read_bytes()).splitlines()[:800]
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b"\n".join(lines) + b"\n" + b'{"not": "a post"\n')  # and one broken line
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({"TRIAGE_WEB_PORT": str(free_port()), "TRIAGE_DATA_DIR": str(tmp_path / "var")})
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
