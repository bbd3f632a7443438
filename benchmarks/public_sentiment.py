"""Sentiment on public human-rated sets anyone can fetch: the ground truth of the VADER paper (2014).

The ``vaderSentiment`` source distribution on PyPI carries the paper's four rated sets (4,200 tweets, 3,708
Amazon review sentences, 10,605 movie review snippets, 5,190 New York Times editorial sentences), each
sentence's mean rating by ~20 people on a -4..4 scale. They are real text the shipped model never saw, and
need no private development set, so anyone can re-run this check. Classes: rating >= 0.5 positive,
<= -0.5 negative, neutral between (fixed before any model was scored). VADER itself is scored alongside as
the usual baseline, with its documented cut-offs (compound >= 0.05 positive, <= -0.05 negative). Note that
VADER's rules and lexicon were refined on these very sets, so they flatter VADER.

Run: ``python -m benchmarks.public_sentiment [--model DIR]``. Downloads the pinned sdist once (checked by
sha256) into ``var/public-data/``; prints macro-recall per set and writes
``benchmarks/results/public_sentiment.json``. Not a test: it needs PyPI, and it measures, it does not judge.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from classifiers import load_scorer
from classifiers.base import SENTIMENT_LABELS
from classifiers.training.evaluate import classification_report, predict_task

__all__ = ["PAPER_ARCHIVE", "SDIST", "SETS", "fetch_sdist", "label_of", "read_sets"]

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "public-data"
RESULTS = Path(__file__).resolve().parent / "results" / "public_sentiment.json"
VERSION = "3.3.2"
SDIST = f"vaderSentiment-{VERSION}.tar.gz"
PAPER_ARCHIVE = f"vaderSentiment-{VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
SETS = {
    "tweets": "tweets_GroundTruth.txt",
    "amazon_reviews": "amazonReviewSnippets_GroundTruth.txt",
    "movie_reviews": "movieReviewSnippets_GroundTruth.txt",
    "nyt_editorials": "nytEditorialSnippets_GroundTruth.txt",
}
NEUTRAL_BAND = 0.5


def label_of(rating: float) -> str:
    """The three-class label of a mean rating on the -4..4 scale."""
    if rating >= NEUTRAL_BAND:
        return "positive"
    if rating <= -NEUTRAL_BAND:
        return "negative"
    return "neutral"


def fetch_sdist(cache: Path = CACHE) -> Path:
    """The pinned sdist, downloaded from the package index once and checked against its sha256."""
    path = cache / SDIST
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               "--dest", str(cache), f"vaderSentiment=={VERSION}"]  # fmt: skip
        subprocess.run(cmd, check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{path}: sha256 {digest} is not the pinned {SDIST_SHA256}; delete it and re-run")
    return path


def read_sets(sdist: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Set name -> (texts, labels), read from the paper's archive inside the sdist."""
    with tarfile.open(sdist) as outer:
        member = outer.extractfile(PAPER_ARCHIVE)
        if member is None:
            raise SystemExit(f"{sdist}: the paper's archive is missing")
        inner_bytes = member.read()
    out: dict[str, tuple[list[str], list[str]]] = {}
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for name, file in SETS.items():
            fh = inner.extractfile(f"hutto_ICWSM_2014/{file}")
            if fh is None:
                raise SystemExit(f"{sdist}: {file} is missing")
            texts, labels = [], []
            for line in fh.read().decode("utf-8", errors="replace").splitlines():
                parts = line.split("\t")
                if len(parts) >= 3 and parts[2].strip():
                    texts.append(parts[2].strip())
                    labels.append(label_of(float(parts[1])))
            out[name] = (texts, labels)
    return out


def _summary(truth: list[str], pred: list[str]) -> dict[str, Any]:
    """The ``triage evaluate`` figures that matter here (same code, so the numbers mean the same)."""
    rep = classification_report(truth, pred, SENTIMENT_LABELS)
    return {
        "macro_recall": rep["macro_recall"],
        "macro_f1": rep["macro_f1"],
        "accuracy": rep["accuracy"],
        "recall": {c: rep["per_class"][c]["recall"] for c in SENTIMENT_LABELS},
    }


def _vader(texts: list[str]) -> list[str]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    out = []
    for text in texts:
        c = analyzer.polarity_scores(text)["compound"]
        out.append("positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    args = parser.parse_args()
    sets = read_sets(fetch_sdist())
    scorer = load_scorer(args.model)
    rows = {}
    for name, (texts, labels) in sets.items():
        pred = predict_task("sentiment", scorer.score(texts))
        model, vader = _summary(labels, pred), _summary(labels, _vader(texts))
        rows[name] = {
            "n": len(texts),
            "class_counts": {c: labels.count(c) for c in SENTIMENT_LABELS},
            "model": model,
            "vader": vader,
        }
        print(
            f"{name:15s} n={len(texts):6d}  macro-recall: model {model['macro_recall']:.4f}"
            f"  VADER {vader['macro_recall']:.4f}"
        )
    result = {
        "benchmark": "public_sentiment",
        "source": f"{SDIST} (sha256 {SDIST_SHA256}), {PAPER_ARCHIVE}",
        "labels": f"mean rating >= {NEUTRAL_BAND} positive, <= -{NEUTRAL_BAND} negative, else neutral",
        "model_version": scorer.version,
        "model_dir": args.model or "default",
        "sets": rows,
        "date": time.strftime("%Y-%m-%d"),
    }
    out = RESULTS if args.model is None else RESULTS.with_name("public_sentiment_model.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
