"""The worker's garbage-collector settings: start-up objects frozen, a larger young generation."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from stream.gc_tuning import tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restore_gc")
def test_tuning_freezes_what_exists_and_raises_the_young_threshold() -> None:
    keep = [{"n": i} for i in range(1000)]  # long-lived objects, like a loaded model's
    old = tune_gc(50_000)
    assert gc.get_threshold()[0] == 50_000
    assert gc.get_freeze_count() >= len(keep)
    assert old[0] != 50_000


@pytest.mark.usefixtures("restore_gc")
def test_zero_leaves_the_collector_as_python_set_it() -> None:
    before = gc.get_threshold()
    tune_gc(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
