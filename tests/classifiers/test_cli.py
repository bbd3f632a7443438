"""The command-line contract: ``train`` and ``evaluate`` (run as ``python -m classifiers.training.cli``)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A small labelled history a user might have: complaints and everything else, for one brand.
COMPLAINTS = [
    "@AcmeEnergy my bill doubled this month and nobody can explain why",
    "@AcmeEnergy engineer didn't turn up again, wasted a day off",
    "@AcmeEnergy third outage this week, sort it out",
    "@AcmeEnergy still waiting for my refund after 6 weeks",
    "@AcmeEnergy you took two payments this month",
    "@AcmeEnergy meter readings wrong for months and you keep estimating",
    "@AcmeEnergy been on hold for an hour, ridiculous",
    "@AcmeEnergy why was my direct debit increased without telling me",
    "@AcmeEnergy the app has been broken since the update",
    "@AcmeEnergy promised a callback yesterday, nothing",
    "@AcmeEnergy no heating and no hot water since Friday",
    "@AcmeEnergy overcharged again, this is a joke",
]
OTHERS = [
    "@AcmeEnergy thanks for sorting my account so quickly",
    "@AcmeEnergy what's your cheapest tariff for a flat?",
    "@AcmeEnergy how do I submit a meter reading?",
    "Lovely sunny day in Leeds today",
    "@AcmeEnergy great service from your engineer today",
    "@AcmeEnergy do you have green energy plans?",
    "watching the football with the lads",
    "@AcmeEnergy the new app is really easy to use",
    "@AcmeEnergy can I move my account to my new address?",
    "Win a free smart speaker, retweet to enter!",
    "@AcmeEnergy cheers for the quick reply",
    "off to the gym then dinner",
]
HELD_OUT = [
    ("@AcmeEnergy my power has been off for 5 hours and no update", "complaint"),
    ("@AcmeEnergy you charged me twice for the same bill", "complaint"),
    ("@AcmeEnergy still no engineer, this is the third time", "complaint"),
    ("@AcmeEnergy my refund still hasn't arrived", "complaint"),
    ("@AcmeEnergy thank you for the fast help today", "not_complaint"),
    ("@AcmeEnergy do you offer a student tariff?", "not_complaint"),
    ("great night out with friends", "not_complaint"),
    ("@AcmeEnergy love the new app design", "not_complaint"),
    ("@AcmeEnergy what time does your phone line open?", "not_complaint"),
    ("having pizza tonight", "not_complaint"),
]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "classifiers.training.cli", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    rows = [(t, "complaint") for t in COMPLAINTS] + [(t, "not_complaint") for t in OTHERS]
    data = write_csv(d / "history.csv", rows, header=("post", "tag"))
    out = d / "model"
    res = run_cli(
        "train", "--task", "intent", "--data", data, "--text-col", "post", "--label-col", "tag", "--out", out
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["rows"] == len(rows)
    return out


def test_train_writes_a_usable_model_dir(trained: Path) -> None:
    meta = json.loads((trained / "model.json").read_text())
    assert meta["heads"]["intent"]["classes"] == ["complaint", "not_complaint"]
    assert len(meta["training_data"]["sha256"]) == 64


def test_train_then_evaluate_beats_the_majority_baseline(trained: Path, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "held_out.csv", HELD_OUT)
    res = run_cli("evaluate", "--task", "complaint", "--data", data, "--model", trained)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    majority = max(sum(lab == c for _, lab in HELD_OUT) for c in ("complaint", "not_complaint")) / len(
        HELD_OUT
    )
    assert report["n"] == len(HELD_OUT)
    assert report["accuracy"] > majority
    assert report["macro_f1"] > 0.5


def test_evaluate_prints_the_contract_fields(tmp_path: Path) -> None:
    rows = [
        ("I love this, best day ever!", "positive"),
        ("this is awful, I hate it", "negative"),
        ("the meeting is at 3pm on Tuesday", "neutral"),
    ]
    res = run_cli("evaluate", "--task", "sentiment", "--data", write_csv(tmp_path / "s.csv", rows))
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    for key in ("n", "accuracy", "macro_f1", "macro_recall", "per_class", "confusion_matrix", "posts_per_s"):
        assert key in report
    assert set(report["per_class"]) == {"negative", "neutral", "positive"}
    assert set(report["per_class"]["negative"]) >= {"precision", "recall", "f1"}
    assert report["confusion_matrix"]["labels"] == ["negative", "neutral", "positive"]
    assert sum(map(sum, report["confusion_matrix"]["rows_true_cols_pred"])) == 3
    assert report["posts_per_s"] > 0


def test_evaluate_actionable(tmp_path: Path) -> None:
    rows = [
        ("@NovaTel my internet is down again, fix it", "actionable"),
        ("@NovaTel do you have 5G in Leeds?", "actionable"),
        ("lovely sunset tonight", "not_actionable"),
        ("@NovaTel thanks, all sorted, great service!", "not_actionable"),
    ]
    res = run_cli("evaluate", "--task", "actionable", "--data", write_csv(tmp_path / "a.csv", rows))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["accuracy"] == 1.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label\n", "no labelled rows"),
        ("", "empty file"),
        ("body,label\nhello,positive\n", "missing column"),
        ("text,label\nhello,happy\n", "unknown label"),
    ],
)
def test_bad_files_fail_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    for args in (
        ("evaluate", "--task", "sentiment", "--data", path),
        ("train", "--task", "sentiment", "--data", path, "--out", tmp_path / "m"),
    ):
        res = run_cli(*args)
        assert res.returncode == 2
        assert message in res.stderr
        assert res.stdout == ""
    assert not (tmp_path / "m").exists()


def test_missing_file_and_missing_model_fail_clearly(tmp_path: Path) -> None:
    res = run_cli("evaluate", "--task", "complaint", "--data", tmp_path / "nope.csv")
    assert res.returncode == 2 and "no such file" in res.stderr
    data = write_csv(tmp_path / "ok.csv", [("hi", "complaint")])
    res = run_cli("evaluate", "--task", "complaint", "--data", data, "--model", tmp_path / "no-model")
    assert res.returncode == 2 and "cannot load model" in res.stderr


def test_intent_labels_cannot_mix_taxonomies(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "mix.csv", [("a", "complaint"), ("b", "question"), ("c", "not_complaint")])
    res = run_cli("train", "--task", "intent", "--data", data, "--out", tmp_path / "m")
    assert res.returncode == 2 and "intent labels must be" in res.stderr


def test_train_embeddings_flag_records_the_second_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--embeddings`` reaches the trainer; a cheap stand-in encoder keeps this fast (the real one is
    tested in test_embeddings.py)."""
    from classifiers.embeddings import set_encoder
    from classifiers.training.cli import main
    from tests.classifiers.test_embeddings import HashEncoder

    rows = [(t, "complaint") for t in COMPLAINTS] + [(t, "not_complaint") for t in OTHERS]
    data = write_csv(tmp_path / "history.csv", rows)
    set_encoder(HashEncoder())
    try:
        code = main(
            ["train", "--task", "intent", "--data", str(data), "--out", str(tmp_path / "m"), "--embeddings"]
        )
    finally:
        set_encoder(None)
    assert code == 0, capsys.readouterr().err
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["heads"]["intent"]["second_stage"]["encoder"] == "test-hash"
    assert meta["version"].endswith("-emb")
