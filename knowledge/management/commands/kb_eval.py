"""Measure the bot on labelled data, through the same code paths the product uses.

    manage.py kb_eval intents --train TRAIN.csv --test TEST.csv
    manage.py kb_eval sentiment --test TEST.csv

intents: creates a throwaway merchant, imports TRAIN (columns text,label; one intent per label
with its texts as example phrases) through the admins' import service, trains with the
product's trainer, then answers every TEST question with the engine the bot uses. Everything
runs inside one transaction that is rolled back, so nothing is left behind (and no training is
scheduled: that happens only after a commit).

sentiment: TEST has columns text,label (1 positive, 0 negative); the shipped model's score sign
is the prediction (a score of exactly 0, or no score, counts as wrong).

The last line is always `accuracy=0.XXXX n=N p50_ms=... p99_ms=...`.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


def read_labelled(path: str) -> list[tuple[str, str]]:
    """(text, label) rows; the label column may also be called `category` (Banking77)."""
    try:
        f = open(path, encoding="utf-8-sig", newline="")
    except OSError as e:
        raise CommandError(f"{path}: {e.strerror}") from e
    with f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        label_col = "label" if "label" in fields else "category" if "category" in fields else None
        if "text" not in fields or label_col is None:
            raise CommandError(f"{path}: needs columns text,label (found {','.join(fields)})")
        rows = [((r["text"] or "").strip(), (r[label_col] or "").strip()) for r in reader]
    rows = [(t, lbl) for t, lbl in rows if t and lbl]
    if not rows:
        raise CommandError(f"{path}: no rows")
    return rows


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Accuracy and latency of intent recognition or sentiment on a labelled CSV."

    def add_arguments(self, parser):
        parser.add_argument("task", choices=["intents", "sentiment"])
        parser.add_argument("--train", help="CSV text,label to import and train on (intents)")
        parser.add_argument("--test", required=True, help="CSV text,label to evaluate on")

    def handle(self, *args, task, train, test, **options):
        if task == "intents":
            if not train:
                raise CommandError("intents needs --train TRAIN.csv")
            train_rows = read_labelled(train)
            results = self._intents(train_rows, read_labelled(test))
        else:
            results = self._sentiment(read_labelled(test))
        self._report(results)

    # --- intents ---------------------------------------------------------------------------

    def _intents(self, train_rows, test_rows):
        from knowledge import selectors, training
        from merchants.models import Merchant

        out = []
        try:
            with transaction.atomic():
                merchant = Merchant.objects.create(name="kb_eval (temporary)")
                t0 = time.perf_counter()
                result = import_intents(merchant=merchant, rows=train_rows)
                counts = result.as_dict()
                self.stdout.write(f"imported {len(train_rows)} examples as {counts.get('created', 0)} intents "
                                  f"in {time.perf_counter() - t0:.1f}s")
                t0 = time.perf_counter()
                training.kb_train(merchant_id=merchant.pk)
                self.stdout.write(f"trained in {time.perf_counter() - t0:.1f}s")
                for text, label in test_rows:
                    t0 = time.perf_counter()
                    engine = selectors.engine_for(merchant_id=merchant.pk)
                    cands = engine.answer(text) if engine is not None else []
                    ms = (time.perf_counter() - t0) * 1000
                    got = cands[0].label if cands and cands[0].kind == "intent" else None
                    out.append((label, got == label, ms))
                raise _Rollback
        except _Rollback:
            pass
        return out

    # --- sentiment -------------------------------------------------------------------------

    def _sentiment(self, test_rows):
        from knowledge.sentiment import analyze

        out = []
        for text, label in test_rows:
            if label not in ("0", "1"):
                raise CommandError(f"sentiment labels are 1 or 0, got {label!r}")
            t0 = time.perf_counter()
            s = analyze(text)
            ms = (time.perf_counter() - t0) * 1000
            pred = None if s is None or s.score == 0 else ("1" if s.score > 0 else "0")
            out.append((label, pred == label, ms))
        return out

    # --- report ----------------------------------------------------------------------------

    def _report(self, results):
        per = defaultdict(lambda: [0, 0])
        for label, ok, _ in results:
            per[label][0] += ok
            per[label][1] += 1
        for label in sorted(per):
            ok, n = per[label]
            self.stdout.write(f"{label}\t{ok / n:.4f}\t{ok}/{n}")
        ms = np.array([r[2] for r in results])
        acc = sum(r[1] for r in results) / len(results)
        self.stdout.write(
            f"accuracy={acc:.4f} n={len(results)} "
            f"p50_ms={np.percentile(ms, 50):.2f} p99_ms={np.percentile(ms, 99):.2f}"
        )


def import_intents(*, merchant, rows: list[tuple[str, str]]):
    """Import `text,label` rows through the service the admin's import uses: it turns them into
    one intent per label with its texts as example phrases."""
    from knowledge import importers

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["text", "label"])
    for text, label in rows:
        w.writerow([text.replace("\n", " "), label])
    result = importers.kb_import(merchant=merchant, kind="intents", fmt="csv",
                                file=buf.getvalue().encode("utf-8"))
    if not result.ok:
        errors = "; ".join(f"row {e['row']} {e['field']}: {e['message']}"
                           for e in result.as_dict()["errors"][:5])
        raise CommandError(f"import failed: {errors}")
    return result
