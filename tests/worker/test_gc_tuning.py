"""The worker's garbage-collector settings: start-up objects frozen, a larger young generation."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from stream.worker.gc_tuning import tune_gc

PYTHON_DEFAULT = (700, 10, 10)


@pytest.fixture(autouse=True)
def python_default_gc() -> Iterator[None]:
    """Start from Python's own settings (a runtime started in this process may have tuned them), and put
    back what was there."""
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(*PYTHON_DEFAULT)
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tuning_freezes_what_exists_and_raises_the_young_threshold() -> None:
    keep = [{"n": i} for i in range(1000)]  # long-lived objects, like a loaded model's
    old = tune_gc(50_000)
    assert gc.get_threshold()[0] == 50_000
    assert gc.get_freeze_count() >= len(keep)
    assert old == PYTHON_DEFAULT


def test_zero_leaves_the_collector_as_python_set_it() -> None:
    tune_gc(0)
    assert gc.get_threshold() == PYTHON_DEFAULT
    assert gc.get_freeze_count() == 0
