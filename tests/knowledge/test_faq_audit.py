"""bench/faq_audit.py, the reading of FAQ misses by a person (issue 17): the sample holds the
misses as the bot makes them, the judged marks turn into the corrected figures, and the blind
mode hides which rows are decoys until the marks are scored."""

import csv

import pytest

from bench import faq_audit

# A knowledge base with a duplicate: 如何还款 asks what 怎么还款 asks, under another answer.
KB = [
    ("怎么还款", "A-repay"),
    ("如何还款", "B-repay-too"),
    ("营业时间是几点到几点", "C-hours"),
    ("可以用支付宝付款吗", "D-alipay"),
    ("怎么修改登录密码", "E-password"),
    ("转账多久到账", "F-transfer"),
    ("发票怎么开", "G-invoice"),
    ("运费是多少", "H-shipping"),
    ("可以退货吗", "I-returns"),
    ("会员有什么优惠", "J-members"),
    ("在哪里查看订单", "K-orders"),
    ("客服电话是多少", "L-phone"),
]
# 怎么还款呢 is labelled with the duplicate, so the bot's 怎么还款 counts as a miss.
TEST = [("怎么还款呢", "B-repay-too"), ("营业时间是几点", "C-hours"), ("今天天气怎么样", "")]


@pytest.fixture
def files(tmp_path):
    kb, test = tmp_path / "kb.csv", tmp_path / "test.csv"
    for path, header, rows in ((kb, "question,answer", KB), (test, "text,answer", TEST)):
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(header.split(","))
            w.writerows(rows)
    return str(kb), str(test), str(tmp_path / "audit.csv")


def rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def mark(path, same):
    marked = rows(path)
    for r in marked:
        r["same"] = same(r)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(marked[0]))
        w.writeheader()
        w.writerows(marked)


def test_the_sample_holds_the_miss_and_the_marks_correct_the_figures(files, capsys):
    kb, test, out = files
    assert faq_audit.main(["sample", kb, test, "--out", out]) == 0
    sampled = rows(out)
    miss = [r for r in sampled if r["kind"] == "top1"]
    assert [(r["question"], r["labelled"], r["bot"]) for r in miss] == [
        ("怎么还款呢", "如何还款", "怎么还款")
    ]
    assert all(r["same"] == "" for r in sampled)
    assert "top1=0.5000" in capsys.readouterr().out

    mark(out, lambda r: "y")
    assert faq_audit.main(["score", kb, test, out]) == 0
    printed = capsys.readouterr().out
    assert "top1: 1 of 1 sampled misses are right entries" in printed
    assert "top1 strict 0.5000, corrected 1.0000" in printed

    mark(out, lambda r: "n")
    faq_audit.main(["score", kb, test, out])
    assert "top1 strict 0.5000, corrected 0.5000" in capsys.readouterr().out


def test_blind_hides_the_kinds_and_scores_the_decoys_from_the_key(files, capsys):
    kb, test, out = files
    faq_audit.main(["sample", kb, test, "--out", out, "--blind", "--n", "4"])
    sampled = rows(out)
    with open(out + ".key", encoding="utf-8") as f:
        kinds = f.read().split()
    assert {r["kind"] for r in sampled} == {"?"}
    assert len(kinds) == len(sampled)
    assert "top1" in kinds and "decoy" in kinds
    # A decoy's "bot" entry is the one ranked DECOY_RANK, never the labelled one.
    for kind, r in zip(kinds, sampled, strict=True):
        if kind == "decoy":
            assert r["bot"] != r["labelled"]
    capsys.readouterr()

    mark(out, lambda r: "n")
    faq_audit.main(["score", kb, test, out])
    printed = capsys.readouterr().out
    decoys = kinds.count("decoy")
    assert (
        f"decoys (the entry ranked {faq_audit.DECOY_RANK}) marked right: 0 of {decoys}" in printed
    )


def test_wilson_interval():
    lo, hi = faq_audit.wilson(34, 60)
    assert 0.43 < lo < 0.45 and 0.68 < hi < 0.70
    assert faq_audit.wilson(0, 0) == (0.0, 1.0)
    assert faq_audit.wilson(17, 17)[1] == 1.0
