"""A softmax-linear head over :class:`~classifiers.features.Features` at scoring time: plain arrays, numpy.

A head is its coefficient arrays and nothing else, so a model is plain numbers (``.npz``) and scoring is
one sparse and one small dense matrix product per batch, with no estimator object and no scikit-learn in
the scoring path. Fitting (scikit-learn's logistic regression, whose weights become these arrays) lives in
:mod:`classifiers.training.fit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from classifiers.features import Features

__all__ = ["LinearHead", "softmax"]

FloatArray = npt.NDArray[np.float64]


def softmax(z: FloatArray) -> FloatArray:
    """Row-wise softmax of logits (shifted by the row maximum, so large logits do not overflow)."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True)
class LinearHead:
    """``classes`` and a (n_sparse + n_dense, k) weight matrix; dense inputs are scaled by ``dense_scale``.

    ``dense_scale`` > 1 lowers the effective L2 penalty on the lexicon block relative to the n-grams: the
    lexicon generalises beyond the training corpus, the n-grams mostly do not.
    """

    classes: tuple[str, ...]
    coef: FloatArray
    intercept: FloatArray
    dense_scale: float

    def logits(self, feats: Features) -> FloatArray:
        n_sparse = feats.sparse.shape[1]
        z = feats.sparse @ self.coef[:n_sparse] + (feats.dense * self.dense_scale) @ self.coef[n_sparse:]
        return np.asarray(z + self.intercept, dtype=np.float64)

    def proba(self, feats: Features) -> FloatArray:
        return softmax(self.logits(feats))

    def top_features(
        self, x: sp.csr_matrix, predicted: npt.NDArray[np.intp], names: Sequence[str], k: int = 3
    ) -> list[tuple[str, ...]]:
        """Per row of the n-gram matrix ``x``, the ``k`` n-grams that pushed hardest towards the predicted
        class (for explanations)."""
        n_sparse = x.shape[1]
        centred = self.coef[:n_sparse] - self.coef[:n_sparse].mean(axis=1, keepdims=True)
        lengths = np.diff(x.indptr)
        rows = np.repeat(np.arange(x.shape[0]), lengths)
        contrib = centred[x.indices, predicted[rows]] * x.data
        order = np.lexsort((-contrib, rows))
        out: list[tuple[str, ...]] = []
        idx = x.indices[order]
        con = contrib[order]
        for r in range(x.shape[0]):
            start, end = x.indptr[r], min(x.indptr[r + 1], x.indptr[r] + k)
            out.append(tuple(names[idx[j]] for j in range(start, end) if con[j] > 0.05))
        return out
