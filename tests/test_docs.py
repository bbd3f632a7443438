"""The README's configuration and metrics tables are what operators read: keep them complete."""

from pathlib import Path

from stream.settings import Settings
from stream.worker.metrics import Metrics

README = (Path(__file__).parents[1] / "README.md").read_text()


def env_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.append(alias.choices[0] if alias is not None else f"TRIAGE_{name.upper()}")  # type: ignore[union-attr]
    return names


def test_every_setting_is_documented():
    missing = [n for n in env_names() if f"`{n}`" not in README]
    assert not missing, f"add to the README configuration table: {missing}"


def test_every_metric_is_documented():
    names = set()
    for family in Metrics().registry.collect():
        suffix = "_total" if family.type == "counter" else ""
        names.add(family.name + suffix)
    missing = sorted(n for n in names if f"`{n}`" not in README)
    assert not missing, f"add to the README metrics table: {missing}"


def test_readme_opens_with_the_two_commands():
    head = README[: README.index("## Architecture")]
    assert "make run" in head and "make test" in head
