"""Clout: bounded, log-scaled and never lowered by more reach."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from classifiers import clout_reasons, clout_scores

counts = st.integers(min_value=0, max_value=10**9)


@given(counts, st.booleans(), counts, st.floats(min_value=0, max_value=1000), counts, counts)
def test_more_followers_or_engagement_never_lowers_clout(
    f: int, v: bool, e: int, freq: float, extra_f: int, extra_e: int
) -> None:
    base = clout_scores([f], [v], [e], [freq])[0]
    assert 0.0 <= base <= 100.0
    assert clout_scores([f + extra_f], [v], [e], [freq])[0] >= base
    assert clout_scores([f], [v], [e + extra_e], [freq])[0] >= base
    assert clout_scores([f], [True], [e], [freq])[0] >= base
    assert clout_scores([f], [v], [e], [freq + 1])[0] >= base


def test_clout_is_log_scaled_not_linear() -> None:
    s = clout_scores([1_000, 10_000, 100_000, 1_000_000], [False] * 4, [0] * 4, [0] * 4)
    steps = np.diff(s)
    assert np.allclose(steps, steps[0], atol=0.2)  # each 10x adds the same amount


def test_clout_extremes() -> None:
    s = clout_scores([0, 50_000_000], [False, True], [0, 10**7], [0, 500])
    assert s[0] == 0.0
    assert s[1] == 100.0


def test_clout_reasons_name_what_mattered() -> None:
    assert clout_reasons(120_000, True, 450, 3.0) == [
        "followers=120000",
        "verified",
        "engagement=450",
        "brand_posts_per_day=3",
    ]
    assert clout_reasons(10, False, 0, 0.2) == ["followers=10"]
