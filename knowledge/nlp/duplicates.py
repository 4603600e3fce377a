"""Likely duplicate FAQ entries of a trained knowledge base, for the merchant's duplicate-entries
page (docs/knowledge-base.md): a reason to change of its own (which pairs are worth showing),
beside the answering code in engine.py whose scoring it reuses."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import faq_encoder
from .engine import COS_WEIGHT, FAQ_DENSE_WEIGHT, Engine
from .tokenize import FUNCTION_WEIGHT, FUNCTION_WORDS


def find(
    engine: Engine, min_score: float, per_entry: int = 3, block: int = 256
) -> list[tuple[int, int, float]]:
    """Likely duplicate FAQ entries: each entry's standard question scored against the
    other entries as Engine.calibrate_faq's no-entry side scores it (the same blend, its own entry
    left out), the per_entry best at or above min_score kept. Returns (faq id, faq id,
    score) with the lower id first, each pair once at its higher score of the two
    directions, strongest first. Whole blocks of questions at a time (matrix products), so
    10,000 entries take seconds, not a question-by-question loop (docs/knowledge-base.md)."""
    runs = engine.n_faq_runs
    if runs < 2:
        return []
    starts = engine.run_starts[:runs]
    n_docs = int(engine.run_starts[runs]) if runs < len(engine.run_starts) else engine.docs.shape[1]
    faq = engine.run_owner[:runs]
    ids = np.array([engine.owners[o].id for o in faq], dtype=np.int64)
    # The standard question is its entry's first phrasing: its lexical vector is that column.
    docs = engine.docs[:, :n_docs].tocsc()
    queries = docs[:, starts].T.tocsr()
    # BM25 takes the question's tokens (the model keeps the standard questions as labels).
    b_rows, b_cols, totals = [], [], np.zeros(runs, dtype=np.float32)
    for r, o in enumerate(faq):
        for t in set(engine.seg.tokens(engine.owners[o].label)):
            j = engine.bm25_vocab.get(t)
            w = FUNCTION_WEIGHT if t in FUNCTION_WORDS else 1.0
            if j is None:
                totals[r] += engine.bm25_oov_idf * w
            else:
                b_rows.append(r)
                b_cols.append(j)
                totals[r] += float(engine.bm25_idf[j])
    terms = sp.csr_matrix(
        (np.ones(len(b_rows), dtype=np.float32), (b_rows, b_cols)),
        shape=(runs, len(engine.bm25_vocab) or 1),
    )
    bm25 = engine.bm25[:, faq].tocsc() if engine.bm25.shape[0] else None
    lengths = np.diff(np.r_[starts, n_docs])
    dense = engine.faq_vec is not None
    # With vectors, the lexical part (weight 1 - FAQ_DENSE_WEIGHT) is at most 1, so only
    # entries whose vector cosine alone could reach min_score need it: a few per question.
    bound = (min_score - (1 - FAQ_DENSE_WEIGHT)) / FAQ_DENSE_WEIGHT if dense else -np.inf
    best: dict[tuple[int, int], float] = {}
    for lo in range(0, runs, block):
        hi = min(lo + block, runs)
        rows = np.arange(hi - lo)
        dcos = None
        if dense:
            with faq_encoder.one_thread():
                vec_cos = engine.faq_vec[starts[lo:hi]] @ engine.faq_vec[:n_docs].T
            dcos = np.maximum.reduceat(vec_cos, starts, axis=1)
            dcos[rows, rows + lo] = -np.inf  # its own entry left out
            cand = np.flatnonzero((dcos >= bound).any(axis=0))
        else:
            cand = np.arange(runs)
        if not len(cand):
            continue
        cols = np.concatenate([np.arange(starts[c], starts[c] + lengths[c]) for c in cand])
        cand_starts = np.r_[0, np.cumsum(lengths[cand])[:-1]]
        doc_cos = (queries[lo:hi] @ docs[:, cols]).toarray()
        sims = COS_WEIGHT * np.maximum.reduceat(doc_cos, cand_starts, axis=1)
        if bm25 is not None:
            bm = (terms[lo:hi] @ bm25[:, cand]).toarray()
            sims += (1 - COS_WEIGHT) * np.minimum(bm / np.maximum(totals[lo:hi, None], 1e-12), 1.0)
        if dense:
            sims = FAQ_DENSE_WEIGHT * dcos[:, cand] + (1 - FAQ_DENSE_WEIGHT) * sims
        own = cand[None, :] == (rows + lo)[:, None]
        sims[own] = -np.inf  # its own entry left out
        k = min(per_entry, len(cand))
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        for r, picked in zip(rows, top):
            for c in picked:
                score = float(sims[r, c])
                if score >= min_score:
                    a, b = sorted((int(ids[lo + r]), int(ids[cand[c]])))
                    if score > best.get((a, b), -1.0):
                        best[(a, b)] = score
    return sorted(((a, b, s) for (a, b), s in best.items()), key=lambda p: (-p[2], p[0], p[1]))
