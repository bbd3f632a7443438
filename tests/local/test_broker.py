"""The embedded broker's start: a broker that cannot start is a clear error, and leaves nothing running."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import stream.local.broker
from stream.local.broker import BrokerError, EmbeddedBroker


def test_a_broker_that_exits_at_start_is_an_error_and_its_reaper_is_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    false = shutil.which("false")
    assert false is not None
    monkeypatch.setattr(EmbeddedBroker, "binary", staticmethod(lambda: false))
    reapers: list[subprocess.Popen[bytes] | None] = []
    real_guard = stream.local.broker.guard

    def recording_guard(child: subprocess.Popen[bytes]) -> subprocess.Popen[bytes] | None:
        reapers.append(real_guard(child))
        return reapers[-1]

    monkeypatch.setattr(stream.local.broker, "guard", recording_guard)
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    with pytest.raises(BrokerError, match="exited with code 1 at start"):
        broker.start()
    assert len(reapers) == 1 and reapers[0] is not None
    assert reapers[0].returncode == 0  # it saw the broker gone, exited, and was waited for
