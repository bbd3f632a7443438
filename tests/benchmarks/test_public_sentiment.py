"""The public sentiment benchmark's reader: rated sentences become three-class labels, and a download that
is not the pinned file is refused (no network here: the archive is built in the test)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from benchmarks import public_sentiment as ps


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sdist(tmp_path: Path, tweets: bytes) -> Path:
    inner = {f"hutto_ICWSM_2014/{f}": b"1\t0.0\tfiller\r\n" for f in ps.SETS.values()}
    inner[f"hutto_ICWSM_2014/{ps.SETS['tweets']}"] = tweets
    outer = {ps.PAPER_ARCHIVE: _tar_gz(inner)}
    path = tmp_path / ps.SDIST
    path.write_bytes(_tar_gz(outer))
    return path


def test_ratings_become_three_classes_at_the_fixed_band(tmp_path: Path) -> None:
    tweets = (
        b"1\t2.7\tSo lucky, amazing friends.\r\n"
        b"2\t0.5\tYay. Another phone interview.\r\n"
        b"3\t0.49\tMeeting at noon.\r\n"
        b"4\t-0.5\tMissed the bus again\r\n"
        b"5\t-3.1\tWorst day ever\r\n"
        b"6\t1.0\t   \r\n"
        b"broken line\r\n"
    )
    texts, labels = ps.read_sets(_sdist(tmp_path, tweets))["tweets"]
    assert texts == [
        "So lucky, amazing friends.",
        "Yay. Another phone interview.",
        "Meeting at noon.",
        "Missed the bus again",
        "Worst day ever",
    ]
    assert labels == ["positive", "positive", "neutral", "negative", "negative"]


def test_a_cached_file_that_is_not_the_pinned_sdist_is_refused(tmp_path: Path) -> None:
    _sdist(tmp_path, b"1\t1.0\tfine\r\n")  # right name, different bytes: never the published file
    with pytest.raises(SystemExit, match="not the pinned"):
        ps.fetch_sdist(tmp_path)
