"""The shipped corpus is what its generator writes, and has the breadth the model card claims."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

from classifiers import INTENT_LABELS, SENTIMENT_LABELS
from classifiers.corpus.generate import CORPUS_PATH, write_corpus


def test_corpus_is_reproducible_from_its_generator(tmp_path: Path) -> None:
    write_corpus(tmp_path / "c.csv.gz")
    assert (tmp_path / "c.csv.gz").read_bytes() == CORPUS_PATH.read_bytes()


def test_corpus_breadth() -> None:
    with gzip.open(CORPUS_PATH, "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 5000
    assert len({r["text"] for r in rows}) == len(rows)
    assert set(Counter(r["sentiment"] for r in rows)) == set(SENTIMENT_LABELS)
    assert set(Counter(r["intent"] for r in rows)) == set(INTENT_LABELS)
    langs = Counter(r["lang"] for r in rows)
    assert len(langs) >= 5 and sum(v for k, v in langs.items() if k != "en") >= 200
    assert len({r["domain"] for r in rows}) >= 10
    text = " ".join(r["text"] for r in rows)
    for marker in ("#", "@", "https://", "😡", "not ", "n't"):
        assert marker in text
