"""Chinese sentiment with USE multilingual sentence vectors as features, leave-one-category-out:

    nice -n 10 .venv/bin/python -m bench.sentiment_encoder_loco [--data DIR] [--cache DIR]

For each of the 10 review categories of online_shopping_10_cats, trains on the other nine and
prints the accuracy of (a) the shipped recipe (character n-gram logistic regression,
knowledge/nlp/build_sentiment.py: alone and through the runtime scorer with its lexicon),
(b) a logistic regression over the FAQ encoder's 512-number vectors (knowledge/nlp/faq_encoder.py,
USE multilingual v3, each review's first 200 characters) and (c) the two logits blended,
`ngram + w x use`. The vectors of the ~62,800 reviews are computed once (about 2 ms of CPU a
review on one thread) and cached in --cache. docs/knowledge.md ("Chinese sentiment on domains it
has not seen") has the figures. Nothing here ships.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from knowledge.nlp.build_sentiment import DEFAULT_DATA, fit, load, runtime_model
from knowledge.sentiment import zh_score


def use_vectors(texts: list[str], cache: Path) -> np.ndarray:
    path = cache / "use_reviews.npy"
    if path.exists():
        return np.load(path).astype(np.float32)
    from knowledge.nlp.faq_encoder import FaqEncoder, default_dir

    enc = FaqEncoder(default_dir(), threads=1)
    order = np.argsort([len(t) for t in texts])  # similar lengths batch well
    out = np.zeros((len(texts), 512), dtype=np.float32)
    t0 = time.process_time()
    for s in range(0, len(texts), 64):
        idx = order[s : s + 64]
        out[idx] = enc.encode([texts[i] for i in idx])
    cpu = time.process_time() - t0
    print(f"encoded {len(texts)} reviews: {cpu:.0f} s CPU, {cpu / len(texts) * 1000:.2f} ms each")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, out.astype(np.float16))
    return out


def main(argv=None) -> None:
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, required=DEFAULT_DATA is None)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/sentiment_encoder_loco"))
    ap.add_argument("--use-c", type=float, nargs="+", default=[0.3, 1.0, 3.0])
    ap.add_argument("--blend", type=float, nargs="+", default=[0.3, 0.5, 1.0])
    args = ap.parse_args(argv)
    texts, y, cats = load(args.data)
    vecs = use_vectors(texts, args.cache)
    t = np.asarray(texts, dtype=object)
    z_ngram, runtime = np.zeros(len(y)), np.zeros(len(y))
    z_use = {c: np.zeros(len(y)) for c in args.use_c}
    for cat in sorted(set(cats)):
        tr, te = cats != cat, cats == cat
        vec, clf = fit(list(t[tr]), y[tr])
        z_ngram[te] = clf.decision_function(vec.transform(list(t[te])))
        m = runtime_model(vec, clf)
        runtime[te] = [zh_score(m, x) or 0 for x in t[te]]
        for c in args.use_c:
            lr = LogisticRegression(C=c, max_iter=3000).fit(vecs[tr], y[tr])
            z_use[c][te] = lr.decision_function(vecs[te])
        print(f"  {cat} done", flush=True)

    def report(name: str, z: np.ndarray) -> None:
        accs = {c: float(((z[cats == c] > 0) == y[cats == c]).mean()) for c in sorted(set(cats))}
        per = " ".join(f"{c}:{a:.4f}" for c, a in accs.items())
        print(f"{name:32s} mean {np.mean(list(accs.values())):.4f}  {per}", flush=True)

    report("n-grams alone", z_ngram)
    report("runtime scorer (+ lexicon)", runtime)
    for c, z in z_use.items():
        report(f"USE, C={c}", z)
    for c, z in z_use.items():
        for w in args.blend:
            report(f"n-grams + {w} x USE(C={c})", z_ngram + w * z)


if __name__ == "__main__":
    main()
