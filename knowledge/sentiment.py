"""Sentiment of a visitor message (Chinese and English), read on every visitor message.

Chinese: a logistic regression over character 1-3-gram tf-idf, trained by
knowledge/nlp/build_sentiment.py from a public review corpus and shipped as
knowledge/nlp/data/sentiment_zh.npz (feature vocabulary + weights, no review text), read
together with a small hand-written chat lexicon (knowledge/nlp/sentiment_zh_lexicon.py).
English: we have no English training corpus, so a small hand-written lexicon with negation and
intensifiers (knowledge/nlp/sentiment_en.py).

The model is loaded once per process; analysing a message costs well under a millisecond."""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "nlp" / "data" / "sentiment_zh.npz"
MAX_CHARS = 300

_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[a-z][a-z']*")

# |score| below this is "neutral": most visitor messages are plain questions.
NEUTRAL_BAND = 0.35

# The Chinese model learnt from reviews, where nearly every text carries an opinion, so it also
# gives plain questions a polarity ("请问什么时候发货" reads negative: in reviews, shipping is
# mentioned to complain). A message only leaves the neutral band when the hand-written chat
# lexicon finds an opinion in it; otherwise the model's score is damped (its sign is kept, so
# binary accuracy on reviews is unchanged). With a lexicon hit the two readings are blended;
# the lexicon weighs more in short messages, where the model sees few n-grams and is furthest
# from the reviews it learnt from (weights chosen on leave-one-category-out accuracy and the
# chat fixtures in tests/knowledge/test_sentiment.py).
NO_CUE_DAMP = 0.3
SHORT_CHARS = 20
LEXICON_WEIGHT_SHORT = 0.6
LEXICON_WEIGHT_LONG = 0.35


@dataclass(frozen=True)
class Sentiment:
    score: float  # -1 (very negative) .. 1 (very positive)
    label: str  # "positive" | "neutral" | "negative"

    @property
    def strongly_negative(self) -> bool:
        return self.score <= -0.6


def zh_features(text: str) -> list[str]:
    """Character 1-3-grams inside runs of Han characters, plus Latin words (e.g. "iphone").
    Shared by the build script and the runtime so the two cannot drift."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()
    out: list[str] = []
    for run in _HAN_RUN.findall(text):
        for n in (1, 2, 3):
            out.extend(run[i : i + n] for i in range(len(run) - n + 1))
    out.extend(_LATIN_WORD.findall(text))
    return out


class ZhModel:
    def __init__(self, path: Path):
        with np.load(path, allow_pickle=False) as z:
            words = bytes(z["vocab"]).decode("utf-8").split("\n")
            self.weight = z["weight"].astype(np.float32)  # idf * coef, folded at build time
            self.idf = z["idf"].astype(np.float32)
            self.intercept = float(z["intercept"])
            self.slope = float(z["slope"])
        self.vocab = {w: i for i, w in enumerate(words)}

    @classmethod
    def from_arrays(cls, vocab: list[str], idf, weight, intercept: float, slope: float = 1.0):
        m = cls.__new__(cls)
        m.vocab = {w: i for i, w in enumerate(vocab)}
        m.idf = np.asarray(idf, dtype=np.float32)
        m.weight = np.asarray(weight, dtype=np.float32)
        m.intercept = float(intercept)
        m.slope = float(slope)
        return m

    def logit(self, feats: list[str]) -> float | None:
        counts = Counter(feats)
        idx, tf = [], []
        get = self.vocab.get
        for f, c in counts.items():
            j = get(f)
            if j is not None:
                idx.append(j)
                tf.append(1.0 + math.log(c))
        if not idx:
            return None
        ii = np.asarray(idx)
        v = np.asarray(tf, dtype=np.float32) * self.idf[ii]
        norm = float(np.sqrt(v @ v)) or 1.0
        return float((np.asarray(tf, dtype=np.float32) @ self.weight[ii]) / norm) + self.intercept


_model: ZhModel | None = None
_lock = threading.Lock()


def _zh() -> ZhModel:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = ZhModel(MODEL_PATH)
    return _model


def zh_score(model: ZhModel, text: str) -> float | None:
    from .nlp.sentiment_zh_lexicon import score as lexicon_score

    z = model.logit(zh_features(text))
    if z is None:
        return None
    # tanh(z/2) == 2*sigmoid(z) - 1: the model's probability on a -1..1 scale.
    s = math.tanh(model.slope * z / 2)
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS])
    lex, hits = lexicon_score(text)
    if not hits:
        return s * NO_CUE_DAMP
    w = LEXICON_WEIGHT_SHORT if len(text) <= SHORT_CHARS else LEXICON_WEIGHT_LONG
    return (1 - w) * s + w * lex


def _label(score: float) -> Sentiment:
    score = max(-1.0, min(1.0, score))
    if score >= NEUTRAL_BAND:
        label = "positive"
    elif score <= -NEUTRAL_BAND:
        label = "negative"
    else:
        label = "neutral"
    return Sentiment(round(score, 3), label)


def analyze(text: str) -> Sentiment | None:
    """None for text with nothing to judge (empty, only emoji/punctuation)."""
    if not text or not text.strip():
        return None
    if _HAN_RUN.search(text[:MAX_CHARS]):
        s = zh_score(_zh(), text)
        return None if s is None else _label(s)
    from .nlp.sentiment_en import score as en_score

    s = en_score(text[:MAX_CHARS])
    return None if s is None else _label(s)
