"""bench/kb_answer.py measures what it says: a trained FAQ model answering its own paraphrases,
and the intent part training from a CSV and answering through the sentence encoder."""

import csv
import random

import pytest

from bench import kb_answer

pytestmark = pytest.mark.slow  # trains models


def test_faq_part_trains_and_answers():
    out = kb_answer.bench_faqs(300, 60, random.Random(0))
    assert out["faqs"] == 300 and out["queries"] > 60  # the paraphrases plus off-topic ones
    assert 0 < out["p50_ms"] <= out["p99_ms"] <= out["max_ms"]
    # Generated paraphrases of a small KB: most find their entry (a broken matcher finds ~0).
    assert out["paraphrase_top1"] > 0.3


def test_intent_part_trains_from_the_csv_with_the_encoder(tmp_path):
    path = tmp_path / "intents.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for label, phrases in (
            ("card", ["lost my card", "card stolen", "block my card"]),
            ("rate", ["exchange rate", "dollar to euro", "currency fee"]),
        ):
            for p in phrases:
                w.writerows([[p, label], [p + " please", label], ["how do I " + p, label]])
    out = kb_answer.bench_intents(path, random.Random(0))
    assert (out["source"], out["examples"], out["intents"], out["encoder"]) == (
        "intents.csv",
        18,
        2,
        True,
    )
    assert out["train_s"] > 0 and 0 < out["p50_ms"] <= out["p99_ms"]
