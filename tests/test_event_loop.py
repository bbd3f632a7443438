"""The event loop choice (TRIAGE_EVENT_LOOP) that workers and sources install before they start."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator

import pytest
import uvloop

from stream.event_loop import use_event_loop
from stream.settings import Settings


@pytest.fixture(autouse=True)
def _restore_policy() -> Iterator[None]:
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


def _new_loop_type() -> type:
    loop = asyncio.new_event_loop()
    try:
        return type(loop)
    finally:
        loop.close()


def test_auto_is_uvloop_where_installed() -> None:
    assert Settings(kafka_bootstrap_servers="127.0.0.1:1").event_loop == "auto"
    assert use_event_loop("auto") == "uvloop"
    assert _new_loop_type() is uvloop.Loop


def test_asyncio_can_be_chosen() -> None:
    use_event_loop("uvloop")
    assert use_event_loop("asyncio") == "asyncio"
    assert not issubclass(_new_loop_type(), uvloop.Loop)


def test_the_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_EVENT_LOOP", "asyncio")
    assert Settings(kafka_bootstrap_servers="127.0.0.1:1").event_loop == "asyncio"
    monkeypatch.setenv("TRIAGE_EVENT_LOOP", "tokio")
    with pytest.raises(ValueError, match="event_loop"):
        Settings(kafka_bootstrap_servers="127.0.0.1:1")


def test_without_uvloop_auto_falls_back_and_uvloop_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real_find_spec(name, *a)
    )
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` raise ImportError
    assert use_event_loop("auto") == "asyncio"
    assert not issubclass(_new_loop_type(), uvloop.Loop)
    with pytest.raises(RuntimeError, match="pip install uvloop"):
        use_event_loop("uvloop")
