"""Write the labelled training corpus (``classifiers/data/corpus.csv.gz``), seeded and deterministic.

Each post is a hand-written phrase (see :mod:`classifiers.training.corpus.phrases`) with its slots filled,
then put through the noise real posts have: slang and abbreviations, typos, elongations, shouting, emoji,
hashtags, mentions, URLs, fillers. Labels come from the phrase bank, so noise never changes a label. The
``group`` column names the phrase-bank entry a post came from, for hold-outs that keep whole templates apart.

Run: ``python -m classifiers.training.corpus.generate [--out PATH] [--seed N]``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import random
import re
from pathlib import Path

from classifiers.training.corpus.phrases import (
    BRAND_NON_COMPLAINTS,
    CHATTER,
    CHATTER_TOPICS,
    COMPLAINT_FRAMES,
    CONTEXT_CLAUSES,
    DOMAINS,
    ENTITIES,
    FOREIGN,
    GENERIC_COMPLAINTS,
    HIDDEN_COMPLAINTS,
    PRAISE_FRAMES,
    PROMO_FRAMES,
    QUESTION_FRAMES,
    REQUEST_FRAMES,
    SARCASTIC_COMPLAINTS,
    Domain,
)

__all__ = ["CORPUS_PATH", "generate", "write_corpus"]

#: A data file of the classifiers package (classifiers/data/), beside the word-vector table it feeds.
CORPUS_PATH = Path(__file__).resolve().parents[2] / "data" / "corpus.csv.gz"
COLUMNS = ("text", "sentiment", "intent", "lang", "domain", "group")

_CITIES = (
    "london", "leeds", "manchester", "dublin", "new york", "chicago", "austin", "toronto", "sydney",
    "glasgow", "paris", "madrid", "berlin", "lagos", "mumbai", "denver", "boston", "cardiff", "miami",
)  # fmt: skip
_DURATIONS = (
    "2 hours", "3 hours", "45 minutes", "an hour", "two weeks", "3 days", "a week", "5 days", "a month",
    "10 days", "four hours", "90 mins", "6 weeks", "all day", "2 days",
)  # fmt: skip
_DAYS = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "yesterday",
    "tomorrow",
)
_MONEY = ("£40", "$25", "£12.99", "$150", "€60", "£200", "$9.99", "£75", "$300")
_PCT = ("20%", "30%", "50%", "15%", "40%", "70%")
_PRIZES = ("new phone", "gaming laptop", "£500 voucher", "year of free pizza", "pair of trainers", "holiday")
_TIMES = ("7:15", "8:02", "17:45", "6.30", "9am", "18:10")
_ORD = ("second", "third", "fourth", "fifth")

_FRUSTRATION = (
    "so frustrating", "unbelievable", "ridiculous", "sort it out", "absolutely fuming", "not happy",
    "fed up", "sick of this", "honestly pathetic", "this is a joke", "appalling", "i give up", "useless",
    "disgraceful", "what a mess", "come on", "beyond annoyed", "just awful",
)  # fmt: skip
_CHURN = (
    "switching to a competitor", "cancelling my account after this", "never again", "i'm leaving",
    "taking my business elsewhere", "time to switch providers",
)  # fmt: skip
_LEGAL = (
    "speaking to my lawyer", "reporting this to the ombudsman", "see you in small claims court",
    "i'll be contacting trading standards",
)  # fmt: skip
_EMOJI = {
    "negative": ("😡", "😤", "🙄", "😠", "😞", "😢", "👎", "🤬", "😩", "💔", ":(", ">:(", "😒"),
    "positive": ("😍", "🙌", "❤️", "😊", "👏", "🥰", "😁", "✨", "💯", "🔥", ":)", ":D", "<3", "👍", "😂"),
    "neutral": ("🤔", "👀", "📍", "✈️", "📦", "📺", "⚽", "🎵", "🙂"),
}
_HASHTAGS = {
    "negative": (
        "#fail",
        "#customerservice",
        "#fuming",
        "#worstservice",
        "#notimpressed",
        "#ugh",
        "#mondays",
    ),
    "positive": ("#love", "#happy", "#blessed", "#greatservice", "#winning", "#goodvibes", "#thankyou"),
    "neutral": ("#news", "#travel", "#question", "#help", "#football", "#nowwatching", "#tbt", "#update"),
}
_FILLERS = {
    "negative": ("smh", "ugh", "ffs", "tbh", "ngl", "seriously", "wtf", "omg"),
    "positive": ("lol", "omg", "tbh", "ngl", "haha", "lmao", "yay", "fr"),
    "neutral": ("lol", "tbh", "idk", "btw", "fyi", "anyway", "fr", "hmm"),
}
_SLANG = {
    "you": "u", "your": "ur", "are": "r", "please": "pls", "thanks": "thx", "thank you": "ty",
    "though": "tho", "because": "cuz", "really": "rly", "people": "ppl", "tonight": "tonite",
    "tomorrow": "tmrw", "about": "abt", "with": "w/", "going to": "gonna", "want to": "wanna",
    "i don't know": "idk", "to be honest": "tbh", "don't": "dont", "can't": "cant", "won't": "wont",
    "i'm": "im", "it's": "its", "doesn't": "doesnt", "isn't": "isnt", "hasn't": "hasnt", "minutes": "mins",
    "before": "b4", "great": "gr8", "okay": "ok", "seriously": "srsly", "nothing": "nothin",
}  # fmt: skip
_BRAND_CHATTER = (
    ("just booked my summer trip with {b}, so excited!!", "positive", "chatter"),
    ("watching the game with a {b} pizza tonight", "neutral", "chatter"),
    ("{b} is trending, what happened?", "neutral", "chatter"),
    ("my dad still uses {b} for everything lol", "neutral", "chatter"),
    ("{b} done, thanks!", "positive", "praise"),
    ("{b} check dm", "neutral", "chatter"),
    ("{b} ok will do", "neutral", "chatter"),
    ("{b} sent you the details", "neutral", "chatter"),
    ("{b} thanks for getting back to me so quickly", "positive", "praise"),
    ("{b} all sorted now, thank you", "positive", "praise"),
    ("anyone else use {b}? thinking of trying it", "neutral", "chatter"),
    ("{b} lol your social media team is on fire today", "positive", "chatter"),
    ("reading the {b} annual report, interesting numbers", "neutral", "chatter"),
    ("{b} happy friday to you too!", "positive", "chatter"),
    ("the {b} ad with the dog gets me every time 😂", "positive", "chatter"),
    ("stuck in traffic, at least the {b} podcast is good", "neutral", "chatter"),
)
#: Brand mentions that are not complaints (see phrases.BRAND_NON_COMPLAINTS).
BRAND_NON_COMPLAINT_POSTS = 900
_URL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_WORD = re.compile(r"[a-z]{4,}")


class _Gen:
    """One seeded random stream and the slot fillers that draw from it."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, seq: tuple[str, ...] | list[str]) -> str:
        return seq[self.rng.randrange(len(seq))]

    def url(self) -> str:
        return "https://t.co/" + "".join(self.rng.choice(_URL_CHARS) for _ in range(10))

    def code(self) -> str:
        r = self.rng
        return self.pick(("#", "order ", "ref ", "")) + str(r.randrange(10_000, 9_999_999))

    def brand(self, domain: Domain) -> str:
        handle = self.pick(domain.brands)
        r = self.rng.random()
        if r < 0.15:
            handle += self.pick(("Help", "Support", "Care", "_UK", "Cares"))
        return "@" + handle

    def fill(self, template: str, domain: Domain | None, brand: str) -> str:
        """Fill every slot; a slot filled from a phrase bank may itself have slots."""
        d = domain or DOMAINS[self.rng.randrange(len(DOMAINS))]
        values = {
            "b": brand,
            "dur": self.pick(_DURATIONS),
            "num": self.pick(("BA" + "".join(str(self.rng.randrange(10)) for _ in range(3)), "NW204", "22")),
            "money": self.pick(_MONEY),
            "city": self.pick(_CITIES).title() if self.rng.random() < 0.5 else self.pick(_CITIES),
            "c": self.pick(_CITIES).title(),
            "day": self.pick(_DAYS),
            "code": self.code(),
            "fr": self.pick(_FRUSTRATION),
            "churn": self.pick(_CHURN),
            "legal": self.pick(_LEGAL),
            "ord": self.pick(_ORD),
            "n": str(self.rng.randrange(2, 15)),
            "thing": self.pick(d.things),
            "t": self.pick(CHATTER_TOPICS),
            "url": self.url(),
            "pct": self.pick(_PCT),
            "prize": self.pick(_PRIZES),
            "time": self.pick(_TIMES),
            "who": self.pick(ENTITIES),
            "who2": self.pick(ENTITIES),
        }
        text = template
        for _ in range(3):  # nested slots: a problem inside a frame, a city inside a problem
            if "{" not in text:
                break
            text = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)
        return text

    # --- noise -----------------------------------------------------------------------------------------
    def slang(self, text: str, p: float) -> str:
        for formal, short in _SLANG.items():
            if formal in text and self.rng.random() < p:
                text = re.sub(rf"\b{re.escape(formal)}\b", short, text)
        return text

    def typo(self, text: str) -> str:
        words = list(_WORD.finditer(text))
        if not words:
            return text
        m = self.pick([w.group(0) for w in words])
        i = self.rng.randrange(1, len(m) - 1)
        op = self.rng.randrange(4)
        if op == 0:
            new = m[: i - 1] + m[i] + m[i - 1] + m[i + 1 :]  # swap
        elif op == 1:
            new = m[:i] + m[i + 1 :]  # drop
        elif op == 2:
            new = m[:i] + m[i] + m[i:]  # double
        else:
            new = m[:i] + self.pick(("a", "e", "i", "o", "s", "t", "n", "r")) + m[i + 1 :]  # substitute
        return text.replace(m, new, 1)

    def elongate(self, text: str) -> str:
        words = re.findall(r"\b(?:so|no|why|please|yes|love|what|omg|nooo|good|hate|really)\b", text)
        if not words:
            return text
        w = self.pick(words)
        vowel = max(range(len(w)), key=lambda k: w[k] in "aeiouy")
        return text.replace(w, w[: vowel + 1] + w[vowel] * self.rng.randrange(2, 6) + w[vowel + 1 :], 1)

    def decorate(self, text: str, sentiment: str, lang: str) -> str:
        r = self.rng
        if lang == "en" and r.random() < 0.25:
            clause = self.fill(self.pick(CONTEXT_CLAUSES), None, "")
            if r.random() < 0.6 and not text.startswith("@"):
                text = f"{clause} {text}"
            else:
                text = f"{text}. {clause.rstrip(',:')}"
        if lang == "en":
            text = self.slang(text, 0.25 if r.random() < 0.5 else 0.0)
            if r.random() < 0.18:
                text = self.typo(text)
            if r.random() < 0.08:
                text = self.typo(text)
            if r.random() < 0.12:
                text = self.elongate(text)
            if r.random() < 0.12:
                text = (
                    f"{self.pick(_FILLERS[sentiment])} {text}"
                    if r.random() < 0.4
                    else f"{text} {self.pick(_FILLERS[sentiment])}"
                )
        if r.random() < 0.35:
            tone = sentiment if r.random() < 0.85 else "neutral"
            emo = self.pick(_EMOJI[tone]) * (1 if r.random() < 0.7 else r.randrange(2, 4))
            text = f"{text} {emo}"
        if r.random() < 0.2:
            tags = " ".join(
                self.pick(_HASHTAGS[sentiment if r.random() < 0.8 else "neutral"])
                for _ in range(r.randrange(1, 3))
            )
            text = f"{text} {tags}"
        if r.random() < 0.08:
            text = f"{text} {self.url()}"
        if r.random() < 0.1 and not text.startswith("@"):
            text = f"@{self.pick(('jess_k', 'markyb', 'user', 'tomh88', 'priya_s', 'dan_the_man'))} {text}"
        # casing: most posts start with a capital, some are all lower, a few shout
        c = r.random()
        if c < 0.45:
            text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
            text = re.sub(r"\bi\b", "I", text)
        elif c < 0.5 and sentiment == "negative":
            text = text.upper()
        elif c < 0.56:
            words = text.split(" ")
            k = r.randrange(len(words))
            if not words[k].startswith(("@", "http", "#")):
                words[k] = words[k].upper()
            text = " ".join(words)
        if r.random() < 0.1 and text.endswith((".", "?", "!")) is False:
            text += self.pick(("!", "!!", "...", ".", "!!!", "??"))
        return re.sub(r"\s+", " ", text).strip()


