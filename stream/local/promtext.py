"""Read a Prometheus text scrape into numbers: for the `triage run` progress view, tests and benchmarks."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape", "histogram_quantile", "scrape"]

LabelKey = tuple[tuple[str, str], ...]


class Scrape:
    def __init__(self, text: str) -> None:
        self.samples: dict[str, dict[LabelKey, float]] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                self.samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value

    def value(self, name: str, **labels: str) -> float:
        """Sum of ``name`` over the series whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for k, v in self.samples.get(name, {}).items() if want <= set(k))

    def by_label(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, v in self.samples.get(name, {}).items():
            lv = dict(key).get(label)
            if lv is not None:
                out[lv] = out.get(lv, 0.0) + v
        return out

    def names(self) -> set[str]:
        return set(self.samples)

    def labels_of(self, name: str) -> set[str]:
        return {k for key in self.samples.get(name, {}) for k, _ in key}


def histogram_quantile(q: float, buckets: Mapping[str, float]) -> float | None:
    """Quantile from cumulative ``le`` buckets, linear within a bucket (what PromQL does)."""
    points = sorted((float(le), c) for le, c in buckets.items())
    if not points or points[-1][1] <= 0:
        return None
    rank = q * points[-1][1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in points:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 1.0)
        prev_le, prev_c = le, c
    return prev_le


def scrape(url: str, timeout: float = 2.0) -> Scrape:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return Scrape(resp.read().decode("utf-8"))
