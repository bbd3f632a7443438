"""Build the static word-vector table (``classifiers/data/wordvec.npz``) from all-MiniLM-L6-v2.

Why: the corpus teaches the linear heads a few thousand words; real posts use many more. Each of the
encoder's ~21,700 whole-word tokens is run through the sentence encoder once, on its own (the Model2Vec
recipe), and the vectors are reduced to 64 dimensions by PCA; :mod:`classifiers.wordvectors` then looks
words up at scoring time, with no encoder.

The table also carries a few *distilled task columns*: a logistic-regression "teacher" is fitted on the
MiniLM sentence embeddings of the project corpus (intent labels; the encoder reads whole posts, in
context), and each word's own 384-d encoding is put through the teacher's weights. Each word then holds
the teacher's (class-centred) intent logits, one column per intent. A post gets their mean and their
maximum over its content words (the strongest complaint cue is not diluted by a long post). This moves
some of what the sentence encoder knows about complaints into a per-word lookup, at no per-post encoder
cost. The teacher is fitted on the corpus only, so the table must be rebuilt when the corpus changes.

Rebuilding needs the ``embeddings`` extra: ``python -m classifiers.training.wordtable``. Models record the
table's sha256 and refuse to load against a different one, so retrain the model afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

from classifiers.base import INTENT_LABELS
from classifiers.features import normalise_batch
from classifiers.training.corpus.generate import CORPUS_PATH
from classifiers.training.dataset import read_labelled
from classifiers.training.encoder import MiniLMEncoder
from classifiers.wordvectors import WORDVEC_PATH

__all__ = ["TEACHER_C", "WORDVEC_DIMS", "EncodedWords", "build_table"]

WORDVEC_DIMS = 64
_WORD = re.compile(r"[a-z][a-z']*")

#: The distilled teacher's regularisation: sklearn's default C, not searched. It learns the corpus's intent
#: labels.
TEACHER_C = 1.0


class EncodedWords:
    """Every table word's own 384-d encoding and the PCA that places it (built once, reused)."""

    def __init__(self, dims: int = WORDVEC_DIMS, corpus: Path | None = None) -> None:
        self.encoder = MiniLMEncoder(batch_size=512)
        self.corpus = corpus or CORPUS_PATH
        self.dims = dims
        vocab = self.encoder.vocabulary()
        words = [w for w in vocab if len(w) >= 2 and _WORD.fullmatch(w)]
        emb = self.encoder.encode(words)
        mean = emb.mean(axis=0)
        _, _, vt = np.linalg.svd(emb - mean, full_matrices=False)
        vt *= np.where(vt[:, :1] < 0, -1.0, 1.0)  # fix each component's sign, so rebuilds agree
        scale = ((emb - mean) @ vt[:dims].T).std(axis=0).mean() * np.sqrt(dims)  # typical vector norm ~1
        # Words posts use that the encoder's vocabulary splits into pieces ("refund", "wifi", "smh", typos
        # the corpus carries): encoded the same way, placed with the same PCA.
        extra = _extra_words(set(words), self.corpus)
        if extra:
            words += extra
            emb = np.vstack([emb, self.encoder.encode(extra)])
        self.words = words
        self.emb = emb
        self.pca = (emb - mean) @ vt[:dims].T / scale

    def table(
        self,
        teacher_texts: list[str],
        teacher_labels: list[str],
        sentence_emb: npt.NDArray[np.float64] | None = None,
    ) -> tuple[npt.NDArray[np.float64], tuple[str, ...]]:
        """The PCA block plus the task columns of a teacher fitted on these posts (encoded unless given)."""
        x = self.encoder.encode(teacher_texts) if sentence_emb is None else sentence_emb
        teacher = LogisticRegression(C=TEACHER_C, max_iter=3000).fit(x, teacher_labels)
        classes = tuple(str(c) for c in teacher.classes_)
        logits = self.emb @ np.asarray(teacher.coef_, dtype=np.float64).T
        logits -= logits.mean(axis=1, keepdims=True)  # only differences between classes mean anything
        logits /= logits.std(axis=0).mean() * np.sqrt(len(classes))  # a typical word's block has norm ~1
        return np.hstack([self.pca, logits]), classes


def _extra_words(known: set[str], corpus: Path) -> list[str]:
    """Words of the VADER lexicon and of the corpus (in 2+ posts) that are not whole vocabulary tokens."""
    lexicon = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(encoding="utf-8")
    found = {line.split("\t")[0].lower() for line in lexicon.splitlines() if line}
    df: dict[str, int] = {}
    texts = read_labelled(corpus, INTENT_LABELS, label_col="intent").texts
    for text in normalise_batch(texts):
        for w in set(_WORD.findall(text)):
            df[w] = df.get(w, 0) + 1
    found |= {w for w, c in df.items() if c >= 2}
    return sorted(w for w in found if len(w) >= 2 and _WORD.fullmatch(w) and w not in known)


def build_table(out: Path = WORDVEC_PATH, dims: int = WORDVEC_DIMS, corpus: Path | None = None) -> int:
    """Encode every whole-word token of the encoder's vocabulary, PCA to ``dims``, add the distilled task
    columns (teacher fitted on ``corpus``, default the project corpus), write the table."""
    words = EncodedWords(dims, corpus)
    data = read_labelled(words.corpus, INTENT_LABELS, label_col="intent")
    table, classes = words.table(data.texts, data.labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        words=np.asarray(words.words, dtype=np.str_),
        vectors=table.astype(np.float16),
        proj_classes=np.asarray(classes, dtype=np.str_),
    )
    enc = words.encoder
    meta = {
        "encoder": enc.name,
        "encoder_version": enc.version,
        "method": "each whole-word vocabulary token encoded alone, mean-pooled, L2-normalised; PCA; "
        "plus the VADER lexicon's and the corpus's (2+ posts) words the vocabulary lacks, encoded the same "
        "way and placed with the same PCA",
        "dims": table.shape[1],
        "pca_dims": dims,
        "task_columns": {
            "classes": list(classes),
            "method": f"logistic regression (C={TEACHER_C}) on MiniLM sentence embeddings of the corpus "
            "posts, intent labels; each word's own encoding through its weights, centred over classes; "
            "mean- and max-pooled per post",
            "corpus_sha256": data.sha256,
        },
        "words": len(words.words),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "rebuild": "python -m classifiers.training.wordtable (needs the 'embeddings' extra)",
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return len(words.words)


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild the static word-vector table from MiniLM.")
    parser.add_argument("--out", type=Path, default=WORDVEC_PATH)
    parser.add_argument("--dims", type=int, default=WORDVEC_DIMS)
    args = parser.parse_args()
    print(f"wrote {build_table(args.out, args.dims)} word vectors to {args.out}")


if __name__ == "__main__":
    main()
