import argparse

import aiohttp
import orjson
import pytest

from stream.sources.cli import main, register
from stream.sources.metrics import SourceMetrics
from stream.sources.server import build_status_app, serve

CSV = """tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id
1,115712,True,Tue Oct 31 22:10:47 +0000 2017,@sprintcare no signal,,
2,sprintcare,False,Tue Oct 31 22:11:45 +0000 2017,@115712 sorry,,1
"""


def test_every_adapter_has_a_sub_command():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    for name in ("x", "bluesky", "mastodon", "facebook", "reddit", "rss", "webhook", "generate"):
        args = parser.parse_args(["source", name])
        assert args.source == name and callable(args.func)
    args = parser.parse_args(["source", "replay", "f.csv", "--speed", "10"])
    assert args.speed == 10


def test_dry_run_replay_prints_posts_and_keeps_no_checkpoint(tmp_path, monkeypatch, capsysbinary):
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "var"))
    path = tmp_path / "twcs.csv"
    path.write_text(CSV)
    assert main(["source", "replay", str(path), "--dry-run", "--metrics-port", "0"]) == 0
    lines = capsysbinary.readouterr().out.splitlines()
    assert [orjson.loads(x)["post_id"] for x in lines] == ["1"]
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["source", "x", "--dry-run"], "TRIAGE_X_BEARER_TOKEN is not set"),
        (["source", "webhook"], "TRIAGE_WEBHOOK_TOKEN"),
        (["source", "replay", "/nonexistent.csv", "--dry-run"], "no such file"),
        (["source", "generate", "--dry-run"], "give --duration or --count"),
    ],
)
def test_bad_configuration_exits_2_with_a_clear_message(argv, message, monkeypatch, capsys):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_bad_environment_value_is_reported_not_raised(monkeypatch, capsys):
    monkeypatch.setenv("TRIAGE_REDDIT_POLL_INTERVAL_S", "soon")
    assert main(["source", "reddit", "--dry-run"]) == 2
    assert "reddit_poll_interval_s" in capsys.readouterr().err


async def test_status_server_serves_metrics_and_health():
    metrics = SourceMetrics()
    metrics.produced.labels("x").inc(3)
    state = {"healthy": True, "source": "x"}
    runner, port = await serve(build_status_app(metrics, lambda: dict(state)), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            async with http.get("/metrics") as r:
                assert 'triage_source_posts_produced_total{source="x"} 3.0' in await r.text()
            async with http.get("/healthz") as r:
                assert r.status == 200
            state["healthy"] = False
            async with http.get("/healthz") as r:
                assert r.status == 503 and (await r.json())["source"] == "x"
    finally:
        await runner.cleanup()


def test_generate_refuses_a_rate_that_is_not_positive() -> None:
    import subprocess
    import sys

    for bad in (["--rate", "0", "--count", "5"], ["--rate", "-3", "--count", "5"], ["--count", "0"]):
        proc = subprocess.run(
            [sys.executable, "-m", "stream", "source", "generate", "--dry-run", *bad],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert "triage source generate:" in proc.stderr and "Traceback" not in proc.stderr
