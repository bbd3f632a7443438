import asyncio

import pytest

from stream.sources.checkpoint import CheckpointStore
from stream.sources.emitter import Emitter
from stream.sources.metrics import SourceMetrics
from stream.sources.post_sink import MemorySink


def test_roundtrip_and_fresh_start(tmp_path):
    store = CheckpointStore(tmp_path / "cp")
    assert store.load("x") == {}
    store.save("x", {"cursor": 42, "feeds": {"a": ["1", "2"]}})
    assert store.load("x") == {"cursor": 42, "feeds": {"a": ["1", "2"]}}
    assert list((tmp_path / "cp").iterdir()) == [store.path("x")]  # no temp files left behind


def test_names_become_safe_file_names(tmp_path):
    store = CheckpointStore(tmp_path)
    assert store.path("../../etc/passwd").parent == tmp_path
    assert store.path("replay-a b.csv").name == "replay-a_b.csv.json"


def test_a_corrupt_file_is_moved_aside_not_trusted(tmp_path, caplog):
    store = CheckpointStore(tmp_path)
    store.path("x").write_bytes(b'{"cursor": 4')
    assert store.load("x") == {}
    assert store.path("x").with_suffix(".corrupt").exists()
    assert "unreadable" in caplog.text


def test_a_failed_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save("x", {"cursor": 1})

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        store.save("x", {"cursor": 2})
    assert store.load("x") == {"cursor": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def _emitter(tmp_path, sink, every=1000):
    return Emitter(
        "s", sink, SourceMetrics(), CheckpointStore(tmp_path), commit_every=every, commit_interval_s=3600
    )


async def test_position_is_stored_only_after_the_producer_flushed(tmp_path):
    sink = MemorySink()
    em = _emitter(tmp_path, sink, every=3)
    for i in range(1, 3):
        await em.emit({"post_id": str(i)}, cursor=i)
    assert CheckpointStore(tmp_path).load("s") == {} and sink.flushes == 0
    assert em.waiting == 2 and em.position == {"cursor": 2}
    await em.emit({"post_id": "3"}, cursor=3)
    assert sink.flushes == 1 and len(sink.stored) == 3
    assert CheckpointStore(tmp_path).load("s") == {"cursor": 3} and em.waiting == 0


async def test_a_failed_flush_keeps_the_old_position(tmp_path):
    sink = MemorySink()
    em = _emitter(tmp_path, sink)
    await em.emit({"post_id": "1"}, cursor=1)
    await em.commit()
    await em.emit({"post_id": "2"}, cursor=2)
    sink.fail = RuntimeError("kafka away")
    with pytest.raises(RuntimeError):
        await em.commit()
    assert em.position == {"cursor": 1}  # resume re-sends post 2 rather than skipping it
    assert CheckpointStore(tmp_path).load("s") == {"cursor": 1}


async def test_a_slow_producer_stops_the_reader_and_the_wait_is_counted(tmp_path):
    sink = MemorySink()
    metrics = SourceMetrics()
    em = Emitter("s", sink, metrics, None, commit_every=2, commit_interval_s=3600)
    sink.gate.clear()
    task = asyncio.create_task(em.emit({"post_id": "1"}))
    await asyncio.sleep(0.05)
    assert not task.done() and sink.added == []
    sink.gate.set()
    await task
    assert (
        metrics.registry.get_sample_value("triage_source_backpressure_seconds_total", {"source": "s"}) > 0.04
    )
    assert metrics.registry.get_sample_value("triage_source_waiting_posts", {"source": "s"}) == 1
