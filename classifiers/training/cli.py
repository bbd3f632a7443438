"""The ``triage train`` and ``triage evaluate`` sub-commands, added to ``stream/cli.py`` by :func:`register`.

Exit codes: 0 success, 2 a bad input file or model directory (message on stderr). Run standalone with
``python -m classifiers.training.cli {train,evaluate} ...``. Registering the sub-commands imports no
scikit-learn (``triage --help`` stays quick); ``train`` loads it when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from classifiers.base import BINARY_INTENT_LABELS, INTENT_LABELS, SENTIMENT_LABELS
from classifiers.training.dataset import DataError, read_labelled
from classifiers.training.evaluate import TASK_LABELS, evaluate_scorer

__all__ = ["main", "register"]

EXIT_BAD_INPUT = 2


def _train(args: argparse.Namespace) -> int:
    from classifiers.training.encoder import EmbeddingsUnavailable
    from classifiers.training.train import train_task

    allowed = SENTIMENT_LABELS if args.task == "sentiment" else INTENT_LABELS + BINARY_INTENT_LABELS
    try:
        data = read_labelled(args.data, allowed, text_col=args.text_col, label_col=args.label_col)
        model = train_task(args.task, data, embeddings=args.embeddings)
    except (DataError, EmbeddingsUnavailable) as exc:
        print(f"triage train: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = model.save(args.out)
    metrics = model.meta["heads"][args.task].get("metrics")
    print(json.dumps({"model_dir": str(out), "version": model.version, "task": args.task, "rows": len(data),
                      "holdout": metrics}, indent=2))  # fmt: skip
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from classifiers import load_scorer

    try:
        data = read_labelled(
            args.data, TASK_LABELS[args.task], text_col=args.text_col, label_col=args.label_col
        )
    except DataError as exc:
        print(f"triage evaluate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        scorer = load_scorer(args.model)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"triage evaluate: cannot load model: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report = evaluate_scorer(scorer, args.task, data.texts, data.labels, data.langs)
    print(json.dumps(report, indent=2))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", required=True, help="labelled CSV (optionally .gz); an optional 'lang' column is used"
    )
    p.add_argument("--text-col", default="text", help="column holding the post text (default: text)")
    p.add_argument("--label-col", default="label", help="column holding the label (default: label)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``train`` and ``evaluate`` to the ``triage`` command's sub-commands."""
    train = subparsers.add_parser(
        "train",
        help="train a sentiment or intent model on your own labelled posts",
        description="Train a model directory usable by `triage run` and the workers. Sentiment labels: "
        "negative/neutral/positive. Intent labels: complaint/question/request/praise/promo/chatter, or "
        "complaint/not_complaint. The project's corpus is mixed in at a low weight.",
    )
    train.add_argument("--task", required=True, choices=("sentiment", "intent"))
    _common(train)
    train.add_argument("--out", required=True, help="model directory to write")
    train.add_argument(
        "--embeddings",
        action="store_true",
        help="add a sentence-embedding second stage for posts the n-gram model is unsure about: more "
        "accurate on your own data, but ~100x slower on those posts and needs the 'embeddings' extra",
    )
    train.set_defaults(func=_train)
    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a labelled CSV and print one JSON object of metrics",
        description="Labels: sentiment negative/neutral/positive; complaint complaint/not_complaint; "
        "actionable actionable/not_actionable.",
    )
    evaluate.add_argument("--task", required=True, choices=tuple(TASK_LABELS))
    _common(evaluate)
    evaluate.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    evaluate.set_defaults(func=_evaluate)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="triage", description="social-triage classifiers")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
