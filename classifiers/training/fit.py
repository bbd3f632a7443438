"""Fit the softmax-linear heads with scikit-learn and keep only their weights, as scoring expects them.

Why apart from :mod:`classifiers.linear`: fitting needs scikit-learn, scoring does not. The fitted
estimator is reduced to a (n_features, k) coefficient matrix and a (k,) intercept in softmax form, class
order fixed by the caller, which is all :class:`~classifiers.linear.LinearHead` (and the embedding
:class:`~classifiers.embeddings.SecondStage`) multiply with at scoring time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from classifiers.features import Features
from classifiers.linear import LinearHead

__all__ = ["class_arrays", "fit_head"]

FloatArray = npt.NDArray[np.float64]


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
