"""A softmax-linear head over :class:`~classifiers.features.Features`: fit with scikit-learn, kept as arrays.

Only the coefficient arrays are kept after fitting, so a model is plain numbers (``.npz``) and scoring is
one sparse and one small dense matrix product per batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from classifiers.features import Features

__all__ = ["LinearHead", "class_arrays", "fit_head", "softmax"]

FloatArray = npt.NDArray[np.float64]


def softmax(z: FloatArray) -> FloatArray:
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


def fit_head(
    feats: Features,
    labels: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    c: float = 0.3,
    dense_scale: float = 3.0,
    class_prior: Mapping[str, float] | None = None,
    sample_weight: Sequence[float] | None = None,
) -> LinearHead:
    """Multinomial logistic regression; ``class_prior`` reweights classes to the mix expected in use."""
    classes = tuple(classes) if classes is not None else tuple(sorted(set(labels)))
    present = set(labels)
    if len(present) < 2:
        raise ValueError(f"need at least two classes to train, got {sorted(present)}")
    weights: dict[str, float] | None = None
    if class_prior:
        counts = Counter(labels)
        n = len(labels)
        weights = {cl: class_prior.get(cl, counts[cl] / n) / (counts[cl] / n) for cl in counts}
    x = sp.hstack([feats.sparse, sp.csr_matrix(feats.dense * dense_scale)]).tocsr()
    model = LogisticRegression(C=c, max_iter=3000, class_weight=weights)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    model.fit(x, np.asarray(labels), sample_weight=sw)
    coef, intercept = class_arrays(model, classes, x.shape[1])
    return LinearHead(classes, coef, intercept, dense_scale)


def class_arrays(model: LogisticRegression, classes: tuple[str, ...], n_features: int) -> tuple[
    FloatArray, FloatArray
]:  # fmt: skip
    """A fitted model's weights as (n_features, k) and (k,) arrays in ``classes`` order, softmax form."""
    fitted = [str(cl) for cl in model.classes_]
    coef = np.zeros((n_features, len(classes)), dtype=np.float64)
    intercept = np.full(len(classes), -30.0)  # a class absent from training is never predicted
    raw_coef = np.asarray(model.coef_, dtype=np.float64)
    raw_icpt = np.asarray(model.intercept_, dtype=np.float64)
    if len(fitted) == 2:  # sklearn keeps one row for binary problems: logit of the second class
        raw_coef = np.vstack([-raw_coef[0] / 2, raw_coef[0] / 2])
        raw_icpt = np.array([-raw_icpt[0] / 2, raw_icpt[0] / 2])
    for j, cl in enumerate(fitted):
        if cl not in classes:
            raise ValueError(f"label {cl!r} is not one of {classes}")
        coef[:, classes.index(cl)] = raw_coef[j]
        intercept[classes.index(cl)] = raw_icpt[j]
    return coef, intercept
