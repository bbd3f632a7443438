"""Read a user's labelled CSV, refusing anything that would silently train or evaluate the wrong thing."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DataError", "LabelledData", "read_labelled"]


class DataError(ValueError):
    """A labelled file that cannot be used: missing, empty, wrong columns or unknown labels."""


@dataclass(frozen=True)
class LabelledData:
    texts: list[str]
    labels: list[str]
    langs: list[str | None] | None
    sha256: str
    path: str

    def __len__(self) -> int:
        return len(self.texts)


def read_labelled(
    path: str | Path,
    allowed: Collection[str],
    text_col: str = "text",
    label_col: str = "label",
) -> LabelledData:
    """Rows with a text and a label in ``allowed`` (labels are matched case-insensitively).

    An optional ``lang`` column (ISO 639-1) is used when present. Rows with an empty text are skipped;
    a file with no usable row, a missing column or any unknown label raises :class:`DataError`.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    raw = p.read_bytes()
    if p.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise DataError(f"{p}: not a gzip file ({exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        raise DataError(f"{p}: empty file (no header row)")
    missing = [c for c in (text_col, label_col) if c not in header]
    if missing:
        raise DataError(f"{p}: missing column(s) {missing}; columns are {header}")
    allowed_set = {a.lower() for a in allowed}
    texts: list[str] = []
    labels: list[str] = []
    langs: list[str | None] = []
    unknown: Counter[str] = Counter()
    has_lang = "lang" in header
    for row in reader:
        t = (row.get(text_col) or "").strip()
        lab = (row.get(label_col) or "").strip().lower()
        if not t:
            continue
        if lab not in allowed_set:
            unknown[lab] += 1
            continue
        texts.append(t)
        labels.append(lab)
        langs.append((row.get("lang") or "").strip() or None if has_lang else None)
    if unknown:
        shown = ", ".join(f"{k!r} x{v}" for k, v in unknown.most_common(5))
        raise DataError(
            f"{p}: unknown label(s) in column {label_col!r}: {shown}; expected {sorted(allowed_set)}"
        )
    if not texts:
        raise DataError(f"{p}: no labelled rows")
    return LabelledData(texts, labels, langs if has_lang else None, hashlib.sha256(raw).hexdigest(), str(p))
