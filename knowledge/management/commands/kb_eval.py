"""Measure the bot on labelled data, through the same code paths the product uses.

    manage.py kb_eval intents --train TRAIN.csv --test TEST.csv
    manage.py kb_eval sentiment --test TEST.csv
    manage.py kb_eval faq --kb KB.csv --test TEST.csv

intents: creates a throwaway merchant, imports TRAIN (columns text,label; one intent per label
with its texts as example phrases) through the admins' import service, trains with the
product's trainer, then answers every TEST question with the engine the bot uses. Everything
runs inside one transaction that is rolled back, so nothing is left behind (and no training is
scheduled: that happens only after a commit).

sentiment: TEST has columns text,label (1 positive, 0 negative); the shipped model's score sign
is the prediction (a score of exactly 0, or no score, counts as wrong).

faq: KB has columns question,answer (one FAQ entry per row) and is imported as FAQs through the
same import service; TEST has columns text,answer, the answer being the expected entry's answer
text, or empty where no entry matches and the bot should not answer. Each question is read and
decided by the bot's own rules (knowledge.dialogue.read and .decide, as a first message with no
earlier topic). The last line is
`top1=F top3=F answered=F precision=F false_answer=F n=N p50_ms=F p99_ms=F`: top1/top3 the
right entry first / among the first three candidates and answered the share answered directly,
all over the questions that have an entry; precision the share of those direct answers that
were right; false_answer the share of no-entry questions answered directly; n all questions;
the times are one question read and decided, engine lookup included.

The last line of intents and sentiment is `accuracy=0.XXXX n=N p50_ms=... p99_ms=...` (wall
clock); intents print the answering thread's CPU time on the line before it,
`cpu p50_ms=... p99_ms=...`.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


def read_csv(
    path: str, columns: tuple[str, ...], aliases: dict[str, str] | None = None
) -> list[dict]:
    """The rows of a UTF-8 CSV (a BOM allowed) as dicts of stripped strings; a CommandError
    naming the expected columns when one is missing. `aliases`: column -> another accepted name."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except OSError as e:
        raise CommandError(f"{path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise CommandError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from e
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = reader.fieldnames or []
    names = {}
    for col in columns:
        alt = (aliases or {}).get(col)
        names[col] = col if col in fields else alt if alt in fields else None
    if None in names.values():
        raise CommandError(f"{path}: needs columns {','.join(columns)} (found {','.join(fields)})")
    rows = [{col: (r[name] or "").strip() for col, name in names.items()} for r in reader]
    if not rows:
        raise CommandError(f"{path}: no rows")
    return rows


def read_labelled(path: str) -> list[tuple[str, str]]:
    """(text, label) rows; the label column may also be called `category` (Banking77)."""
    rows = read_csv(path, ("text", "label"), {"label": "category"})
    rows = [(r["text"], r["label"]) for r in rows if r["text"] and r["label"]]
    if not rows:
        raise CommandError(f"{path}: no rows")
    return rows


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Accuracy and latency of FAQ answers, intent recognition or sentiment on a labelled CSV."

    def add_arguments(self, parser):
        parser.add_argument("task", choices=["faq", "intents", "sentiment"])
        parser.add_argument("--kb", help="CSV question,answer to import as FAQs and train on (faq)")
        parser.add_argument("--train", help="CSV text,label to import and train on (intents)")
        parser.add_argument(
            "--test",
            required=True,
            help="CSV to evaluate on: text,answer (faq) or text,label (intents, sentiment)",
        )

    def handle(self, *args, task, train, test, kb=None, **options):
        if task == "faq":
            if not kb:
                raise CommandError("faq needs --kb KB.csv")
            read_csv(kb, ("question", "answer"))  # the columns, before anything is imported
            test_rows = [
                (r["text"], r["answer"]) for r in read_csv(test, ("text", "answer")) if r["text"]
            ]
            if not test_rows:
                raise CommandError(f"{test}: no rows")
            return self._faq_report(self._faq(kb, test_rows))
        if task == "intents":
            if not train:
                raise CommandError("intents needs --train TRAIN.csv")
            train_rows = read_labelled(train)
            results = self._intents(train_rows, read_labelled(test))
        else:
            results = self._sentiment(read_labelled(test))
        self._report(results)

    # --- faq -------------------------------------------------------------------------------

    def _faq(self, kb_path, test_rows):
        """[(expected answer or "", the answers of the ranked candidates, answered directly,
        the direct answer or None, ms)] for each TEST question; answers compared as the bot
        would say them (plain text of the stored answer)."""
        from knowledge import dialogue, importers, selectors, training
        from knowledge.models import Faq
        from knowledge.richtext import html_to_text
        from merchants.models import Merchant

        out = []
        try:
            with transaction.atomic():
                merchant = Merchant.objects.create(name="kb_eval (temporary)")
                t0 = time.perf_counter()
                with open(kb_path, "rb") as f:  # the file as an admin would upload it
                    result = importers.kb_import(
                        merchant=merchant, kind="faqs", fmt="csv", file=f.read()
                    )
                _check_import(result)
                answers = {
                    pk: html_to_text(a).strip()
                    for pk, a in Faq.objects.filter(merchant=merchant).values_list("pk", "answer")
                }
                self.stdout.write(
                    f"imported {len(answers)} FAQ entries in {time.perf_counter() - t0:.1f}s"
                )
                known = set(answers.values())
                for text, expected in test_rows:
                    if expected and html_to_text(expected).strip() not in known:
                        # A typo in the expected answer would silently count as a wrong answer.
                        raise CommandError(
                            f"test question {text!r}: its answer {expected!r} "
                            "is no entry's answer in the KB"
                        )
                t0 = time.perf_counter()
                training.kb_train(merchant_id=merchant.pk)
                self.stdout.write(f"trained in {time.perf_counter() - t0:.1f}s")
                self._faq_calibration(selectors.engine_for(merchant_id=merchant.pk))
                for text, expected in test_rows:
                    t0 = time.perf_counter()
                    engine = selectors.engine_for(merchant_id=merchant.pk)
                    direct = None
                    cands = []
                    # The bot's first-message rules in order: a request for a person is
                    # handed over before the engine reads anything.
                    if engine is not None and not dialogue.asks_for_human(text):
                        cands, _ = dialogue.read(engine, text)
                        decision = dialogue.decide(cands)
                        if decision.action == "answer":
                            direct = decision.candidates[0]
                    ms = (time.perf_counter() - t0) * 1000
                    ranked = [answers.get(c.id) if c.kind == "faq" else None for c in cands]
                    got = (
                        answers.get(direct.id)
                        if direct is not None and direct.kind == "faq"
                        else None
                    )
                    out.append(
                        (
                            html_to_text(expected).strip() if expected else "",
                            ranked,
                            direct is not None,
                            got,
                            ms,
                        )
                    )
                raise _Rollback
        except _Rollback:
            pass
        return out

    def _faq_calibration(self, engine):
        """What the trainer learnt from the KB itself: where FAQs are answered directly."""
        if engine is None:
            return
        self.stdout.write(
            "FAQ encoder %s; answers directly from similarity %.3f (%s)"
            % (
                "on" if engine.faq_vec is not None else "off",
                engine.faq_answer_sim,
                engine.faq_calibration_text(),
            )
        )

    def _faq_report(self, results):
        with_entry = [r for r in results if r[0]]
        no_entry = [r for r in results if not r[0]]
        top1 = sum(1 for exp, ranked, *_ in with_entry if ranked[:1] == [exp])
        top3 = sum(1 for exp, ranked, *_ in with_entry if exp in ranked[:3])
        answered = [r for r in with_entry if r[2]]
        right = sum(1 for exp, _, _, got, _ in answered if got == exp)
        false = sum(1 for r in no_entry if r[2])

        def share(a, b):
            return a / b if b else 0.0

        ms = np.array([r[4] for r in results])
        self.stdout.write(
            f"questions with an entry: {len(with_entry)}, first {top1}, in the first three {top3}, "
            f"answered directly {len(answered)}, of them right {right}; "
            f"without an entry: {len(no_entry)}, answered directly {false}"
        )
        self.stdout.write(
            f"top1={share(top1, len(with_entry)):.4f} top3={share(top3, len(with_entry)):.4f} "
            f"answered={share(len(answered), len(with_entry)):.4f} precision={share(right, len(answered)):.4f} "
            f"false_answer={share(false, len(no_entry)):.4f} n={len(results)} "
            f"p50_ms={np.percentile(ms, 50):.2f} p99_ms={np.percentile(ms, 99):.2f}"
        )

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
                self.stdout.write(
                    f"imported {len(train_rows)} examples as {counts.get('created', 0)} intents "
                    f"in {time.perf_counter() - t0:.1f}s"
                )
                t0, c0 = time.perf_counter(), time.process_time()
                training.kb_train(merchant_id=merchant.pk)
                self.stdout.write(
                    f"trained in {time.perf_counter() - t0:.1f}s "
                    f"(cpu {time.process_time() - c0:.1f}s, all threads)"
                )
                for text, label in test_rows:
                    t0, c0 = time.perf_counter(), time.thread_time()
                    engine = selectors.engine_for(merchant_id=merchant.pk)
                    cands = engine.answer(text) if engine is not None else []
                    ms = (time.perf_counter() - t0) * 1000
                    cpu_ms = (time.thread_time() - c0) * 1000
                    got = cands[0].label if cands and cands[0].kind == "intent" else None
                    out.append((label, got == label, ms, cpu_ms))
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
        for label, ok, *_ in results:
            per[label][0] += ok
            per[label][1] += 1
        for label in sorted(per):
            ok, n = per[label]
            self.stdout.write(f"{label}\t{ok / n:.4f}\t{ok}/{n}")
        ms = np.array([r[2] for r in results])
        acc = sum(r[1] for r in results) / len(results)
        if len(results[0]) > 3:
            # CPU time of the answering thread (the encoder runs on it): what a question costs
            # on one thread, which a machine busy with other work does not inflate as it does
            # the wall clock.
            cpu = np.array([r[3] for r in results])
            self.stdout.write(
                f"cpu p50_ms={np.percentile(cpu, 50):.2f} p99_ms={np.percentile(cpu, 99):.2f}"
            )
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
    result = importers.kb_import(
        merchant=merchant, kind="intents", fmt="csv", file=buf.getvalue().encode("utf-8")
    )
    _check_import(result)
    return result


def _check_import(result) -> None:
    if not result.ok:
        errors = "; ".join(
            f"row {e['row']} {e['field']}: {e['message']}" for e in result.as_dict()["errors"][:5]
        )
        raise CommandError(f"import failed: {errors}")
