"""Build the shipped Chinese sentiment model (knowledge/nlp/data/sentiment_zh.npz).

    .venv/bin/python -m knowledge.nlp.build_sentiment [--data DIR] [--loco]

Data: online_shopping_10_cats.csv (about 62,000 Chinese product and hotel reviews in 10
categories, label 1 positive / 0 negative) from the SophonPlus ChineseNlpCorpus project
(https://github.com/SophonPlus/ChineseNlpCorpus); it publishes no licence file, so the source is
credited here and in docs/knowledge.md. The model file holds only character n-gram features,
their idf and weights: no review text.

--loco prints leave-one-category-out accuracy (train on 9 categories, test on the 10th): our
estimate for review domains the model has never seen.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

from knowledge.sentiment import MODEL_PATH, ZhModel, zh_features, zh_score

# The folder holding sentiment_zh/online_shopping_10_cats.csv: --data, else $KEFU_NLP_DATA
# (docs/knowledge.md, "Data sources and credit"); the data is never in the repository.
DEFAULT_DATA = Path(os.environ["KEFU_NLP_DATA"]) if os.environ.get("KEFU_NLP_DATA") else None
MAX_FEATURES = 120_000
C = 4.0


def load(data_dir: Path):
    texts, labels, cats = [], [], []
    with open(data_dir / "sentiment_zh" / "online_shopping_10_cats.csv", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            review = (row.get("review") or "").strip()
            if not review or row["label"] not in ("0", "1"):
                continue
            texts.append(review)
            labels.append(int(row["label"]))
            cats.append(row["cat"])
    return texts, np.asarray(labels), np.asarray(cats)


def fit(texts, y):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(
        analyzer=zh_features, sublinear_tf=True, min_df=2, max_features=MAX_FEATURES
    )
    X = vec.fit_transform(texts)
    clf = LogisticRegression(C=C, max_iter=2000).fit(X, y)
    return vec, clf


def runtime_model(vec, clf) -> ZhModel:
    vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
    idf = vec.idf_.astype(np.float32)
    # Rounded to float16 exactly as shipped, so --loco measures the file's numbers.
    return ZhModel.from_arrays(
        vocab, idf.astype(np.float16), (idf * clf.coef_[0]).astype(np.float16), clf.intercept_[0]
    )


def loco(texts, y, cats) -> None:
    """Accuracy of the runtime scorer (model + lexicon, sign of the score) per held-out category,
    and of the bare model."""
    from knowledge import sentiment

    # "shipped" = the runtime's own settings; the others fix one lexicon weight for every length.
    weights = ("shipped", 0.0, 0.2, 0.35, 0.5, 0.65)
    accs = {w: {} for w in weights}
    bare = {}
    t = np.asarray(texts, dtype=object)
    for c in sorted(set(cats)):
        tr, te = cats != c, cats == c
        vec, clf = fit(list(t[tr]), y[tr])
        bare[c] = float((clf.predict(vec.transform(list(t[te]))) == y[te]).mean())
        m = runtime_model(vec, clf)
        shipped = sentiment.LEXICON_WEIGHT_SHORT, sentiment.LEXICON_WEIGHT_LONG
        try:
            for w in weights:
                pair = shipped if w == "shipped" else (w, w)
                sentiment.LEXICON_WEIGHT_SHORT, sentiment.LEXICON_WEIGHT_LONG = pair
                pred = [1 if (zh_score(m, x) or 0) > 0 else 0 for x in t[te]]
                accs[w][c] = float((np.asarray(pred) == y[te]).mean())
        finally:
            sentiment.LEXICON_WEIGHT_SHORT, sentiment.LEXICON_WEIGHT_LONG = shipped
        print(
            f"  {c}: model {bare[c]:.4f}, with lexicon weight "
            + " ".join(f"{w}:{accs[w][c]:.4f}" for w in weights)
            + f" (n={te.sum()})",
            flush=True,
        )
    for name, d in [("model alone", bare)] + [
        (f"runtime, lexicon weight {w}", accs[w]) for w in weights
    ]:
        a = np.array(list(d.values()))
        print(f"leave-one-category-out {name}: mean={a.mean():.4f} min={a.min():.4f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, required=DEFAULT_DATA is None)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--loco", action="store_true")
    ap.add_argument("--slope", type=float, default=1.0)
    args = ap.parse_args(argv)
    texts, y, cats = load(args.data)
    print(f"{len(texts)} reviews, {y.mean():.3f} positive", flush=True)
    if args.loco:
        loco(texts, y, cats)
    t0 = time.time()
    vec, clf = fit(texts, y)
    vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
    idf = vec.idf_.astype(np.float32)
    weight = (idf * clf.coef_[0]).astype(np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        vocab=np.array("\n".join(vocab).encode("utf-8")),
        idf=idf.astype(np.float16),
        weight=weight.astype(np.float16),
        intercept=np.array(clf.intercept_[0], dtype=np.float32),
        slope=np.array(args.slope, dtype=np.float32),
    )
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {len(vocab)} features) "
        f"in {time.time() - t0:.0f}s"
    )


if __name__ == "__main__":
    sys.exit(main())
