"""The Faust app is assembled from the settings: what a deployment sets must reach it."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import LexiconScorer
from stream.settings import Settings
from stream.worker import app as app_module


def test_ticket_state_is_the_runtime_s_own_store_on_disk_with_a_compacted_changelog(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The shipped model is not needed to wire the app; a lexicon scorer keeps the test quick.
    monkeypatch.setattr("stream.worker.runtime.load_scorer", lambda _path: LexiconScorer())
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", data_dir=tmp_path, app_id="acme-triage")
    faust_app, rt = app_module.create_app(settings)
    assert not faust_app.tables  # no Faust table: its recovery stops short on some brokers
    assert rt.ticket_store.root == tmp_path / "state" / "tickets"
    changelog = {s.name: s for s in settings.topic_specs()}["acme-triage-tickets-changelog"]
    assert changelog.configs["cleanup.policy"] == "compact" and changelog.partitions == settings.partitions
