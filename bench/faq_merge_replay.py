"""A merchant accepting the duplicate-entry suggestions (issue 17), replayed on a faq_zh split:

    nice -n 10 .venv/bin/python -m bench.faq_merge_replay KB.csv TEST.csv [--top 0 25 50 100] [--all]
    nice -n 10 .venv/bin/python -m bench.faq_merge_replay KB.csv TEST.csv --rounds 3 [--min-score S]

The KB is trained as the product trains it (no database); its duplicate pairs are listed by
knowledge.nlp.duplicates.find at the learnt answer point, as the admin page lists them (strongest
first). For each N the first N pairs are accepted the way the page does it ("keep left, merge
right into it": the second entry's questions become similar questions of the first; a pair whose
entries were already merged together is skipped, chains merge into the entry kept first), the
merged KB is retrained and every TEST question is read as the bot reads it (dialogue.read /
decide, the figures kb_eval prints). --all accepts every pair listed for the original KB.
--rounds R replays a merchant who comes back after each retraining: every pair listed (at the
new model's answer point, or at --min-score) is accepted, the KB retrained, R times.

Two precisions are printed, because merging changes what the split's labels can say:
- `precision` (labels followed through the merge): a direct answer is right when it is the
  labelled entry or the entry it was merged into. That takes each accepted pair for a true
  duplicate, which the labels cannot confirm: the split puts the two in different groups.
- `strict`: right only with the labelled entry itself; a question whose entry was merged away
  can no longer be right, so this understates a merged KB by construction.
`false_answer` (questions the split says have no entry, answered directly) means the same
before and after.

The faq_zh data are research-only; nothing of their text is written anywhere.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")


def merged_snapshot(kb: list[str], pairs, n: int, root: list[int] | None = None):
    """KB entries after accepting the first n pairs (on top of the merges in root): FaqDoc per
    kept entry, and root[i] the entry that now holds entry i's question."""
    from knowledge.nlp.engine import FaqDoc

    root = list(root) if root is not None else list(range(len(kb)))

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    accepted = 0
    for a, b, _s in pairs[:n]:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        root[rb] = ra  # the page's "keep left, merge right into it"
        accepted += 1
    similar: dict[int, list[str]] = {}
    for i, q in enumerate(kb):
        r = find(i)
        if r != i:
            similar.setdefault(r, []).append(q)
    faqs = [FaqDoc(i, q, similar.get(i, [])) for i, q in enumerate(kb) if find(i) == i]
    return faqs, [find(i) for i in range(len(kb))], accepted


def evaluate(engine, tests, root):
    from knowledge import dialogue

    with_entry = answered = right = strict = top1 = no_entry = false = 0
    for text, label in tests:
        cands = dialogue.read(engine, text)[0]
        direct = bool(cands) and dialogue.decide(cands).action == "answer"
        got = cands[0].id if cands else None
        if label is None:
            no_entry += 1
            false += direct
            continue
        with_entry += 1
        top1 += got == root[label]
        if direct:
            answered += 1
            right += got == root[label]
            strict += got == label
    share = lambda k, n: k / n if n else 0.0  # noqa: E731
    return {
        "top1": share(top1, with_entry),
        "answered": share(answered, with_entry),
        "precision": share(right, answered),
        "strict": share(strict, answered),
        "false_answer": share(false, no_entry),
        "n_answered": answered,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kb")
    p.add_argument("test")
    p.add_argument("--top", type=int, nargs="*", default=[0, 10, 25, 50])
    p.add_argument("--all", action="store_true", help="also accept every pair listed")
    p.add_argument("--rounds", type=int, default=0, help="accept all, retrain, R times")
    p.add_argument("--min-score", type=float, default=None, help="list pairs from this score")
    p.add_argument(
        "--no-entry-point",
        action="store_true",
        help="list pairs from the calibration's no-entry figure, not the answer point",
    )
    args = p.parse_args(argv)

    import django

    django.setup()
    from bench.faq_audit import read_csv
    from knowledge.nlp import duplicates
    from knowledge.nlp.engine import Engine, FaqDoc, KbSnapshot, train

    kb_rows = read_csv(args.kb, ("question", "answer"))
    kb = [q for q, _a in kb_rows]
    by_answer = {a: i for i, (_q, a) in enumerate(kb_rows)}
    tests = [
        (t, by_answer[a] if a else None) for t, a in read_csv(args.test, ("text", "answer")) if t
    ]
    base = Engine.load(train(KbSnapshot(faqs=[FaqDoc(i, q) for i, q in enumerate(kb)])))

    def line(label, engine, faqs, root):
        m = evaluate(engine, tests, root)
        print(
            f"{label} entries={len(faqs)} answer_point={engine.faq_answer_sim:.3f} "
            f"top1={m['top1']:.4f} answered={m['answered']:.4f} precision={m['precision']:.4f} "
            f"strict={m['strict']:.4f} false_answer={m['false_answer']:.4f} "
            f"calibration: {engine.faq_calibration_text()}",
            flush=True,
        )

    if args.rounds:
        engine, root, faqs = base, list(range(len(kb))), kb
        line("round=0 merges=0", engine, faqs, root)
        for r in range(1, args.rounds + 1):
            at = engine.faq_answer_sim if args.min_score is None else args.min_score
            if args.no_entry_point and engine.faq_curve is not None:
                at = float(engine.faq_curve[2])
            pairs = duplicates.find(engine, at)
            faqs, root, accepted = merged_snapshot(kb, pairs, len(pairs), root)
            if not accepted:
                break
            engine = Engine.load(train(KbSnapshot(faqs=faqs)))
            line(f"round={r} listed_at={at:.3f} merges={accepted}", engine, faqs, root)
        return 0

    t0 = time.perf_counter()
    pairs = duplicates.find(base, base.faq_answer_sim if args.min_score is None else args.min_score)
    print(
        f"entries={len(kb)} answer_point={base.faq_answer_sim:.3f} pairs={len(pairs)} "
        f"listed_in={time.perf_counter() - t0:.2f}s"
    )
    plan = sorted(set(args.top + ([len(pairs)] if args.all else [])))
    for n in plan:
        faqs, root, accepted = merged_snapshot(kb, pairs, n)
        engine = base if n == 0 else Engine.load(train(KbSnapshot(faqs=faqs)))
        line(f"pairs_accepted={n} merges={accepted}", engine, faqs, root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