def template_group(phrase: str) -> str:
    """A short stable id of the phrase-bank entry a post came from (the problem, question, praise... or
    the whole template). Posts of one group share their wording, so a hold-out that keeps whole groups
    out of training measures how the model does on phrasing it never saw (``classifiers.training.train``)."""
    return hashlib.sha1(phrase.encode("utf-8")).hexdigest()[:8]


def generate(seed: int = 20240531) -> list[dict[str, str]]:
    """The corpus rows, in a deterministic order for a given seed."""
    g = _Gen(seed)
    rows: list[dict[str, str]] = []

    def add(text: str, sentiment: str, intent: str, domain: str, group: str, lang: str = "en") -> None:
        """``group`` is the phrase-bank entry the post was written from (see ``template_group``)."""
        rows.append(
            {
                "text": g.decorate(text, sentiment, lang),
                "sentiment": sentiment,
                "intent": intent,
                "lang": lang,
                "domain": domain,
                "group": template_group(group),
            }
        )

    for d in DOMAINS:
        weight = 2 if d.name in {"airline", "telco", "bank", "retail", "food_delivery", "software"} else 1
        for _ in range(75 * weight):
            b = g.brand(d)
            frame = g.pick(COMPLAINT_FRAMES)
            p = g.pick(d.problems)
            add(g.fill(frame.replace("{p}", p), d, b), "negative", "complaint", d.name, p)
        for _ in range(14 * weight):
            b = g.brand(d)
            frame = g.pick(SARCASTIC_COMPLAINTS)
            p = g.pick(d.problems)
            add(g.fill(frame.replace("{p}", p), d, b), "negative", "complaint", d.name, p)
        for _ in range(22 * weight):
            t = g.pick(GENERIC_COMPLAINTS)
            add(g.fill(t, d, g.brand(d)), "negative", "complaint", d.name, t)
        for _ in range(30 * weight):
            t = g.pick(HIDDEN_COMPLAINTS)
            text = g.fill(t, d, g.brand(d))
            add(text, g.pick(("negative", "negative", "neutral")), "complaint", d.name, t)
        for _ in range(45 * weight):
            frame = g.pick(QUESTION_FRAMES)
            q = g.pick(d.questions)
            add(g.fill(frame.replace("{q}", q), d, g.brand(d)), "neutral", "question", d.name, q)
        for _ in range(40 * weight):
            frame = g.pick(REQUEST_FRAMES)
            r = g.pick(d.requests)
            add(g.fill(frame.replace("{r}", r), d, g.brand(d)), "neutral", "request", d.name, r)
        for _ in range(45 * weight):
            frame = g.pick(PRAISE_FRAMES)
            p = g.pick(d.praise)
            add(g.fill(frame.replace("{g}", p), d, g.brand(d)), "positive", "praise", d.name, p)
        for _ in range(12 * weight):
            text, sentiment, intent = _BRAND_CHATTER[g.rng.randrange(len(_BRAND_CHATTER))]
            add(g.fill(text, d, g.brand(d)), sentiment, intent, d.name, text)
    for _ in range(420):
        frame = g.pick(PROMO_FRAMES)
        sentiment = "positive" if re.search(r"[!🔥🎉✨🎁]", frame) else "neutral"
        add(g.fill(frame, None, ""), sentiment, "promo", "promo", frame)
    for sentiment, frames in CHATTER.items():
        for _ in range(700 if sentiment != "negative" else 600):
            t = g.pick(frames)
            text = g.fill(t, None, "")
            if g.rng.random() < 0.3:  # real posts often say two things
                text = f"{text}. {g.fill(g.pick(frames), None, '')}"
            add(text, sentiment, "chatter", "general", t)
    for lang, items in FOREIGN.items():
        for _ in range(len(items) * 6):
            text, sentiment, intent = items[g.rng.randrange(len(items))]
            d = DOMAINS[g.rng.randrange(len(DOMAINS))]
            domain = d.name if intent != "chatter" else "general"
            add(g.fill(text, d, g.brand(d)), sentiment, intent, domain, text, lang)
    for _ in range(BRAND_NON_COMPLAINT_POSTS):  # drawn last, so the rows above keep their draws
        text, sentiment, intent = BRAND_NON_COMPLAINTS[g.rng.randrange(len(BRAND_NON_COMPLAINTS))]
        d = DOMAINS[g.rng.randrange(len(DOMAINS))]
        add(g.fill(text, d, g.brand(d)), sentiment, intent, d.name, text)
    g.rng.shuffle(rows)
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row["text"] not in seen:
            seen.add(row["text"])
            unique.append(row)
    return unique


def write_corpus(path: Path = CORPUS_PATH, seed: int = 20240531) -> int:
    """Write the corpus as gzip'd CSV with a fixed mtime, so the same seed gives the same bytes."""
    rows = generate(seed)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue().encode("utf-8"))
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CORPUS_PATH)
    parser.add_argument("--seed", type=int, default=20240531)
    args = parser.parse_args()
    print(f"wrote {write_corpus(args.out, args.seed)} rows to {args.out}")


if __name__ == "__main__":
    main()
