"""The contract between the knowledge base (knowledge.services builds snapshots, stores and
loads models) and the NLP code (K1 implements train/Engine). Pure Python + numpy/scikit-learn:
no Django imports here, so it can be trained and evaluated outside a request."""

from __future__ import annotations

import io
import json
import logging
import math
import re
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from . import encoder as sentence_encoder
from . import faq_encoder
from .features import Tfidf, csr_dump, csr_load, sparse_dot
from .tokenize import FUNCTION_WEIGHT, FUNCTION_WORDS, Segmenter, char_features, word_features


@dataclass
class FaqDoc:
    id: int
    question: str
    similar: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    category: str = ""


@dataclass
class IntentDoc:
    id: int
    name: str
    examples: list[str] = field(default_factory=list)


@dataclass
class KbSnapshot:
    faqs: list[FaqDoc] = field(default_factory=list)
    intents: list[IntentDoc] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)  # canonical -> variants
    dictionary: list[tuple[str, int | None]] = field(default_factory=list)  # (word, freq)


@dataclass
class Candidate:
    kind: str  # "faq" | "intent"
    id: int
    label: str  # the FAQ's standard question or the intent's name
    confidence: float  # 0..1, comparable across kinds


# Model file format version: bump when the arrays change so old BotModels are retrained.
# 2: the intent classifier may also weigh sentence-encoder vectors (clf_dense).
# 3: FAQ phrasings' sentence vectors (faq_vec, faq_scale, faq_basis) and the merchant's own
#    answer curve (faq_curve).
# 4: the intent encoder's default file is the int8-matmul build (encoder.QDYN_PATH), whose
#    vectors differ slightly from the wheel's: intent models are retrained with it.
FORMAT = 4


log = logging.getLogger(__name__)


class StaleModel(ValueError):
    """The stored model was built for another format: retrain, do not answer with it."""


# BM25 parameters (the usual defaults).
BM25_K1 = 1.2
BM25_B = 0.75

# Similarity of a candidate = blend of the best cosine over its phrasings (word + character
# n-gram tf-idf) and its BM25 score normalised to 0..1 (see _bm25).
COS_WEIGHT = 0.6

# Calibration. FAQ: similarity -> estimated probability that the FAQ is right, a logistic curve.
# On Banking77 used as an FAQ (5 phrasings per label) P(correct) crosses 0.5 near similarity
# 0.40; the slope is steeper than that data's fit (about 3) because 77 near-identical banking
# intents are much more confusable than a typical FAQ, where an exact match must read ~1.
SIM_SLOPE = 8.0
SIM_MID = 0.40
# Intent classifier: linear SVM, C chosen by Banking77 5-fold CV (0.3 / 0.5 / 1: 0.902 / 0.906 /
# 0.909 on two folds). Its decision value is added to FUSE x the intent's retrieval similarity:
# the nearest examples correct some of the SVM's mistakes (+0.5 point on Banking77).
CLF_C = 1.0
FUSE = 1.0
# Sentence-encoder vectors (unit length) join the tf-idf features (unit length) with this
# weight; Banking77 fold 0: see docs/knowledge.md. Used when most intent examples are not
# Chinese (the encoder reads English): ENCODER_MAX_CJK_SHARE.
EMB_WEIGHT = 1.0
ENCODER_MAX_CJK_SHARE = 0.5
# Intent: P(correct) from the classifier's decision value of the intent and its margin over the
# best other intent, logistic fit on Banking77 out-of-fold decision values (docs/knowledge.md).
CLF_W_SCORE = 0.17
CLF_W_MARGIN = 3.29
CLF_BIAS = -0.42
# The classifier always picks some intent, so its confidence is scaled by how close the question
# is to any intent's examples: 0 at similarity <= DOMAIN_LOW, 1 from DOMAIN_HIGH (99% of
# in-scope Banking77 questions reach 0.44).
DOMAIN_LOW = 0.15
DOMAIN_HIGH = 0.45
# With the sentence encoder, closeness is also the cosine to the nearest intent's centroid: on
# Banking77 99% of in-scope questions reach 0.48, twenty off-topic ones ("give me a recipe for
# pancakes") stayed under 0.38. A paraphrase sharing no word with the examples still counts.
DENSE_DOMAIN_LOW = 0.35
DENSE_DOMAIN_HIGH = 0.55


