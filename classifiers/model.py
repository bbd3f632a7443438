"""Trained models on disk (read and written here, one format) and the scorer the pipeline runs.

A model directory holds ``model.json`` (format version, model version, classes, training-data sha256,
metrics, created date) and ``model.npz`` (vocabulary and weights as plain arrays, read with
``allow_pickle=False``): nothing executable is ever loaded from a path.

A directory may hold a ``sentiment`` head, an ``intent`` head, or both. :class:`ModelScorer` takes each
head from the directory given and the missing one from the shipped default, so ``triage train --task
sentiment`` output is usable on its own. An intent head trained on complaint/not_complaint labels fills the
``complaint`` column; the rest of the probability mass is split across the other intents in the
proportions the default intent head gives.

Writing lives beside reading so the format has one definition; :mod:`classifiers.training` builds the
:class:`TrainedModel` it saves. Loading and scoring need numpy and scipy only: no scikit-learn, and torch
only through :func:`classifiers.embeddings.get_encoder`, for a model that records an embedding stage.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.base import (
    BINARY_INTENT_LABELS,
    INTENT_LABELS,
    SENTIMENT_LABELS,
    Explained,
    Explanations,
    ScoreBatch,
)
from classifiers.embeddings import Encoder, SecondStage, get_encoder
from classifiers.features import DENSE_NAMES, Features, Featurizer
from classifiers.lexicon import URGENCY_PATTERNS
from classifiers.linear import LinearHead
from classifiers.wordvectors import WORDVEC_PATH, load_word_vectors

__all__ = [
    "DEFAULT_MODEL_DIR",
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "ModelScorer",
    "TrainedModel",
    "load_model",
]

FORMAT = "social-triage-linear"
#: 1: n-gram heads only. 2: a head may carry a sentence-embedding second stage (older readers would
#: silently ignore it, so such models are written as version 2; plain models stay version 1).
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "default"

FloatArray = npt.NDArray[np.float64]

# One case-sensitive pass over the lower-cased batch says which posts may fire an urgency rule (re.I is ~3x
# slower); most posts fire none, so the per-cue patterns run only on the few that might.
_ANY_CUE = re.compile("|".join(f"(?:{p.pattern})" for p in URGENCY_PATTERNS.values()))


def _cue_candidates(texts: Sequence[str]) -> set[int]:
    blob = "\x00".join(texts).lower()
    starts: list[int] = []
    pos = 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + 1
    return {bisect.bisect_right(starts, m.start()) - 1 for m in _ANY_CUE.finditer(blob)}


@dataclass
class TrainedModel:
    """A featurizer plus one or two linear heads, and the metadata that travels with them."""

    featurizer: Featurizer
    heads: dict[str, LinearHead]  # task -> head
    meta: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, SecondStage] = field(default_factory=dict)  # task -> optional embedding stage

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unknown"))

    def save(self, out_dir: str | Path) -> Path:
        """Write ``model.json`` and ``model.npz`` into ``out_dir`` (created if needed)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, npt.NDArray[Any]] = {"vocab": np.asarray(self.featurizer.vocab_list, dtype=np.str_)}
        heads_meta: dict[str, Any] = {}
        for task, head in self.heads.items():
            arrays[f"{task}__coef"] = head.coef.astype(np.float32)
            arrays[f"{task}__intercept"] = head.intercept.astype(np.float64)
            heads_meta[task] = {
                "classes": list(head.classes),
                "dense_scale": head.dense_scale,
                **self.meta.get("heads", {}).get(task, {}),
            }
            stage = self.stages.get(task)
            if stage is not None:
                arrays[f"{task}__stage2_coef"] = stage.coef.astype(np.float32)
                arrays[f"{task}__stage2_intercept"] = stage.intercept.astype(np.float64)
                heads_meta[task]["second_stage"] = {
                    **heads_meta[task].get("second_stage", {}),
                    "encoder": stage.encoder,
                    "dim": stage.dim,
                    "stack_scale": stage.stack_scale,
                    "confident_above": stage.confident_above,
                }
            else:
                heads_meta[task].pop("second_stage", None)
        wv = self.featurizer.word_vectors
        if wv is not None:
            heads_meta_wv: dict[str, Any] = {"sha256": wv.sha256, "dims": wv.dims, "file": WORDVEC_PATH.name}
        meta = {
            **{k: v for k, v in self.meta.items() if k != "word_vectors"},
            **({"word_vectors": heads_meta_wv} if wv is not None else {}),
            "format": FORMAT,
            "format_version": FORMAT_VERSION if self.stages else 1,
            "dense_features": list(self.featurizer.dense_names),
            "n_vocab": self.featurizer.n_sparse,
            "heads": heads_meta,
        }
        np.savez_compressed(out / "model.npz", **arrays)  # type: ignore[arg-type]
        (out / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return out


def load_model(model_dir: str | Path) -> TrainedModel:
    """Read a model directory written by :meth:`TrainedModel.save`; refuses anything else."""
    d = Path(model_dir)
    meta_path, npz_path = d / "model.json", d / "model.npz"
    if not meta_path.is_file() or not npz_path.is_file():
        raise FileNotFoundError(f"{d}: not a model directory (needs model.json and model.npz)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT or meta.get("format_version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{d}: unsupported model format {meta.get('format')!r} v{meta.get('format_version')}"
        )
    word_vectors = None
    if meta.get("word_vectors"):
        word_vectors = load_word_vectors()
        if word_vectors.sha256 != meta["word_vectors"].get("sha256"):
            raise ValueError(f"{d}: model was built with a different word-vector table; retrain it")
    featurizer_names = DENSE_NAMES + (word_vectors.feature_names if word_vectors else ())
    if list(meta.get("dense_features", [])) != list(featurizer_names):
        raise ValueError(f"{d}: model was built with different dense features; retrain it")
    with np.load(npz_path, allow_pickle=False) as npz:
        vocab = [str(w) for w in npz["vocab"]]
        heads: dict[str, LinearHead] = {}
        stages: dict[str, SecondStage] = {}
        for task, h in meta["heads"].items():
            coef = np.asarray(npz[f"{task}__coef"], dtype=np.float64)
            intercept = np.asarray(npz[f"{task}__intercept"], dtype=np.float64)
            if coef.shape != (len(vocab) + len(featurizer_names), len(h["classes"])):
                raise ValueError(f"{d}: {task} weights have shape {coef.shape}, metadata disagrees")
            heads[task] = LinearHead(tuple(h["classes"]), coef, intercept, float(h["dense_scale"]))
            s2 = h.get("second_stage")
            if s2 is not None:
                s_coef = np.asarray(npz[f"{task}__stage2_coef"], dtype=np.float64)
                k = len(h["classes"])
                if s_coef.shape != (int(s2["dim"]) + k, k):
                    raise ValueError(f"{d}: {task} second-stage weights have shape {s_coef.shape}")
                s_icpt = np.asarray(npz[f"{task}__stage2_intercept"], dtype=np.float64)
                stages[task] = SecondStage(
                    tuple(h["classes"]), s_coef, s_icpt, str(s2["encoder"]), int(s2["dim"]),
                    float(s2["stack_scale"]), float(s2["confident_above"]),
                )  # fmt: skip
    return TrainedModel(Featurizer(vocab, word_vectors), heads, meta, stages)


class ModelScorer:
    """The trained scorer: sentiment and intent heads, rule-based urgency cues, and reasons for each."""

    def __init__(
        self, sentiment: TrainedModel, intent: TrainedModel, intent_base: TrainedModel | None = None,
        encoder: Encoder | None = None,
    ):  # fmt: skip
        self.sentiment_model = sentiment
        self.intent_model = intent
        self.sentiment_head = sentiment.heads["sentiment"]
        self.intent_head = intent.heads["intent"]
        if tuple(self.sentiment_head.classes) != SENTIMENT_LABELS:
            raise ValueError(f"sentiment head classes {self.sentiment_head.classes} != {SENTIMENT_LABELS}")
        self.binary_intent = tuple(self.intent_head.classes) == BINARY_INTENT_LABELS
        if not self.binary_intent and not set(self.intent_head.classes) <= set(INTENT_LABELS):
            raise ValueError(f"intent head classes {self.intent_head.classes} are not intents")
        self.intent_base = intent_base if self.binary_intent else None
        versions = dict.fromkeys([sentiment.version, intent.version])
        self.version = "+".join(versions)
        self.sentiment_stage = sentiment.stages.get("sentiment")
        self.intent_stage = intent.stages.get("intent")
        # Only a model trained with embeddings loads the encoder (and torch); it fails here, at start-up.
        self.encoder: Encoder | None = None
        if self.sentiment_stage is not None or self.intent_stage is not None:
            self.encoder = encoder or get_encoder()
            for stage in (self.sentiment_stage, self.intent_stage):
                if stage is not None and (stage.encoder, stage.dim) != (self.encoder.name, self.encoder.dim):
                    raise ValueError(
                        f"model needs encoder {stage.encoder} ({stage.dim}-d), "
                        f"got {self.encoder.name} ({self.encoder.dim}-d)"
                    )

    def _features(self, model: TrainedModel, texts: Sequence[str], langs: Sequence[str | None] | None,
                  cache: dict[int, Features]) -> Features:  # fmt: skip
        key = id(model.featurizer)
        if key not in cache:
            cache[key] = model.featurizer.transform(texts, langs)
        return cache[key]

    def _proba(
        self, head: LinearHead, stage: SecondStage | None, feats: Features, texts: Sequence[str]
    ) -> tuple[FloatArray, npt.NDArray[np.bool_] | None]:
        """A head's probabilities; with a second stage, the rows it re-scored."""
        if stage is None or self.encoder is None:
            return head.proba(feats), None
        return stage.refine(head.logits(feats), texts, self.encoder)

    def intent_matrix(self, feats: Features, base: Features | None) -> FloatArray:
        """Intent probabilities in ``INTENT_LABELS`` order from the first (n-gram) stage alone."""
        return self._intent_columns(self.intent_head.proba(feats), base)

    def _intent_columns(self, p: FloatArray, base: Features | None) -> FloatArray:
        """Head probabilities laid out in ``INTENT_LABELS`` order, whatever classes the head has."""
        n = p.shape[0]
        out = np.zeros((n, len(INTENT_LABELS)), dtype=np.float64)
        if self.binary_intent:
            p_c = p[:, 0]
            if self.intent_base is not None and base is not None:
                rest = self.intent_base.heads["intent"].proba(base)
                rest[:, INTENT_LABELS.index("complaint")] = 0.0
                rest /= np.maximum(rest.sum(axis=1, keepdims=True), 1e-12)
            else:
                rest = np.zeros_like(out)
                rest[:, INTENT_LABELS.index("chatter")] = 1.0
            out = rest * (1.0 - p_c)[:, None]
            out[:, INTENT_LABELS.index("complaint")] = p_c
            return out
        for j, cl in enumerate(self.intent_head.classes):
            out[:, INTENT_LABELS.index(cl)] = p[:, j]
        return out

    def score(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> ScoreBatch:
        texts = list(texts)
        cache: dict[int, Features] = {}
        f_sent = self._features(self.sentiment_model, texts, langs, cache)
        f_int = self._features(self.intent_model, texts, langs, cache)
        f_base = self._features(self.intent_base, texts, langs, cache) if self.intent_base else None
        sentiment, s_refined = self._proba(self.sentiment_head, self.sentiment_stage, f_sent, texts)
        p_int, i_refined = self._proba(self.intent_head, self.intent_stage, f_int, texts)
        intent = self._intent_columns(p_int, f_base)
        s_arg = sentiment.argmax(axis=1)
        i_arg = intent.argmax(axis=1)
        head_arg = i_arg if not self.binary_intent else (intent[:, 0] < 0.5).astype(np.intp)
        if not self.binary_intent:
            head_arg = np.array(
                [self.intent_head.classes.index(INTENT_LABELS[i]) for i in i_arg], dtype=np.intp
            )

        def explain(rows: list[int]) -> list[Explained]:
            """Urgency cues and reasons of ``rows`` (see :class:`Explanations`)."""
            idx = np.asarray(rows, dtype=np.intp)
            every = len(rows) == len(texts)  # rows come sorted and unique: all of them, in order
            s_top = self.sentiment_head.top_features(
                f_sent.sparse if every else f_sent.sparse[idx],
                s_arg[idx],
                self.sentiment_model.featurizer.vocab_list,
            )
            i_top = self.intent_head.top_features(
                f_int.sparse if every else f_int.sparse[idx],
                head_arg[idx],
                self.intent_model.featurizer.vocab_list,
            )
            picked = [texts[i] for i in rows]
            candidates = _cue_candidates(picked)
            out: list[Explained] = []
            for j, i in enumerate(rows):
                cues: tuple[str, ...] = ()
                if j in candidates:
                    cues = tuple(cue for cue, pat in URGENCY_PATTERNS.items() if pat.search(picked[j]))
                s_lab, i_lab = SENTIMENT_LABELS[s_arg[i]], INTENT_LABELS[i_arg[i]]
                r = [
                    f"sentiment {s_lab} {sentiment[i, s_arg[i]]:.2f}: "
                    + (", ".join(s_top[j]) or "no strong words"),
                    f"intent {i_lab} {intent[i, i_arg[i]]:.2f}: "
                    + (", ".join(i_top[j]) or "no strong words"),
                ]
                if f_sent.lexicon_hits[i]:
                    r.append("lexicon " + " ".join(f_sent.lexicon_hits[i]))
                for task, refined in (("sentiment", s_refined), ("intent", i_refined)):
                    if refined is not None and refined[i]:
                        r.append(f"embedding stage decided {task}")
                r.extend(f"cue {c}" for c in cues)
                out.append((cues, tuple(r)))
            return out

        ex = Explanations(len(texts), explain)
        return ScoreBatch(
            sentiment, intent, ex.urgency, ex.reasons, model_version=self.version, explanations=ex
        )
