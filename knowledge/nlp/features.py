"""TF-IDF vectors over feature lists (words or character n-grams), written for the answering
path: one text at a time in well under a millisecond, no scikit-learn objects to unpickle.

Queries are normalised as if the vocabulary were open: a feature the knowledge base never saw
still counts in the query's length with the highest idf, so "what's the weather in Paris,
refund?" is not a perfect match for an FAQ that only says "refund". Function words ("吗",
"the") are damped whatever their frequency (tokenize.FUNCTION_WORDS)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import scipy.sparse as sp

from .tokenize import FUNCTION_WEIGHT, FUNCTION_WORDS


class Tfidf:
    def __init__(self, vocab: dict[str, int], idf: np.ndarray, n_docs: int):
        self.vocab = vocab
        self.idf = idf.astype(np.float32)
        # idf of a feature seen in no document (sklearn's smoothed formula with df = 0).
        self.oov_idf = math.log(1 + n_docs) + 1.0
        self.n_docs = n_docs

    @classmethod
    def fit(cls, docs: list[list[str]], min_df: int = 1, max_features: int | None = None) -> Tfidf:
        df: Counter[str] = Counter()
        for d in docs:
            df.update(set(d))
        items = [(f, c) for f, c in df.items() if c >= min_df]
        if max_features and len(items) > max_features:
            items.sort(key=lambda fc: (-fc[1], fc[0]))
            items = items[:max_features]
        items.sort()
        vocab = {f: i for i, (f, _) in enumerate(items)}
        n = len(docs)
        idf = np.array(
            [
                (math.log((1 + n) / (1 + c)) + 1.0)
                * (FUNCTION_WEIGHT if f in FUNCTION_WORDS else 1.0)
                for f, c in items
            ],
            dtype=np.float32,
        )
        return cls(vocab, idf, n)

    def vector(self, feats: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(indices, weights) of the l2-normalised sublinear tf-idf vector of one text."""
        counts = Counter(feats)
        idx, val = [], []
        oov = 0.0
        get = self.vocab.get
        for f, c in counts.items():
            w = 1.0 + math.log(c)
            j = get(f)
            if j is None:
                idf = self.oov_idf * (FUNCTION_WEIGHT if f in FUNCTION_WORDS else 1.0)
                oov += (w * idf) ** 2
            else:
                idx.append(j)
                val.append(w * float(self.idf[j]))
        v = np.asarray(val, dtype=np.float32)
        norm = math.sqrt(float(v @ v) + oov) if (len(v) or oov) else 1.0
        return np.asarray(idx, dtype=np.int64), v / (norm or 1.0)

    def matrix(self, docs: list[list[str]]) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for r, d in enumerate(docs):
            i, v = self.vector(d)
            rows.extend([r] * len(i))
            cols.extend(i.tolist())
            vals.extend(v.tolist())
        return sp.csr_matrix(
            (np.asarray(vals, dtype=np.float32), (rows, cols)),
            shape=(len(docs), len(self.vocab)),
            dtype=np.float32,
        )

    # -- (de)serialisation: plain arrays, no pickle --
    def dump(self, prefix: str, out: dict) -> None:
        out[prefix + "vocab"] = np.array("\n".join(self.vocab).encode("utf-8"))
        out[prefix + "idf"] = self.idf
        out[prefix + "n"] = np.array(self.n_docs)

    @classmethod
    def from_arrays(cls, prefix: str, arrays) -> Tfidf:
        raw = bytes(arrays[prefix + "vocab"]).decode("utf-8")
        words = raw.split("\n") if raw else []
        return cls(
            {w: i for i, w in enumerate(words)}, arrays[prefix + "idf"], int(arrays[prefix + "n"])
        )


def sparse_dot(mt: sp.csr_matrix, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
    """mt is features x items (CSR); returns the dense item scores of one query vector.
    Slicing only the query's rows keeps this proportional to the postings it touches."""
    if len(idx) == 0:
        return np.zeros(mt.shape[1], dtype=np.float32)
    return np.asarray(mt[idx].T @ val).ravel()


def csr_dump(prefix: str, m: sp.csr_matrix, out: dict) -> None:
    """Values stored as float16 (tf-idf weights and BM25 scores need no more; it halves the
    largest part of a model) and widened to float32 on load for scipy."""
    m = m.tocsr()
    out[prefix + "data"] = m.data.astype(np.float16)
    out[prefix + "indices"] = m.indices.astype(np.int32)
    out[prefix + "indptr"] = m.indptr.astype(np.int64)
    out[prefix + "shape"] = np.array(m.shape, dtype=np.int64)


def csr_load(prefix: str, arrays) -> sp.csr_matrix:
    return sp.csr_matrix(
        (
            arrays[prefix + "data"].astype(np.float32),
            arrays[prefix + "indices"],
            arrays[prefix + "indptr"],
        ),
        shape=tuple(int(x) for x in arrays[prefix + "shape"]),
    )
