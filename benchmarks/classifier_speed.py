"""Scoring throughput of the shipped default model: batches of 1,000 posts on one core.

Run: ``python -m benchmarks.classifier_speed [--batches N] [--model DIR]``. Prints posts/s and writes
``benchmarks/results/classifier_speed.json`` (``classifier_speed_model.json`` for ``--model``, e.g. a
``triage train --embeddings`` model: use ``--batches 2``, it is ~100x slower). Not a test: the VM is noisy
(+-30%), so read the median.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402 - thread limits must be set before numpy is imported
import csv  # noqa: E402
import gzip  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from classifiers import load_scorer  # noqa: E402
from classifiers.training.corpus.generate import CORPUS_PATH  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "classifier_speed.json"
BATCH = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    with gzip.open(CORPUS_PATH, "rt", encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    t0 = time.perf_counter()
    scorer = load_scorer(args.model)
    load_s = time.perf_counter() - t0
    # Corpus posts are shorter than real tweets (~75 vs ~110 characters): the headline figure is for
    # tweet-length posts, short corpus posts joined to the next one.
    long_texts = [f"{a} {b}" if len(a) < 60 else a for a, b in itertools.pairwise(texts)]
    scorer.score(texts[:BATCH])  # warm-up

    def rates_for(pool: list[str], explain: str = "all") -> list[float]:
        """``explain``: "all" reads every post's reasons (the figure the target is held to), "actionable"
        only those of posts with P(actionable) >= 0.5 (what the pipeline does)."""
        rates = []
        for b in range(args.batches):
            start = (b * BATCH) % (len(pool) - BATCH)
            batch = pool[start : start + BATCH]
            t = time.perf_counter()
            scores = scorer.score(batch)
            if explain == "all":
                rows = list(range(len(batch)))
            else:
                rows = [i for i, p in enumerate(scores.actionable_proba) if p >= 0.5]
            scores.explain(rows)
            for i in rows:
                _ = scores.reasons[i], scores.urgency[i]
            rates.append(BATCH / (time.perf_counter() - t))
        return rates

    rates = rates_for(long_texts)
    short_rates = rates_for(texts)
    actionable_rates = rates_for(long_texts, explain="actionable")
    result = {
        "benchmark": "classifier_speed",
        "model_version": scorer.version,
        "batch_size": BATCH,
        "batches": args.batches,
        "cores": 1,
        "posts_per_s_median": round(statistics.median(rates)),
        "posts_per_s_min": round(min(rates)),
        "posts_per_s_max": round(max(rates)),
        "us_per_post_median": round(1e6 / statistics.median(rates), 1),
        "mean_chars_per_post": round(sum(map(len, long_texts)) / len(long_texts)),
        "explain_actionable_only_posts_per_s_median": round(statistics.median(actionable_rates)),
        "short_posts_per_s_median": round(statistics.median(short_rates)),
        "short_mean_chars_per_post": round(sum(map(len, texts)) / len(texts)),
        "model_load_s": round(load_s, 2),
        "model_dir": args.model or "default",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    out = RESULTS if args.model is None else RESULTS.with_name("classifier_speed_model.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
