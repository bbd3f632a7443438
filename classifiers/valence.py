"""Word and emoji valence from the VADER lexicon (shipped inside the ``vaderSentiment`` wheel).

A trained model only knows the words of its training corpus; the lexicon's ~7,500 rated words and ~3,500
emoji are what let it judge a post full of words it never saw. We read the lexicon files, not VADER's
``polarity_scores`` (~410 us/post): lookups cost well under a microsecond.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

__all__ = ["BOOSTERS", "NEGATORS", "load_valence"]

#: Words that flip the valence of what follows (VADER's list, apostrophes normalised).
NEGATORS: frozenset[str] = frozenset(
    [
        "aint",
        "arent",
        "cannot",
        "cant",
        "couldnt",
        "didnt",
        "doesnt",
        "ain't",
        "aren't",
        "can't",
        "couldn't",
        "didn't",
        "doesn't",
        "dont",
        "don't",
        "hadnt",
        "hasnt",
        "havent",
        "isnt",
        "hadn't",
        "hasn't",
        "haven't",
        "isn't",
        "neither",
        "never",
        "none",
        "nope",
        "nor",
        "not",
        "nothing",
        "nowhere",
        "shouldnt",
        "shouldn't",
        "wasnt",
        "werent",
        "wasn't",
        "weren't",
        "without",
        "wont",
        "won't",
        "wouldnt",
        "wouldn't",
        "no",
    ]
)

#: Intensifiers (+) and dampeners (-): scale the next rated word, as VADER does.
BOOSTERS: dict[str, float] = {
    **{
        w: 0.293
        for w in [
            "absolutely",
            "completely",
            "extremely",
            "incredibly",
            "really",
            "so",
            "totally",
            "very",
            "utterly",
            "deeply",
            "hugely",
            "seriously",
            "super",
            "truly",
            "highly",
            "especially",
            "fucking",
            "freaking",
            "bloody",
        ]
    },
    **{w: -0.293 for w in ["almost", "barely", "hardly", "kinda", "slightly", "somewhat", "sorta", "little"]},
}

# Words whose VADER rating misleads in customer care ("like" is mostly a preposition, "please"/"help" are
# how people ask for things, not praise) and a few care words VADER lacks.
_OVERRIDES: dict[str, float] = {
    "like": 0.0,
    "please": 0.0,
    "pls": 0.0,
    "plz": 0.0,
    "help": 0.0,
    "joke": -1.2,
    "shambles": -2.5,
    "shambolic": -2.5,
    "fuming": -2.7,
    "rip-off": -2.5,
    "ripoff": -2.5,
    "unacceptable": -2.5,
    "cancelled": -1.0,
    "canceled": -1.0,
    "overcharged": -2.0,
    "scam": -2.4,
    "ghosted": -1.8,
    "lifesaver": 2.5,
    "legend": 2.0,
    "no": 0.0,  # a negator here, not a rated word
}
# Emoji whose description says little ("face with rolling eyes") but whose use online is clear.
_EMOJI_OVERRIDES: dict[str, float] = {
    "🙄": -1.8, "😒": -1.8, "🤬": -3.2, "😤": -2.2, "😡": -3.0, "😠": -2.5, "💔": -2.5, "👎": -2.0,
    "👍": 1.8, "🙏": 1.2, "🔥": 1.5, "💯": 1.8, "🙃": -0.8, "🤦": -1.8, "😩": -2.0, "😫": -2.0,
    "🙌": 2.2, "👏": 1.8, "🥰": 3.0, "😁": 2.5, "🤩": 3.0, "🥳": 2.8, "😞": -2.0, "😔": -1.8,
}  # fmt: skip
_EMOJI_WORD = re.compile(r"[a-z]+")


def _variants(word: str) -> set[str]:
    """Single-letter deletions and swaps: common typos of a long word ("dissapointed", "terible")."""
    out = set()
    for i in range(1, len(word)):
        out.add(word[:i] + word[i + 1 :])
        if i < len(word) - 1:
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    return out


@lru_cache(maxsize=1)
def load_valence() -> dict[str, float]:
    """Token -> valence in [-4, 4]: VADER words, typo variants of long words, elongations, and emoji."""
    pkg = resources.files("vaderSentiment")
    words: dict[str, float] = {}
    for line in pkg.joinpath("vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.strip().split("\t")
        if len(parts) >= 2:
            try:
                words[parts[0].lower()] = float(parts[1])
            except ValueError:
                continue
    words.update(_OVERRIDES)
    for w in list(words):
        words.setdefault(w.replace("'", ""), words[w])
    table = dict(words)
    # Elongations are collapsed to two letters by the tokenizer ("sooo good" -> "soo good"), so map the
    # doubled forms back: "goood" -> "good", "looove" -> "loove".
    for w, v in words.items():
        if w.isalpha():
            for i, ch in enumerate(w):
                if i + 1 >= len(w) or w[i + 1] != ch:
                    table.setdefault(w[: i + 1] + ch + w[i + 1 :], v)
    for w, v in words.items():
        if len(w) >= 6 and w.isalpha() and abs(v) >= 1.0:
            for t in _variants(w):
                table.setdefault(t, v)
    # Emoji: rate the emoji's description with the same lexicon ("face with tears of joy" -> joy, +2.8).
    for line in pkg.joinpath("emoji_utf8_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        emoji = parts[0].replace("\ufe0f", "")
        vals = [words[t] for t in _EMOJI_WORD.findall(parts[1].lower()) if words.get(t)]
        if vals and len(emoji) == 1:
            table[emoji] = max(-4.0, min(4.0, sum(vals)))
    table.update(_EMOJI_OVERRIDES)
    return {k: v for k, v in table.items() if v != 0.0}
