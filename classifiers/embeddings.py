"""The optional embedding second stage at scoring time: its weights, and the encoder it needs, by name.

A model trained with ``triage train --embeddings`` carries, per head, a second linear stage over
[sentence embedding, first-stage logits]; the scorer sends it only the posts the first (n-gram) stage is
unsure about. Scoring with it is numpy (:meth:`SecondStage.refine`); the embeddings come from an
:class:`Encoder`. The real encoder needs torch (extra ``embeddings``), so it lives in the optional module
:data:`ENCODER_MODULE` (:mod:`classifiers.training.encoder`), which this module names but never imports
statically: :func:`get_encoder` resolves it on first use, so only a model that records a second stage ever
loads it (the shipped default model never does), and a missing extra fails there, at worker start-up,
with an install hint.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from classifiers.linear import softmax

__all__ = ["ENCODER_MODULE", "Encoder", "SecondStage", "get_encoder", "set_encoder"]

#: Where the real (torch) encoder lives: named, not imported, so the scoring path's imports never reach torch.
ENCODER_MODULE = "classifiers.training.encoder"

FloatArray = npt.NDArray[np.float64]


class Encoder(Protocol):
    """Turns texts into fixed-size vectors; ``name``/``version`` go into model metadata."""

    name: str
    version: str
    dim: int

    def encode(self, texts: Sequence[str]) -> FloatArray: ...


_ENCODER: Encoder | None = None


def get_encoder() -> Encoder:
    """The process-wide encoder, loaded on first use (~4 s): one per worker, like the scorer.

    Raises :class:`classifiers.training.encoder.EmbeddingsUnavailable` (a ``ValueError``) when the
    ``embeddings`` extra is not installed.
    """
    global _ENCODER
    if _ENCODER is None:
        encoder: Encoder = importlib.import_module(ENCODER_MODULE).MiniLMEncoder()
        _ENCODER = encoder
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
