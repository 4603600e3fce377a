"""Audit of the FAQ figures (issue 17): how many of the bot's "wrong" answers are wrong?

    nice -n 10 .venv/bin/python -m bench.faq_audit sample KB.csv TEST.csv --out /tmp/audit.csv
    (fill the `same` column of /tmp/audit.csv with y or n by reading each row)
    .venv/bin/python -m bench.faq_audit score KB.csv TEST.csv /tmp/audit.csv

The faq_zh splits put one wording of each paraphrase group in the KB, but a corpus of questions
to one bank holds many groups that ask the same thing and were never linked by a labelled
pair, so the KB has near-duplicate entries and strict top-1 counts an equally good entry as a
miss. This measures by how much: `sample` reads every TEST question with an entry as the bot
does (knowledge.dialogue.read / decide over a model trained on KB, no database) and writes a
seeded random sample of the misses to a CSV outside the repository: the question, the labelled
entry's question and the bot's first entry's question, and an empty `same` column. A person
marks `same` y where the bot's entry asks what the question asks (its answer would answer the
visitor), n otherwise. Three kinds are sampled: `top1` (the first entry is not the labelled
one), `direct` (answered directly with another entry) and `false` (a question the split says
has no entry, answered directly). `score` recomputes the same figures and estimates the share
of right entries among each kind from the judged sample, with a 95 % Wilson interval:
corrected top-1 = strict top-1 + misses x that share; the same for the precision of direct
answers; corrected false_answer = false answers x (1 - that share).

The faq_zh data are research-only: the CSV holds their text, so it stays outside the
repository; nothing here ships.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")


def read_csv(path, cols):
    """The rows of a CSV file as tuples of the named columns, stripped."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [tuple((r[c] or "").strip() for c in cols) for r in csv.DictReader(f)]


