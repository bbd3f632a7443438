"""The Faust app is assembled from the settings: what a deployment sets must reach Faust."""

from __future__ import annotations

import pytest

from classifiers import LexiconScorer
from stream.settings import Settings
from stream.worker import app as app_module


def test_table_standby_replicas_follow_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shipped model is not needed to wire the app; a lexicon scorer keeps the test quick.
    monkeypatch.setattr("stream.worker.runtime.load_scorer", lambda _path: LexiconScorer())
    for replicas in (0, 1):
        settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", table_standby_replicas=replicas)
        faust_app, _ = app_module.create_app(settings)
        assert faust_app.conf.table_standby_replicas == replicas
