"""The ops API's door: no token, an empty token or a wrong one never gets in (no Kafka needed for this)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from classifiers import LexiconScorer
from stream.settings import Settings
from stream.worker.runtime import PipelineRuntime
from stream.worker.web import build_web_app


async def client_for(token: str | None) -> TestClient:
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1", ops_token=SecretStr(token) if token is not None else None
    )
    runtime = PipelineRuntime(settings, scorer=LexiconScorer())
    client = TestClient(TestServer(build_web_app(runtime), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.mark.parametrize("configured", [None, "", "   "])
async def test_without_a_configured_token_the_api_is_closed(configured: str | None) -> None:
    client = await client_for(configured)
    try:
        for header in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer    "}):
            resp = await client.get("/api/tickets", headers=header)
            assert resp.status == 503
    finally:
        await client.close()


async def test_only_the_right_token_gets_in_and_metrics_and_health_stay_open() -> None:
    client = await client_for("s3cret")
    try:
        for header in (
            {},
            {"Authorization": "Bearer "},
            {"Authorization": "Bearer s3cre"},
            {"Authorization": "s3cret"},
        ):
            assert (await client.get("/api/tickets", headers=header)).status == 401
        ok = await client.get("/api/tickets", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200 and (await ok.json())["tickets"] == []
        assert (await client.get("/metrics")).status == 200
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/api/openapi.json")).status == 200
        big = await client.put(
            "/api/rules", data=b"x" * (2 * 1024 * 1024), headers={"Authorization": "Bearer s3cret"}
        )
        assert big.status == 413
    finally:
        await client.close()


async def test_a_worker_checks_parameters_and_applies_its_configured_limits(tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        ops_token=SecretStr("s3cret"),
        data_dir=tmp_path,
        rules_max_bytes=2048,
        rules_max_count=2,
    )
    runtime = PipelineRuntime(settings, scorer=LexiconScorer())
    client = TestClient(TestServer(build_web_app(runtime), host="127.0.0.1"))
    await client.start_server()
    auth = {"Authorization": "Bearer s3cret"}
    try:
        for query in ("limit=-5", "limit=1001", "limit=ten", "priority=0", "colour=red"):
            resp = await client.get(f"/api/tickets?{query}", headers=auth)
            assert resp.status == 400, query
        for status in ("resolved", "expired", "open"):
            resp = await client.get("/api/tickets", params={"status": status, "limit": "1000"}, headers=auth)
            body = await resp.json()
            assert resp.status == 200 and body["tickets"] == [] and body["next_cursor"] is None
        big = await client.put("/api/rules", data=b"#" * 3000, headers=auth)
        assert big.status == 413 and (await big.json())["limit_bytes"] == 2048
        three = b"default_queue: a\nrules: [{name: x, queue: a}, {name: y, queue: a}, {name: z, queue: a}]\n"
        many = await client.put("/api/rules", data=three, headers=auth)
        assert many.status == 400 and "at most 2 rules" in str(await many.json())
    finally:
        await client.close()
