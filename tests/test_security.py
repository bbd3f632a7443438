"""Nobody in without the key, nothing executed from files, no secret shown: the parts that need no Kafka."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from classifiers.model import DEFAULT_MODEL_DIR, load_model
from stream.settings import Settings
from stream.worker.transport import faust_credentials


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_model_file_carrying_a_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, model)
    marker = tmp_path / "code-ran"
    arrays = dict(np.load(model / "model.npz", allow_pickle=False))
    first = next(iter(arrays))
    arrays[first] = np.array([_Payload(marker)], dtype=object)  # saved as a pickle inside the npz
    np.savez(model / "model.npz", **arrays)
    with pytest.raises(ValueError, match=r"pickle|Object arrays"):
        load_model(model)
    assert not marker.exists()


def test_kafka_sasl_and_tls_settings_reach_both_kafka_clients(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "triage")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "pa55-w0rd")
    settings = Settings()
    kwargs = settings.kafka.client_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL" and kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "triage" and kwargs["sasl_plain_password"] == "pa55-w0rd"
    assert kwargs["ssl_context"] is not None
    creds = faust_credentials(settings.kafka)
    assert (creds.username, creds.password, str(creds.mechanism.value)) == (
        "triage",
        "pa55-w0rd",
        "SCRAM-SHA-512",
    )
    assert creds.ssl_context is not None


def test_secrets_do_not_show_in_the_settings_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "KAFKA_SASL_PASSWORD": "kafka-secret-1",
        "TRIAGE_OPS_TOKEN": "ops-secret-2",
        "TRIAGE_WEBHOOK_TOKEN": "hook-secret-3",
        "TRIAGE_X_BEARER_TOKEN": "x-secret-4",
        "TRIAGE_META_APP_SECRET": "meta-secret-5",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    shown = (
        repr(settings)
        + str(settings)
        + settings.model_dump_json()
        + json.dumps(settings.model_dump(mode="json"))
    )
    for value in secrets.values():
        assert value not in shown


def test_everything_binds_to_loopback_unless_configured() -> None:
    s = Settings()
    assert s.web_host == "127.0.0.1" and s.source_listen_host == "127.0.0.1"