# A control for the reader: with --blind, rows whose "bot" entry is really the one ranked
# DECOY_RANK for that question are mixed in, and the kinds go to a separate key file. A reader
# who marks many decoys y is too lenient, and the corrected figures are not to be trusted.
DECOY_RANK = 10


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def outcomes(kb_path: str, test_path: str):
    """Per TEST question with an entry: (text, labelled entry, first entry, answered directly,
    the entry ranked DECOY_RANK)."""
    from knowledge import dialogue
    from knowledge.nlp.engine import Engine, FaqDoc, KbSnapshot, train

    kb = read_csv(kb_path, ("question", "answer"))
    by_answer = {ans: i for i, (_q, ans) in enumerate(kb)}
    engine = Engine.load(train(KbSnapshot(faqs=[FaqDoc(i, q) for i, (q, _a) in enumerate(kb)])))
    rows, no_entry = [], []
    for text, ans in read_csv(test_path, ("text", "answer")):
        if not text:
            continue
        if not ans:
            cands = dialogue.read(engine, text)[0]
            if dialogue.decide(cands).action == "answer":
                no_entry.append((text, None, cands[0].id, True, None))
            else:
                no_entry.append((text, None, None, False, None))
            continue
        cands = dialogue.read(engine, text)[0]
        first = cands[0].id if cands else None
        direct = dialogue.decide(cands).action == "answer"
        deep = [c.id for c in engine.answer(text, k=DECOY_RANK) if c.kind == "faq"]
        decoy = deep[-1] if len(deep) == DECOY_RANK else None
        rows.append((text, by_answer[ans], first, direct, decoy))
    return kb, rows, no_entry


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("sample", "score"))
    p.add_argument("kb")
    p.add_argument("test")
    p.add_argument("judged", nargs="?", help="score: the judged CSV")
    p.add_argument("--out", help="sample: where to write the CSV (outside the repository)")
    p.add_argument("--n", type=int, default=60, help="sample: rows of each kind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--blind",
        action="store_true",
        help="sample: add --n/2 decoys, shuffle, and write the kinds to OUT.key instead",
    )
    a = p.parse_args(argv)

    kb, rows, no_entry = outcomes(a.kb, a.test)
    n = len(rows)
    top1_miss = [r for r in rows if r[2] != r[1]]
    direct = [r for r in rows if r[3]]
    direct_miss = [r for r in direct if r[2] != r[1]]
    false = [r for r in no_entry if r[3]]
    print(
        f"questions with an entry {n}: top1={1 - len(top1_miss) / n:.4f} "
        f"answered={len(direct) / n:.4f} "
        f"precision={1 - len(direct_miss) / max(len(direct), 1):.4f} "
        f"(misses: first entry {len(top1_miss)}, direct answers {len(direct_miss)}); "
        f"questions without an entry {len(no_entry)}: false_answer="
        f"{len(false) / max(len(no_entry), 1):.4f}"
    )
    if a.mode == "sample":
        if not a.out:
            raise SystemExit("sample needs --out")
        rnd = random.Random(a.seed)
        out = []
        for kind, pool in (("top1", top1_miss), ("direct", direct_miss), ("false", false)):
            for text, gold, first, _d, _decoy in rnd.sample(pool, min(a.n, len(pool))):
                labelled = kb[gold][0] if gold is not None else ""
                out.append([kind, text, labelled, kb[first][0] if first is not None else ""])
        if a.blind:
            pool = [r for r in rows if r[4] is not None and r[4] != r[1]]
            for text, gold, _f, _d, decoy in rnd.sample(pool, min(a.n // 2, len(pool))):
                out.append(["decoy", text, kb[gold][0], kb[decoy][0]])
            rnd.shuffle(out)
            with open(a.out + ".key", "w", encoding="utf-8") as f:
                f.write("\n".join(r[0] for r in out) + "\n")
        with open(a.out, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["kind", "question", "labelled", "bot", "same"])
            for r in out:
                w.writerow(["?" if a.blind else r[0], *r[1:], ""])
        print(f"wrote {a.out}" + (f" and {a.out}.key" if a.blind else ""))
        return 0

    judged: dict[str, list[bool]] = {"top1": [], "direct": [], "false": [], "decoy": []}
    marked = read_csv(a.judged, ("kind", "question", "labelled", "bot", "same"))
    kinds = [r[0] for r in marked]
    if os.path.exists(a.judged + ".key"):
        with open(a.judged + ".key", encoding="utf-8") as f:
            kinds = f.read().split()
    for kind, (_k, _q, _l, _b, same) in zip(kinds, marked, strict=True):
        if same.lower() in ("y", "n"):
            judged[kind].append(same.lower() == "y")
    if judged["decoy"]:
        k, m = sum(judged["decoy"]), len(judged["decoy"])
        lo, hi = wilson(k, m)
        print(
            f"decoys (the entry ranked {DECOY_RANK}) marked right: {k} of {m} ({lo:.2f}-{hi:.2f})"
        )
    for kind, misses, base, total in (
        ("top1", len(top1_miss), n - len(top1_miss), n),
        ("direct", len(direct_miss), len(direct) - len(direct_miss), len(direct)),
        ("false", len(false), 0, len(no_entry)),
    ):
        marks = judged[kind]
        if not marks or not total:
            continue
        k = sum(marks)
        lo, hi = wilson(k, len(marks))
        share = k / len(marks)
        name = "top1" if kind == "top1" else "precision"
        if kind == "false":
            # An answered question "without an entry" whose entry does answer it is no false answer.
            print(
                f"false: {k} of {len(marks)} sampled answers to questions without an entry are "
                f"right entries ({share:.2f}, 95 % {lo:.2f}-{hi:.2f}); false_answer strict "
                f"{misses / total:.4f}, corrected {misses * (1 - share) / total:.4f} "
                f"({misses * (1 - hi) / total:.4f}-{misses * (1 - lo) / total:.4f})"
            )
            continue
        print(
            f"{kind}: {k} of {len(marks)} sampled misses are right entries ({share:.2f}, 95 % "
            f"{lo:.2f}-{hi:.2f}); {name} strict {base / total:.4f}, corrected "
            f"{(base + misses * share) / total:.4f} ({(base + misses * lo) / total:.4f}-"
            f"{(base + misses * hi) / total:.4f})"
        )
    return 0


if __name__ == "__main__":
    import django

    django.setup()
    raise SystemExit(main())
