"""The shipped corpus is what its generator writes, and has the breadth the model card claims."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

from classifiers import INTENT_LABELS, SENTIMENT_LABELS
from classifiers.training.corpus.generate import CORPUS_PATH, write_corpus


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


def test_corpus_rows_carry_their_template_group() -> None:
    """Each post names the phrase-bank entry it came from, so a hold-out can keep whole templates out."""
    with gzip.open(CORPUS_PATH, "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    groups = Counter(r["group"] for r in rows)
    assert all(len(g) == 8 for g in groups) and len(groups) >= 500
    assert max(groups.values()) < len(rows) * 0.02  # no template dominates


def test_negative_brand_posts_are_not_all_complaints() -> None:
    """A post can name a brand in a bad mood without the brand having failed: not a complaint."""
    from classifiers.training.corpus.phrases import DOMAINS

    brands = tuple(b.lower() for d in DOMAINS for b in d.brands)
    with gzip.open(CORPUS_PATH, "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    neg_brand = [
        r for r in rows if r["sentiment"] == "negative" and any(b in r["text"].lower() for b in brands)
    ]
    not_complaints = [r for r in neg_brand if r["intent"] != "complaint"]
    assert len(not_complaints) >= 200


def test_grouped_holdout_keeps_templates_apart() -> None:
    from classifiers.training.train import HOLDOUT, _corpus_groups, _split

    groups = _corpus_groups(CORPUS_PATH)
    tr, te = _split(len(groups), groups=groups)
    assert sorted(tr + te) == list(range(len(groups)))
    assert not {groups[i] for i in tr} & {groups[i] for i in te}
    assert HOLDOUT <= len(te) / len(groups) < HOLDOUT + 0.05
