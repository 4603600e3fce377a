"""Grow an FAQ-matching split's knowledge base with distractor entries, to measure how matching
holds up as a knowledge base gets bigger (`kb_eval faq` at 5,000 entries).

    python -m bench.faq_distractors PAIRS KB.csv TEST.csv --entries 5000 --out BIG_KB.csv

PAIRS is the sentence-pair file the split was made from (`sentence1,sentence2,label`; a .tsv
without a header is read as tab-separated). Paraphrase groups are the connected components of
its positive pairs, sentences that differ only in punctuation, spaces, width or case counting
as one (such copies are common in these corpora and would otherwise become distractors that
are the test question itself); a sentence only ever in negative pairs is a group of its own.
Every group
that holds a KB or TEST sentence is left out (its sentences would be answerable paraphrases of
an entry, or would give a "no entry" question an entry); one sentence of each remaining group,
in a seeded random order, becomes an entry with its own answer (`DIS-n`) until the KB has
`--entries` rows. TEST is unchanged. Prints how many entries it could add.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")


def key(sentence: str) -> str:
    """What two copies of one sentence share: NFKC, lower case, no punctuation or spaces."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", sentence).lower())


def read_pairs(path: str) -> list[tuple[str, str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        if path.endswith(".tsv"):
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        else:
            rows = list(csv.reader(f))
    if rows and rows[0][:3] == ["sentence1", "sentence2", "label"]:
        rows = rows[1:]
    return [(r[0].strip(), r[1].strip(), r[2].strip()) for r in rows if len(r) >= 3]


def groups(pairs) -> dict[str, str]:
    """sentence -> its group's root (union-find over positive pairs)."""
    parent: dict[str, str] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, label in pairs:
        ra, rb = find(key(a)), find(key(b))
        if label == "1" and ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {s: find(s) for s in list(parent)}  # keyed by key(sentence)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pairs")
    p.add_argument("kb")
    p.add_argument("test")
    p.add_argument("--entries", type=int, default=5000)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    pairs = read_pairs(a.pairs)
    root = groups(pairs)
    with open(a.kb, encoding="utf-8-sig", newline="") as f:
        kb = [(r["question"], r["answer"]) for r in csv.DictReader(f)]
    with open(a.test, encoding="utf-8-sig", newline="") as f:
        test = [r["text"] for r in csv.DictReader(f)]
    used = {root.get(key(s)) for s in [q for q, _ in kb] + test}
    free: dict[str, str] = {}
    for s in sorted({s for a_, b_, _ in pairs for s in (a_, b_)}):
        r = root[key(s)]
        if r not in used and key(s):
            free.setdefault(r, s)
    extra = sorted(free.values())
    random.Random(a.seed).shuffle(extra)
    extra = extra[: max(0, a.entries - len(kb))]
    with open(a.out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "answer"])
        w.writerows(kb)
        w.writerows((q, f"DIS-{i}") for i, q in enumerate(extra))
    print(
        f"{len(kb)} entries + {len(extra)} distractors ({len(free)} groups free) -> {a.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