# FAQ similarity with the FAQ sentence encoder (faq_encoder.py): FAQ_DENSE_WEIGHT x the best
# cosine over the entry's phrasings + the rest x the lexical similarity above. 0.7 was the best
# blend on both faq_zh development splits (docs/knowledge.md, "FAQ matching in Chinese").
FAQ_DENSE_WEIGHT = 0.7
# Stored FAQ vectors: int8 with a scale per row, at most FAQ_VEC_BUDGET bytes. Up to 15,625
# phrasings keep all 512 dimensions; beyond, they are projected on the main directions of the
# knowledge base's own vectors (never fewer than FAQ_MIN_DIMS). 10,000 entries with two similar
# questions each: 8 MB instead of 30 MB as float16, which would not fit MariaDB's default 16 MB
# max_allowed_packet. Projecting 1,000 LCQMC entries on 256 directions cost 0.2 point of top-1
# and 5 of answered (docs/knowledge.md), so the projection is only for big knowledge bases.
FAQ_VEC_BUDGET = 8_000_000
FAQ_MIN_DIMS = 256
# The confidence of an FAQ is a logistic curve of its similarity whose midpoint is set per
# knowledge base at training time (calibrate_faq): it reads ANSWER_AT exactly at the similarity
# above which direct answers are expected right >= CAL_PRECISION of the time and questions
# without an entry are answered <= 1 - CAL_NEG_QUANTILE of the time. ANSWER_AT must equal
# knowledge.dialogue.ANSWER_THRESHOLD (a test holds them together).
ANSWER_AT = 0.6
FAQ_SLOPE = 12.0
CAL_PRECISION = 0.9
CAL_NEG_QUANTILE = 0.95
# Questions sampled for calibration (each side), and the fewest that make a figure: a smaller
# knowledge base keeps DEFAULT_ANSWER_SIM. Bounds keep one odd knowledge base sane.
CAL_MAX = 1000
CAL_MIN = 20
DEFAULT_ANSWER_SIM = 0.5
ANSWER_SIM_MIN = 0.5
ANSWER_SIM_MAX = 0.92


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def uses_encoder(phrases: list[str]) -> bool:
    """Whether intents trained on these phrases should use the sentence encoder."""
    if not phrases:
        return False
    cjk = sum(1 for p in phrases if _CJK.search(p))
    return cjk / len(phrases) <= ENCODER_MAX_CJK_SHARE


def _encode(enc, texts: list[str]) -> np.ndarray:
    """Sentence vectors; zero for text with Chinese characters, which the encoder's vocabulary
    mostly reads as [UNK] (all such text would look alike). The classifier learns that zero."""
    out = np.zeros((len(texts), sentence_encoder.DIM), dtype=np.float32)
    rows = [i for i, t in enumerate(texts) if not _CJK.search(t)]
    if rows:
        out[rows] = enc.encode([texts[i] for i in rows], training=len(texts) > 1)
    return out


def _main_directions(vectors: np.ndarray, dims: int) -> np.ndarray:
    """An orthonormal basis (512 x k, k <= dims) of the directions that hold most of the
    vectors' energy: the top eigenvectors of their Gram matrix. Dot products between vectors
    in its span are unchanged, and a question's product with them too (its part outside the
    span meets nothing); beyond `dims` phrasings the rest is what is given up."""
    if dims >= vectors.shape[1]:
        return np.eye(vectors.shape[1], dtype=np.float32)  # not stored: nothing to project
    gram = vectors.T.astype(np.float64) @ vectors.astype(np.float64)
    values, vecs = np.linalg.eigh(gram)  # ascending
    k = min(dims, int((values > 1e-9 * max(values[-1], 1e-12)).sum()) or 1)
    return vecs[:, ::-1][:, :k].astype(np.float32)


def _default_answer_sim(dense: bool) -> float:
    """Where an FAQ is answered when the knowledge base is too small to calibrate: for lexical
    scores the point of the fixed curve (SIM_MID, SIM_SLOPE) that reads ANSWER_AT, as before
    calibration existed; for blended scores DEFAULT_ANSWER_SIM."""
    if dense:
        return DEFAULT_ANSWER_SIM
    return SIM_MID + math.log(ANSWER_AT / (1 - ANSWER_AT)) / SIM_SLOPE


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _Owner:
    kind: str
    id: int
    label: str


