"""Banking77 cross-validation folds as CSV files for `kb_eval intents`:

    .venv/bin/python -m bench.banking77_folds path/to/banking77/train.csv /tmp/b77

writes foldK_train.csv and foldK_test.csv (`text,label`) for K = 0..4: stratified 5-fold,
shuffled with random_state=0, the folds every Banking77 figure in docs/knowledge.md uses
(8,002 training / 2,001 test questions in fold 0). The CSV is Banking77's training split
(`text,category`; PolyAI, CC BY 4.0: https://github.com/PolyAI-LDN/task-specific-datasets).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main(argv=None) -> None:
    from sklearn.model_selection import StratifiedKFold

    ap = argparse.ArgumentParser()
    ap.add_argument("train_csv", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    with open(args.train_csv, encoding="utf-8", newline="") as f:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(f)]
    args.out.mkdir(parents=True, exist_ok=True)
    labels = [label for _, label in rows]
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(rows, labels)
    for k, (train, test) in enumerate(folds):
        for name, idx in (("train", train), ("test", test)):
            with open(
                args.out / ("fold%d_%s.csv" % (k, name)), "w", encoding="utf-8", newline=""
            ) as f:
                w = csv.writer(f)
                w.writerow(["text", "label"])
                w.writerows(rows[i] for i in idx)


if __name__ == "__main__":
    main()
