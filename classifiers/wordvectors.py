"""The static word-vector table at scoring time: read once per process, looked up per token.

Why a table and not the sentence encoder: the corpus teaches the linear heads a few thousand words; real
posts use many more. The table (distilled from all-MiniLM-L6-v2 by
:mod:`classifiers.training.wordtable`) gives every one of ~22k words a 64-d vector plus a few *distilled
task columns* (a teacher's class-centred intent logits per word). A post's feature block is the mean of
its content words' rows, plus the maximum of the task columns: one dictionary lookup per token and one
sparse product per batch, so the streaming path stays torch-free and fast, while "delayed", "overdue" and
"late" land near each other even if only one of them is in the corpus.

The table is a project data file (``classifiers/data/wordvec.npz``: words as a unicode array, float16
vectors, loaded with ``allow_pickle=False``; ``wordvec.json`` beside it says how it was made). Models record
the table's sha256 and refuse to load against a different one. This module only reads it; building it
needs the ``embeddings`` extra and lives in :mod:`classifiers.training.wordtable`.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["WORDVEC_PATH", "WordVectors", "load_word_vectors"]

WORDVEC_PATH = Path(__file__).resolve().parent / "data" / "wordvec.npz"


class WordVectors:
    """Word -> row of a (n_words, dims) matrix; ``sha256`` identifies the file the rows came from.

    The last ``len(proj_classes)`` columns are distilled task columns (teacher logits per class); they are
    also max-pooled over a post's words. Older tables have none.
    """

    def __init__(
        self,
        words: list[str],
        vectors: npt.NDArray[np.float64],
        sha256: str,
        proj_classes: tuple[str, ...] = (),
    ) -> None:
        self.index: dict[str, int] = {w: i for i, w in enumerate(words)}
        self.vectors = vectors
        self.sha256 = sha256
        self.proj_classes = proj_classes

    @property
    def dims(self) -> int:
        """All columns: the PCA block plus the distilled task columns."""
        return int(self.vectors.shape[1])

    @property
    def pooled(self) -> int:
        """How many trailing columns are also max-pooled (the distilled task columns)."""
        return len(self.proj_classes)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the dense features this table adds: mean of every column, then max of the task ones."""
        k = self.pooled
        return (
            tuple(f"wordvec_{i}" for i in range(self.dims - k))
            + tuple(f"wordproj_{c}" for c in self.proj_classes)
            + tuple(f"wordprojmax_{c}" for c in self.proj_classes)
        )


@lru_cache(maxsize=2)
def load_word_vectors(path: Path = WORDVEC_PATH) -> WordVectors:
    """The shipped table (read once per process)."""
    raw = path.read_bytes()
    with np.load(path, allow_pickle=False) as npz:
        words = [str(w) for w in npz["words"]]
        vectors = np.asarray(npz["vectors"], dtype=np.float64)
        proj = tuple(str(c) for c in npz["proj_classes"]) if "proj_classes" in npz.files else ()
    return WordVectors(words, vectors, hashlib.sha256(raw).hexdigest(), proj)
