"""English sentiment from a small hand-written lexicon (we have no English training corpus).

Tuned for customer-service chat: complaints, anger, thanks. Weights are -3..3; a negator
("not", "never", "n't") within the three words before a term flips and halves it; an
intensifier ("very", "so", "extremely") in front multiplies it. The sum is squashed to -1..1."""

from __future__ import annotations

import math
import re

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|!")

_POSITIVE = {
    3: "excellent amazing awesome fantastic perfect outstanding wonderful brilliant superb love loved "
    "lovely delighted",
    2: "great good nice happy glad thanks thank thankful grateful appreciate appreciated helpful "
    "pleased satisfied recommend fast quick friendly easy enjoy enjoyed impressed beautiful "
    "best resolved solved works",
    1: "ok okay fine fair decent cool like liked better smooth",
}
_NEGATIVE = {
    3: "terrible horrible awful worst disgusting furious outraged scam scammed fraud hate hated "
    "useless pathetic ridiculous unacceptable ripoff disgrace nightmare rubbish garbage "
    "crap incompetent liar liars lying",
    2: "bad poor angry annoyed annoying frustrated frustrating disappointed disappointing "
    "upset broken wrong slow rude unhappy complaint complain complaining waste wasted "
    "failed fails damaged defective stolen lost refused ignored problem worse sucks "
    "mad unreliable misleading overcharged",
    1: "issue late delay delayed confused confusing difficult missing error expensive "
    "hard unclear cancel",
}
LEXICON: dict[str, float] = {}
for w, words in _POSITIVE.items():
    LEXICON.update({x: float(w) for x in words.split()})
for w, words in _NEGATIVE.items():
    LEXICON.update({x: -float(w) for x in words.split()})

_NEGATORS = {
    "not",
    "no",
    "never",
    "nothing",
    "hardly",
    "without",
    "isn't",
    "wasn't",
    "don't",
    "doesn't",
    "didn't",
    "can't",
    "cannot",
    "won't",
    "aren't",
    "haven't",
    "hasn't",
    "wouldn't",
    "couldn't",
    "shouldn't",
    "nor",
}
_INTENSIFIERS = {
    "very": 1.5,
    "so": 1.4,
    "really": 1.4,
    "extremely": 1.8,
    "totally": 1.5,
    "absolutely": 1.6,
    "completely": 1.5,
    "super": 1.5,
    "too": 1.3,
    "most": 1.3,
}


def score(text: str) -> float | None:
    """-1..1, or None when the text has no words at all."""
    tokens = _WORD.findall(text.lower())
    words = [w for w in tokens if w != "!"]
    if not words:
        return None
    total = 0.0
    exclaim = len(tokens) - len(words)
    for i, w in enumerate(words):
        v = LEXICON.get(w)
        if v is None:
            continue
        before = words[max(0, i - 3) : i]
        if any(b in _NEGATORS or b.endswith("n't") for b in before):
            v = -0.5 * v
        if i and words[i - 1] in _INTENSIFIERS:
            v *= _INTENSIFIERS[words[i - 1]]
        total += v
    if total and exclaim:
        total *= 1 + 0.15 * min(exclaim, 3)
    # Shouting (mostly upper-case words) makes a complaint stronger.
    letters = [c for c in text if c.isalpha()]
    if total < 0 and len(letters) >= 8 and sum(c.isupper() for c in letters) > 0.7 * len(letters):
        total *= 1.3
    return math.tanh(total / 3)
