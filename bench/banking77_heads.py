"""Other classifier heads over the intent engine's own features, on one Banking77 fold:

    .venv/bin/python -m bench.banking77_folds path/to/banking77/train.csv /tmp/b77
    nice -n 10 .venv/bin/python -m bench.banking77_heads /tmp/b77 --fold 0

Trains the engine as the product does (`engine.train`), keeping the matrix its linear SVM learns
from (word + character tf-idf and the MiniLM int8 vectors side by side), reads each test
question's features and retrieval similarities through `Engine`, then fits other heads on the
same matrix and prints fold accuracy with the retrieval similarity added at weight 0 and 1 (the
engine adds it at 1, FUSE). docs/knowledge.md ("Intents: Banking77") has the figures.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HEADS = ("svm", "svm_enc2", "svm_c0.5", "svm_balanced", "crammer_singer", "lr30", "lr100_balanced")


def _rows(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


def features(folds: Path, fold: int):
    import sklearn.svm

    from knowledge.nlp import engine as nlp_engine

    groups: dict[str, list[str]] = {}
    for text, label in _rows(folds / ("fold%d_train.csv" % fold)):
        groups.setdefault(label, []).append(text)
    names = sorted(groups)
    seen = {}
    svc = sklearn.svm.LinearSVC

    class Recording(svc):
        def fit(self, X, y):
            seen["X"], seen["y"] = X.tocsr(), np.asarray(y)
            return super().fit(X, y)

    sklearn.svm.LinearSVC = Recording
    try:
        snap = nlp_engine.KbSnapshot(
            intents=[nlp_engine.IntentDoc(i, n, groups[n]) for i, n in enumerate(names)]
        )
        t0 = time.process_time()
        eng = nlp_engine.Engine.load(nlp_engine.train(snap))
        print("trained: %.0f s CPU" % (time.process_time() - t0), flush=True)
    finally:
        sklearn.svm.LinearSVC = svc
    n_lex = eng.clf_coef.shape[0]
    rows, dense, sims, labels = [], [], [], []
    for text, label in _rows(folds / ("fold%d_test.csv" % fold)):
        s, _toks, idx, val = eng.similarities(text)
        rows.append(sp.csr_matrix((val, (np.zeros(len(idx), int), idx)), shape=(1, n_lex)))
        dense.append(nlp_engine._encode(eng.encoder, [text])[0])
        sims.append(s[eng.clf_owner])
        labels.append(names.index(label))
    x_test = sp.hstack([sp.vstack(rows), sp.csr_matrix(np.array(dense))], format="csr")
    return seen["X"], seen["y"], x_test, np.array(sims), np.array(labels), n_lex


def head(name: str, X, y, n_lex: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if name == "svm_enc2":  # the encoder block weighted 2 instead of 1
        scale = sp.diags(np.r_[np.ones(n_lex), np.full(X.shape[1] - n_lex, 2.0)])
        return LinearSVC(C=1.0).fit(X @ scale, y), scale
    models = {
        "svm": lambda: LinearSVC(C=1.0),
        "svm_c0.5": lambda: LinearSVC(C=0.5),
        "svm_balanced": lambda: LinearSVC(C=1.0, class_weight="balanced"),
        "crammer_singer": lambda: LinearSVC(C=1.0, multi_class="crammer_singer"),
        "lr30": lambda: LogisticRegression(C=30, max_iter=3000),
        "lr100_balanced": lambda: LogisticRegression(C=100, max_iter=3000, class_weight="balanced"),
    }
    return models[name]().fit(X, y), None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folds", type=Path)
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--heads", nargs="+", default=list(HEADS), choices=HEADS)
    args = ap.parse_args(argv)
    X, y, x_test, sims, labels, n_lex = features(args.folds, args.fold)
    for name in args.heads:
        t0 = time.process_time()
        clf, scale = head(name, X, y, n_lex)
        dec = clf.decision_function(x_test @ scale if scale is not None else x_test)
        accs = " ".join(
            "fuse %g: %.4f" % (f, float(((dec + f * sims).argmax(1) == labels).mean()))
            for f in (0, 1)
        )
        print("%-16s %s  (fit %.0f s CPU)" % (name, accs, time.process_time() - t0), flush=True)


if __name__ == "__main__":
    main()
