"""A rule-based scorer: the dependency-free fallback, and the floor any trained model must beat.

It exists so the pipeline always has a scorer (no model files needed) and so urgency cues, which are rare
and high-stakes, are caught by explicit, auditable rules rather than learned weights.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from classifiers.base import INTENT_LABELS, SENTIMENT_LABELS, ScoreBatch

__all__ = ["URGENCY_PATTERNS", "LexiconScorer", "urgency_cues"]

_WORD = re.compile(r"[a-z']+")

_NEGATIVE = frozenset(
    [
        "awful",
        "bad",
        "broke",
        "broken",
        "cancel",
        "cancelled",
        "charged",
        "crash",
        "crashed",
        "delay",
        "delayed",
        "disappointed",
        "disgusting",
        "down",
        "error",
        "fail",
        "failed",
        "failing",
        "fraud",
        "furious",
        "hate",
        "horrible",
        "lost",
        "missing",
        "never",
        "outage",
        "overcharged",
        "poor",
        "refund",
        "rude",
        "scam",
        "slow",
        "stuck",
        "terrible",
        "ugh",
        "unacceptable",
        "useless",
        "waiting",
        "worst",
        "wrong",
        "angry",
        "ridiculous",
        "sucks",
        "annoyed",
        "frustrated",
        "nightmare",
        "joke",
        "pathetic",
    ]
)
_POSITIVE = frozenset(
    [
        "amazing",
        "awesome",
        "best",
        "brilliant",
        "excellent",
        "fantastic",
        "glad",
        "great",
        "happy",
        "helpful",
        "love",
        "loved",
        "lovely",
        "nice",
        "perfect",
        "quick",
        "resolved",
        "smooth",
        "superb",
        "thank",
        "thanks",
        "thx",
        "wonderful",
        "appreciate",
        "recommend",
        "cool",
    ]
)
_NEGATORS = frozenset(
    {"not", "no", "never", "isn't", "wasn't", "don't", "didn't", "can't", "won't", "nothing"}
)

_QUESTION = re.compile(
    r"\?|^(how|what|when|where|why|who|which|can|could|do|does|is|are|will|would|should)\b", re.I | re.M
)
_REQUEST = re.compile(
    r"\b(refund|cancel|unsubscribe|reset|change my|update my|need (?:help|to)"
    r"|please (?:help|fix|send|call|dm)|dm me|contact me|call me|replace|return|exchange|track(?:ing)?"
    r"|where is my|account|password|invoice)\b",
    re.I,
)
_PROMO = re.compile(
    r"\b(giveaway|promo code|discount|% off|sale|follow (?:us|me)|click here|free followers|win a|sponsored"
    r"|check out my|subscribe to my|limited offer)\b",
    re.I,
)

URGENCY_PATTERNS: dict[str, re.Pattern[str]] = {
    "safety": re.compile(
        r"\b(fire|smoke|explod\w*|injur\w*|hurt|burn\w*|unsafe|danger\w*|emergency|choking|overheat\w*"
        r"|gas leak|carbon monoxide|electric shock|food poisoning|allergic reaction|caught fire|ambulance)\b",
        re.I,
    ),
    "legal_threat": re.compile(
        r"\b(lawyer|attorney|solicitor|sue|suing|lawsuit|legal action|small claims|ombudsman|regulator"
        r"|trading standards|consumer rights)\b",
        re.I,
    ),
    "churn_threat": re.compile(
        r"\b(switch(?:ing)? (?:to|provider|providers|bank|banks|network)|time to switch"
        r"|cancel(?:l?ing)? my (?:account|subscription|contract|plan|membership)|leaving you|never again"
        r"|close my account|taking my business|lost a (?:loyal )?customer|last time i use)\b",
        re.I,
    ),
    "outage": re.compile(
        r"\b(outage|is down|are down|down again|not working|no service|no signal|no internet|no power"
        r"|power cut|can'?t log ?in|cannot log ?in|offline|won'?t load|servers? (?:is |are )?down)\b",
        re.I,
    ),
    "press": re.compile(
        r"\b(journalist|reporter|press (?:office|enquiry|inquiry)|media enquiry"
        r"|writing (?:a|an) (?:piece|story|article)|for (?:a|our) (?:story|piece|article))\b",
        re.I,
    ),
}


def urgency_cues(text: str) -> tuple[str, ...]:
    return tuple(cue for cue, pattern in URGENCY_PATTERNS.items() if pattern.search(text))


class LexiconScorer:
    """Keyword and rule scorer. Crude, but fast, explainable and never missing."""

    version = "lexicon-1"

    def score(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> ScoreBatch:
        n = len(texts)
        sentiment = np.zeros((n, len(SENTIMENT_LABELS)), dtype=np.float64)
        intent = np.zeros((n, len(INTENT_LABELS)), dtype=np.float64)
        urgency: list[tuple[str, ...]] = []
        reasons: list[tuple[str, ...]] = []
        for i, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            neg = pos = 0
            hits: list[str] = []
            for j, w in enumerate(words):
                negated = any(p in _NEGATORS for p in words[max(0, j - 2) : j])
                if w in _NEGATIVE:
                    pos, neg = (pos + 1, neg) if negated else (pos, neg + 1)
                    hits.append(f"{'not ' if negated else ''}{w}")
                elif w in _POSITIVE:
                    pos, neg = (pos, neg + 1) if negated else (pos + 1, neg)
                    hits.append(f"{'not ' if negated else ''}{w}")
            logits = np.array([neg * 1.5, 0.8, pos * 1.5])
            sentiment[i] = np.exp(logits) / np.exp(logits).sum()
            cues = urgency_cues(text)
            s_neg = sentiment[i, 0]
            scores = {
                "complaint": 2.5 * s_neg + (1.0 if cues else 0.0),
                "question": 1.6 if _QUESTION.search(text) else 0.0,
                "request": 1.7 if _REQUEST.search(text) else 0.0,
                "praise": 2.0 * sentiment[i, 2],
                "promo": 2.5 if _PROMO.search(text) else 0.0,
                "chatter": 0.9,
            }
            vec = np.array([scores[label] for label in INTENT_LABELS]) * 2.0
            intent[i] = np.exp(vec) / np.exp(vec).sum()
            urgency.append(cues)
            reasons.append(tuple([f"lexicon:{h}" for h in hits[:5]] + [f"cue:{c}" for c in cues]))
        return ScoreBatch(sentiment, intent, urgency, reasons, model_version=self.version)