def _pack(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _json(obj) -> np.ndarray:
    return np.array(json.dumps(obj, ensure_ascii=False).encode("utf-8"))


def train(snapshot: KbSnapshot) -> bytes:
    """Build a model for the snapshot; the bytes are stored in BotModel.data."""
    seg = Segmenter(snapshot.dictionary, snapshot.synonyms)
    owners: list[_Owner] = []
    doc_tokens: list[list[str]] = []  # one per phrasing (question, similar question, example)
    doc_owner: list[int] = []
    doc_text: list[str] = []
    bm25_tokens: list[list[str]] = []  # one per owner: all its text + keywords
    example_intent: list[int] = []  # for the classifier: intent index per example doc

    def add_owner(kind, oid, label, phrases, extra=()):
        pairs = [(p, t) for p, t in ((p, seg.tokens(p)) for p in phrases if p and p.strip()) if t]
        if not pairs:
            return None
        toks = [t for _, t in pairs]
        o = len(owners)
        owners.append(_Owner(kind, oid, label))
        for p, t in pairs:
            doc_tokens.append(t)
            doc_text.append(p)
            doc_owner.append(o)
        all_toks = [w for t in toks for w in t]
        for kw in extra:
            all_toks.extend(seg.tokens(kw))
        bm25_tokens.append(all_toks)
        return o

    for f in snapshot.faqs:
        add_owner("faq", f.id, f.question, [f.question, *f.similar], f.keywords)
    intent_owner: list[int] = []
    for it in snapshot.intents:
        start = len(doc_tokens)
        o = add_owner("intent", it.id, it.name, it.examples)
        if o is not None:
            intent_owner.append(o)
            example_intent.extend([len(intent_owner) - 1] * (len(doc_tokens) - start))

    wf = [word_features(t) for t in doc_tokens]
    cf = [char_features(t) for t in doc_tokens]
    # Rare character n-grams only add noise and size once there is plenty of text.
    char_min_df = 2 if len(doc_tokens) > 2000 else 1
    wv = Tfidf.fit(wf)
    cv = Tfidf.fit(cf, min_df=char_min_df)
    n_word = len(wv.vocab)
    X = sp.hstack([wv.matrix(wf), cv.matrix(cf)], format="csr") * (1 / math.sqrt(2))
    X = X.astype(np.float32)

    ex_rows = np.asarray(
        [i for i, o in enumerate(doc_owner) if owners[o].kind == "intent"], dtype=np.int64
    )
    enc = None
    if len(intent_owner) >= 2 and uses_encoder([doc_text[i] for i in ex_rows]):
        enc = sentence_encoder.get()
    n_faq_docs = sum(1 for o in doc_owner if owners[o].kind == "faq")
    fenc = faq_encoder.get() if n_faq_docs else None

    arrays: dict[str, np.ndarray] = {}
    arrays["format"] = np.array(FORMAT)
    arrays["meta"] = _json(
        {
            "encoder": enc.id if enc is not None else None,
            "faq_encoder": faq_encoder.ENCODER_ID if fenc is not None else None,
            "owners": [[o.kind, o.id, o.label] for o in owners],
            "synonyms": snapshot.synonyms,
            "dictionary": [list(d) for d in snapshot.dictionary],
            "n_word": n_word,
        }
    )
    wv.dump("w_", arrays)
    cv.dump("c_", arrays)
    # Phrasings sorted by owner so per-owner maxima are one np.maximum.reduceat.
    order = np.argsort(np.asarray(doc_owner, dtype=np.int64), kind="stable")
    csr_dump("docs_", X[order].T.tocsr() if len(order) else sp.csr_matrix((X.shape[1], 0)), arrays)
    arrays["doc_owner"] = np.asarray(doc_owner, dtype=np.int32)[order]
    # FAQ owners come first, so their phrasings are the first rows in owner order.
    faq_texts = [doc_text[i] for i in order[:n_faq_docs]]
    if fenc is not None:
        vectors = fenc.encode(faq_texts)
        dims = min(faq_encoder.DIM, max(FAQ_MIN_DIMS, FAQ_VEC_BUDGET // max(len(vectors), 1)))
        basis = _main_directions(vectors, dims)
        projected = vectors @ basis
        scale = np.maximum(np.abs(projected).max(axis=1), 1e-12) / 127
        if basis.shape[1] < vectors.shape[1]:  # projected (else the identity: nothing stored)
            arrays["faq_basis"] = basis.astype(np.float32)
        arrays["faq_vec"] = np.round(projected / scale[:, None]).astype(np.int8)
        arrays["faq_scale"] = scale.astype(np.float32)

    # BM25 over each owner's whole text, as a term x owner weight matrix.
    bv = Tfidf.fit(bm25_tokens)
    n = max(len(bm25_tokens), 1)
    rows, cols, vals = [], [], []
    lengths = np.array([len(t) for t in bm25_tokens], dtype=np.float32)
    avgdl = float(lengths.mean()) if len(lengths) else 1.0
    df = np.zeros(len(bv.vocab), dtype=np.float32)
    tfs = []
    for toks in bm25_tokens:
        c: dict[int, int] = {}
        for t in toks:
            j = bv.vocab[t]
            c[j] = c.get(j, 0) + 1
        tfs.append(c)
        for j in c:
            df[j] += 1
    bidf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
    for w, j in bv.vocab.items():
        if w in FUNCTION_WORDS:
            bidf[j] *= FUNCTION_WEIGHT
    for o, c in enumerate(tfs):
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[o] / avgdl)
        for j, tf in c.items():
            rows.append(j)
            cols.append(o)
            vals.append(bidf[j] * tf * (BM25_K1 + 1) / (tf + norm))
    bm = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (rows, cols)),
        shape=(len(bv.vocab), len(owners)),
        dtype=np.float32,
    )
    csr_dump("bm25_", bm, arrays)
    arrays["bm25_vocab"] = np.array("\n".join(bv.vocab).encode("utf-8"))
    arrays["bm25_idf"] = bidf
    arrays["bm25_n"] = np.array(n)

    # Intent classifier: a linear SVM over the same features, one-vs-rest.
    if len(intent_owner) >= 2:
        from sklearn.svm import LinearSVC

        y = np.asarray(example_intent)
        Xc = X[ex_rows]
        if enc is not None:
            E = _encode(enc, [doc_text[i] for i in ex_rows])
            centroids = np.stack([E[y == k].sum(0) for k in range(len(intent_owner))])
            norms = np.linalg.norm(centroids, axis=1, keepdims=True)
            arrays["clf_centroids"] = centroids / np.maximum(norms, 1e-12)  # all-Chinese intent: 0
            Xc = sp.hstack([Xc, sp.csr_matrix(E * np.float32(EMB_WEIGHT))], format="csr")
        clf = LinearSVC(C=CLF_C).fit(Xc, y)
        coef = clf.coef_.T.astype(np.float32)  # features x intents
        intercept = clf.intercept_.astype(np.float32)
        if len(intent_owner) == 2:  # binary LinearSVC gives one column: score of class 1
            coef = np.hstack([-coef, coef])
            intercept = np.array([-intercept[0], intercept[0]], dtype=np.float32)
        if (
            enc is not None
        ):  # the dense block's rows, kept float32 (every query touches all of them)
            arrays["clf_dense"] = coef[X.shape[1] :] * np.float32(EMB_WEIGHT)
            coef = coef[: X.shape[1]]
        arrays["clf_coef"] = coef.astype(np.float16)
        arrays["clf_intercept"] = intercept
        arrays["clf_owner"] = np.asarray(intent_owner, dtype=np.int32)
    if n_faq_docs:
        arrays["faq_curve"] = Engine(arrays).calibrate_faq(faq_texts)
    return _pack(arrays)


