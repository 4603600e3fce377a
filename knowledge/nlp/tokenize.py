"""Text normalisation and segmentation shared by training and answering.

Chinese is segmented with jieba; every engine gets its own `jieba.Tokenizer` so one merchant's
dictionary words never change another merchant's segmentation. jieba's default dictionary is
~350k entries (tens of MB), so it is loaded once per process and each engine's tokenizer reads
it through a ChainMap overlay that only stores that merchant's additions.

Synonyms are rewritten to their canonical word after segmentation (multi-word English variants
such as "money back" are rewritten on the string first, since they span several tokens).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import ChainMap

import jieba
import opencc

jieba.setLogLevel(logging.WARNING)

_base: jieba.Tokenizer | None = None
_base_lock = threading.Lock()

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# A token worth keeping: has a letter, digit or Han character.
_WORDISH = re.compile(r"[0-9a-z\u3400-\u9fff\uf900-\ufaff]")
_SPACES = re.compile(r"\s+")
# Latin words split off Han runs so "iphone15退货" becomes "iphone15 退货".
_LATIN = re.compile(r"[0-9a-z][0-9a-z'+#&._%-]*")

# Longest text we look at: answering must stay fast whatever a visitor pastes.
MAX_CHARS = 500


def base_tokenizer() -> jieba.Tokenizer:
    global _base
    if _base is None:
        with _base_lock:
            if _base is None:
                t = jieba.Tokenizer()
                t.initialize()
                _base = t
    return _base


# Traditional to Simplified Chinese (OpenCC's phrase-aware t2s: 著名 and 乾隆 stay, 乾杯 becomes
# 干杯), so a visitor writing 怎麼退貨 meets an FAQ written as 怎么退货, and jieba, whose
# dictionary is simplified, segments both alike. Then the variants both scripts use for one
# word in customer service: t2s turns 帳戶 into 帐户, while FAQs write 账户 (还款到帐 / 到账).
_T2S = opencc.OpenCC("t2s")
_VARIANTS = str.maketrans({"帐": "账"})


def normalize(text: str) -> str:
    """NFKC (full-width to half-width, compatibility forms), lower case, Simplified Chinese,
    collapsed spaces."""
    text = simplified(unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower())
    return _SPACES.sub(" ", text).strip()


def simplified(text: str) -> str:
    """Traditional characters and the variants above in their Simplified form (t2s costs
    about 25 µs a sentence: text without Han characters skips it)."""
    if _HAN.search(text):
        return _T2S.convert(text).translate(_VARIANTS)
    return text


class Segmenter:
    def __init__(
        self,
        dictionary: list[tuple[str, int | None]] | None = None,
        synonyms: dict[str, list[str]] | None = None,
    ):
        base = base_tokenizer()
        self.jieba = jieba.Tokenizer()
        self.jieba.FREQ = ChainMap({}, base.FREQ)
        self.jieba.total = base.total
        self.jieba.initialized = True
        # token -> canonical; phrase rewrites (variants containing spaces) run on the string.
        self.token_map: dict[str, str] = {}
        phrases: dict[str, str] = {}
        for canonical, variants in (synonyms or {}).items():
            canon = normalize(canonical)
            if not canon:
                continue
            for v in variants:
                v = normalize(v)
                if not v or v == canon:
                    continue
                if " " in v:
                    phrases[v] = canon
                else:
                    self.token_map[v] = canon
                    self._add_word(v, None)
            self._add_word(canon, None)
        for word, freq in dictionary or []:
            self._add_word(normalize(word), freq)
        self.phrase_re = None
        if phrases:
            self.phrases = phrases
            alternatives = sorted(phrases, key=len, reverse=True)
            self.phrase_re = re.compile(
                r"(?<![0-9a-z])(" + "|".join(re.escape(p) for p in alternatives) + r")(?![0-9a-z])"
            )

    def _add_word(self, word: str, freq: int | None) -> None:
        # Only words with Han characters need jieba's help; Latin words are split on spaces.
        if word and _HAN.search(word) and " " not in word:
            self.jieba.add_word(word, freq)

    def tokens(self, text: str) -> list[str]:
        """Normalised word tokens with synonyms rewritten; punctuation and spaces dropped."""
        text = normalize(text)
        if self.phrase_re is not None:
            text = self.phrase_re.sub(lambda m: self.phrases[m.group(1)], text)
        out = []
        # HMM off: deterministic, faster, and unknown words are covered by character n-grams.
        for tok in self.jieba.cut(text, HMM=False):
            tok = tok.strip()
            if not tok or not _WORDISH.search(tok):
                continue
            out.append(self.token_map.get(tok, tok))
        return out


# Function words: a small knowledge base has too few entries for idf to learn that "吗" or
# "how" say nothing about the topic, so their weight is damped from the start.
FUNCTION_WORDS = frozenset(
    [
        "的",
        "了",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "么",
        "嘛",
        "哦",
        "是",
        "我",
        "你",
        "您",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "在",
        "有",
        "和",
        "与",
        "就",
        "都",
        "也",
        "还",
        "要",
        "想",
        "能",
        "可以",
        "可",
        "会",
        "请问",
        "请",
        "问",
        "一下",
        "一个",
        "这个",
        "那个",
        "这",
        "那",
        "怎么",
        "怎样",
        "如何",
        "什么",
        "为什么",
        "哪",
        "哪里",
        "多少",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "it",
        "its",
        "is",
        "are",
        "was",
        "be",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "will",
        "should",
        "a",
        "an",
        "the",
        "to",
        "of",
        "in",
        "on",
        "for",
        "at",
        "by",
        "with",
        "from",
        "and",
        "or",
        "how",
        "what",
        "when",
        "where",
        "why",
        "which",
        "who",
        "this",
        "that",
        "there",
        "have",
        "has",
        "had",
        "please",
        "hi",
        "hello",
    ]
)
FUNCTION_WEIGHT = 0.3


def word_features(tokens: list[str]) -> list[str]:
    """Unigrams and bigrams."""
    return tokens + [a + " " + b for a, b in zip(tokens, tokens[1:])]


def char_features(tokens: list[str]) -> list[str]:
    """Character n-grams: 1-3 over runs of Han characters (ignoring jieba's word boundaries, so
    a wrong cut still matches), 2-5 inside each padded Latin word (like sklearn's char_wb)."""
    out: list[str] = []
    han_run: list[str] = []

    def flush():
        if han_run:
            s = "".join(han_run)
            for n in (1, 2, 3):
                out.extend(s[i : i + n] for i in range(len(s) - n + 1))
            han_run.clear()

    for tok in tokens:
        if _HAN.search(tok) and not _LATIN.search(tok):
            han_run.append(tok)
            continue
        flush()
        w = " " + tok + " "
        for n in (2, 3, 4, 5):
            if n > len(w):
                break
            out.extend(w[i : i + n] for i in range(len(w) - n + 1))
    flush()
    return out
