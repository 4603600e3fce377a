"""Replay of "learn from agents" (issue 17): how much do accepted suggestions raise the hit rate?

    nice -n 10 .venv/bin/python -m bench.faq_learn_replay PAIRS KB.csv TEST.csv [--kb-extra BIG_KB.csv]

Reads a `kb_eval faq` split and the pair file it was made from. For every TEST question with an
entry (the first visitor wording of that entry's paraphrase group), the bot as trained on KB
reads it (knowledge.dialogue.read / decide). When it does not answer it directly the visitor
is handed over, an agent answers with the entry's answer, and the admin accepts the suggestion:
the wording becomes a similar question of the entry (what knowledge.services.
gap_accept_suggestions does). Then the KB is retrained and *other* wordings of the same groups,
never seen by either model (the group's remaining sentences), are asked of the model before and
after: right entry first, answered directly, and right when answered directly.

Pure engine code (no database); the faq_zh data are research-only and nothing here ships.
"""

from __future__ import annotations

import argparse
import csv
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")


def _read(path, cols):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [tuple((r[c] or "").strip() for c in cols) for r in csv.DictReader(f)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pairs")
    p.add_argument("kb")
    p.add_argument("test")
    p.add_argument("--kb-extra", help="a bigger KB (distractors) to train on instead of KB")
    a = p.parse_args(argv)

    from bench.faq_distractors import groups, key, read_pairs
    from knowledge import dialogue
    from knowledge.nlp.engine import Engine, FaqDoc, KbSnapshot, train

    pairs = read_pairs(a.pairs)
    root = groups(pairs)
    kb = _read(a.kb_extra or a.kb, ("question", "answer"))
    test = [(t, ans) for t, ans in _read(a.test, ("text", "answer")) if ans]
    by_answer = {ans: i for i, (_q, ans) in enumerate(kb)}
    members: dict[str, dict[str, str]] = {}
    for s1, s2, _label in pairs:
        for s in (s1, s2):
            r = root.get(key(s))
            if r is not None and key(s):
                members.setdefault(r, {})
                members[r].setdefault(key(s), s)
    seen = {key(q) for q, _ in kb} | {key(t) for t, _ in _read(a.test, ("text", "answer"))}

    def snapshot(similar: dict[int, list[str]]):
        return KbSnapshot(faqs=[FaqDoc(i, q, similar.get(i, [])) for i, (q, _ans) in enumerate(kb)])

    before = Engine.load(train(snapshot({})))
    learnt: dict[int, list[str]] = {}
    held_out: list[tuple[str, int]] = []
    for text, ans in test:
        entry = by_answer[ans]
        d = dialogue.decide(dialogue.read(before, text)[0])
        if not (d.action == "answer" and d.candidates[0].id == entry):
            learnt.setdefault(entry, []).append(text)  # the agent answered; suggestion accepted
        group = root.get(key(text))
        for k, s in sorted(members.get(group, {}).items()):
            if k not in seen:
                held_out.append((s, entry))
    after = Engine.load(train(snapshot(learnt)))

    def figures(engine):
        top1 = answered = right = 0
        for text, entry in held_out:
            cands = dialogue.read(engine, text)[0]
            top1 += bool(cands) and cands[0].id == entry
            d = dialogue.decide(cands)
            if d.action == "answer":
                answered += 1
                right += d.candidates[0].id == entry
        n = max(len(held_out), 1)
        return top1 / n, answered / n, right / max(answered, 1)

    print(
        f"entries {len(kb)}, wordings learnt {sum(map(len, learnt.values()))}, "
        f"held-out wordings {len(held_out)}"
    )
    for name, engine in (("before", before), ("after", after)):
        t, ans, prec = figures(engine)
        print(
            f"{name}: top1={t:.4f} answered={ans:.4f} precision={prec:.4f} "
            f"answer_point={engine.faq_answer_sim:.3f}"
        )
    return 0


if __name__ == "__main__":
    import django

    django.setup()
    raise SystemExit(main())