class Engine:
    def __init__(self, arrays):
        meta = json.loads(bytes(arrays["meta"]).decode("utf-8"))
        self.owners = [_Owner(k, i, lbl) for k, i, lbl in meta["owners"]]
        self.kinds = np.array([o.kind == "faq" for o in self.owners], dtype=bool)
        self.seg = Segmenter([tuple(d) for d in meta["dictionary"]], meta["synonyms"])
        self.wv = Tfidf.from_arrays("w_", arrays)
        self.cv = Tfidf.from_arrays("c_", arrays)
        self.n_word = meta["n_word"]
        self.docs = csr_load("docs_", arrays)
        doc_owner = arrays["doc_owner"]
        # Start offset of each owner's run of phrasings (every owner has at least one).
        self.run_starts = (
            np.flatnonzero(np.r_[True, doc_owner[1:] != doc_owner[:-1]])
            if len(doc_owner)
            else np.zeros(0, dtype=np.int64)
        )
        self.run_owner = (
            doc_owner[self.run_starts] if len(doc_owner) else np.zeros(0, dtype=np.int32)
        )
        self.bm25 = csr_load("bm25_", arrays)
        raw = bytes(arrays["bm25_vocab"]).decode("utf-8")
        self.bm25_vocab = {w: i for i, w in enumerate(raw.split("\n"))} if raw else {}
        self.bm25_idf = arrays["bm25_idf"]
        n = int(arrays["bm25_n"])
        self.bm25_oov_idf = float(np.log(1 + (n + 0.5) / 0.5))
        # Kept as float16 in memory (half the size); the few rows a question touches are widened.
        self.clf_coef = arrays.get("clf_coef")
        if self.clf_coef is not None:
            self.clf_intercept = arrays["clf_intercept"]
            self.clf_owner = arrays["clf_owner"]
        self._init_faq(meta, arrays)
        self.clf_dense = arrays.get("clf_dense")
        self.clf_centroids = arrays.get("clf_centroids")
        self.encoder = None
        if self.clf_dense is not None:
            self.encoder = sentence_encoder.get()
            if self.encoder is None or meta.get("encoder") != self.encoder.id:
                # A process without the encoder (switched off, or its wheel missing) still
                # answers, with the classifier's tf-idf part only: worse, but not silent.
                log.warning(
                    "model trained with encoder %s; this process has %s: answering without it",
                    meta.get("encoder"),
                    self.encoder.id if self.encoder else "none",
                )
                self.clf_dense, self.clf_centroids, self.encoder = None, None, None

    def _init_faq(self, meta: dict, arrays) -> None:
        """FAQ phrasings' sentence vectors (used when this process has the same encoder) and the
        confidence curve calibrated for this knowledge base with the same scoring."""
        self.n_faq_runs = int(self.kinds[self.run_owner].sum()) if len(self.run_owner) else 0
        self.faq_vec, self.faq_basis, self.faq_encoder = None, None, None
        vec = arrays.get("faq_vec")
        if vec is not None:
            enc = faq_encoder.get()
            if enc is None or meta.get("faq_encoder") != faq_encoder.ENCODER_ID:
                log.warning(
                    "model trained with FAQ encoder %s; this process has %s: lexical FAQ scores",
                    meta.get("faq_encoder"),
                    faq_encoder.ENCODER_ID if enc else "none",
                )
            else:
                # float32 in memory: numpy's int8 or float16 products are many times slower.
                self.faq_vec = vec.astype(np.float32) * arrays["faq_scale"][:, None]
                self.faq_basis = arrays.get("faq_basis")
                self.faq_encoder = enc
        dense = self.faq_vec is not None
        curve = arrays.get("faq_curve")
        self.faq_curve = curve
        self.faq_slope = FAQ_SLOPE if dense else SIM_SLOPE
        if curve is not None and bool(curve[1]) == dense:
            self.faq_answer_sim = float(curve[0])
        else:  # not calibrated for this scoring (the encoder is missing here): the default
            self.faq_answer_sim = _default_answer_sim(dense)
        self.faq_mid = self.faq_answer_sim - math.log(ANSWER_AT / (1 - ANSWER_AT)) / self.faq_slope

    def faq_calibration_text(self) -> str:
        """The calibration's figures, for kb_eval and the logs."""
        c = self.faq_curve
        if c is None or bool(c[1]) != (self.faq_vec is not None):
            return "default: not calibrated for this scoring"
        parts = []
        if not math.isnan(c[2]):
            parts.append(
                "no-entry %.0f%% quantile %.3f over %d" % (CAL_NEG_QUANTILE * 100, c[2], c[4])
            )
        if not math.isnan(c[3]):
            parts.append(
                "held-out %.0f%% precision %.3f over %d" % (CAL_PRECISION * 100, c[3], c[5])
            )
        return "; ".join(parts) or "default: too few entries to calibrate"

    def _faq_blend(self, sims: np.ndarray, qvec: np.ndarray, skip_doc: int | None = None):
        """sims with each FAQ's similarity blended with the best cosine between the question's
        vector and its phrasings' (skip_doc: a phrasing left out, for calibration)."""
        with faq_encoder.one_thread():
            doc_cos = self.faq_vec @ qvec
        if skip_doc is not None:
            doc_cos[skip_doc] = -1.0
        starts = self.run_starts[: self.n_faq_runs]
        cos = np.maximum.reduceat(doc_cos, starts)
        faq = self.run_owner[: self.n_faq_runs]
        sims = sims.copy()
        sims[faq] = FAQ_DENSE_WEIGHT * cos + (1 - FAQ_DENSE_WEIGHT) * sims[faq]
        return sims

    def calibrate_faq(self, texts: list[str]) -> np.ndarray:
        """The similarity above which this knowledge base's FAQs are answered directly, learnt
        from the knowledge base itself (texts: its FAQ phrasings in owner order):
        - no entry: each standard question asked with its own entry left out stands for a
          question the knowledge base cannot answer; CAL_NEG_QUANTILE of them must stay below;
        - held out: each phrasing of an entry that has several (similar questions) asked with
          that phrasing left out must find its entry, and direct answers must be right at least
          CAL_PRECISION of the time above the threshold.
        The stricter of the two, within the bounds; the default when the knowledge base is too
        small to say. Returns [similarity, dense?, no-entry figure, held-out figure, n no-entry,
        n held-out] (nan where there was too little to measure)."""
        dense = self.faq_vec is not None
        runs = self.n_faq_runs
        starts = self.run_starts[:runs]
        ends = np.r_[starts[1:], len(texts)] if runs else starts
        faq = self.run_owner[:runs]
        rng = np.random.default_rng(0)
        neg = np.arange(runs)
        if len(neg) > CAL_MAX:
            neg = np.sort(rng.choice(neg, CAL_MAX, replace=False))
        multi = np.flatnonzero(ends - starts >= 2)
        pos = np.concatenate([np.arange(starts[r], ends[r]) for r in multi]) if len(multi) else []
        pos = np.asarray(pos, dtype=np.int64)
        if len(pos) > CAL_MAX:
            pos = np.sort(rng.choice(pos, CAL_MAX, replace=False))
        doc_run = np.repeat(np.arange(runs), ends - starts) if runs else np.zeros(0, np.int64)

        def best(doc: int, hold_out: bool):
            toks, idx, val = self._query(texts[doc])
            sims = np.zeros(len(self.owners), dtype=np.float32)
            if len(idx):
                doc_scores = sparse_dot(self.docs, idx, val)
                if hold_out:
                    doc_scores[doc] = 0.0
                cos = np.zeros(len(self.owners), dtype=np.float32)
                cos[self.run_owner] = np.maximum.reduceat(doc_scores, self.run_starts)
                sims = COS_WEIGHT * cos + (1 - COS_WEIGHT) * self._bm25(toks)
            if dense:
                sims = self._faq_blend(sims, self.faq_vec[doc], doc if hold_out else None)
            s = sims[faq].astype(np.float64)
            if not hold_out:
                s[doc_run[doc]] = -np.inf
            j = int(np.argmax(s))
            return float(s[j]), j == doc_run[doc]

        t_neg = t_pos = math.nan
        if len(neg) >= CAL_MIN:
            t_neg = float(
                np.quantile([best(int(starts[r]), False)[0] for r in neg], CAL_NEG_QUANTILE)
            )
        if len(pos) >= CAL_MIN:
            got = [best(int(d), True) for d in pos]
            score = np.array([g[0] for g in got])
            right = np.array([g[1] for g in got])
            order = np.argsort(-score, kind="stable")
            prec = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
            ok = np.flatnonzero(prec >= CAL_PRECISION)
            t_pos = float(score[order[ok[-1]]]) if len(ok) else ANSWER_SIM_MAX
        known = [t for t in (t_neg, t_pos) if not math.isnan(t)]
        lo = ANSWER_SIM_MIN if dense else _default_answer_sim(False)
        sim = min(max(max(known), lo), ANSWER_SIM_MAX) if known else _default_answer_sim(dense)
        return np.array([sim, float(dense), t_neg, t_pos, len(neg), len(pos)], dtype=np.float32)

    @classmethod
    def load(cls, data: bytes) -> Engine:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if int(arrays["format"]) != FORMAT:
            raise StaleModel("model format %s, expected %s" % (int(arrays["format"]), FORMAT))
        return cls(arrays)

    def _query(self, text: str):
        toks = self.seg.tokens(text)
        wi, wv = self.wv.vector(word_features(toks))
        ci, cv = self.cv.vector(char_features(toks))
        idx = np.concatenate([wi, ci + self.n_word])
        val = np.concatenate([wv, cv]) * np.float32(1 / math.sqrt(2))
        return toks, idx, val

    def _bm25(self, toks: list[str]) -> np.ndarray:
        """BM25 of each owner divided by the query's own idf mass (what a document holding each
        query word once at average length scores), clipped to 0..1; unknown query words count
        in the divisor so off-topic questions score low."""
        idx, total = [], 0.0
        for t in set(toks):
            j = self.bm25_vocab.get(t)
            if j is None:
                total += self.bm25_oov_idf * (FUNCTION_WEIGHT if t in FUNCTION_WORDS else 1.0)
            else:
                idx.append(j)
                total += float(self.bm25_idf[j])
        if not idx or total <= 0:
            return np.zeros(len(self.owners), dtype=np.float32)
        s = np.asarray(self.bm25[np.asarray(idx)].sum(axis=0)).ravel()
        return np.minimum(s / total, 1.0)

    def similarities(self, text: str) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        toks, idx, val = self._query(text)
        sims = np.zeros(len(self.owners), dtype=np.float32)
        if len(self.owners) and len(idx):
            doc_scores = sparse_dot(self.docs, idx, val)
            cos = np.zeros(len(self.owners), dtype=np.float32)
            cos[self.run_owner] = np.maximum.reduceat(doc_scores, self.run_starts)
            sims = COS_WEIGHT * cos + (1 - COS_WEIGHT) * self._bm25(toks)
        if self.faq_vec is not None and self.n_faq_runs:
            qvec = self.faq_encoder.encode([text])[0]
            if self.faq_basis is not None:
                qvec = qvec @ self.faq_basis
            sims = self._faq_blend(sims, qvec)
        return sims, toks, idx, val

    def answer(self, text: str, k: int = 3) -> list[Candidate]:
        """Best candidates first. Never trains; must stay fast (p99 <= 10 ms at 10k FAQs)."""
        if not self.owners:
            return []
        sims, toks, idx, val = self.similarities(text)
        conf = _sigmoid(SIM_SLOPE * (sims - SIM_MID))
        faq = self.run_owner[: self.n_faq_runs]
        conf[faq] = _sigmoid(self.faq_slope * (sims[faq] - self.faq_mid))
        if self.clf_coef is not None and len(idx):
            dec = (
                val @ self.clf_coef[idx].astype(np.float32)
                + self.clf_intercept
                + FUSE * sims[self.clf_owner]
            )
            domain = (float(sims[self.clf_owner].max()) - DOMAIN_LOW) / (DOMAIN_HIGH - DOMAIN_LOW)
            if self.clf_dense is not None:
                vec = _encode(self.encoder, [text])[0]
                dec += vec @ self.clf_dense
                near = float((self.clf_centroids @ vec).max())
                domain = max(
                    domain, (near - DENSE_DOMAIN_LOW) / (DENSE_DOMAIN_HIGH - DENSE_DOMAIN_LOW)
                )
            # Margin of each intent over the best of the others.
            order = np.argsort(-dec)
            best, second = dec[order[0]], dec[order[1]]
            margin = dec - np.where(np.arange(len(dec)) == order[0], second, best)
            p = _sigmoid(CLF_W_SCORE * dec + CLF_W_MARGIN * margin + CLF_BIAS)
            # The closeness is one factor for all intents, so it never changes their order.
            # Floored above 0 so an off-topic question still lists the classifier's order.
            conf[self.clf_owner] = p * min(max(domain, 0.01), 1.0)
        if len(conf) > 4 * k:  # partial sort: only the k best are needed
            part = np.argpartition(-conf, k)[:k]
            top = part[np.argsort(-conf[part], kind="stable")]
        else:
            top = np.argsort(-conf, kind="stable")[:k]
        return [
            Candidate(self.owners[i].kind, self.owners[i].id, self.owners[i].label, float(conf[i]))
            for i in top
        ]
