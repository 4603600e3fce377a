"""`manage.py kb_eval faq`: the figures come from the bot's own import, trainer and decision
rules, so they move when those move."""

import csv
import io
import re

import pytest
from django.core.management import CommandError, call_command

from knowledge import dialogue
from knowledge.models import BotModel, Faq
from merchants.models import Merchant

LAST_LINE = re.compile(
    r"^top1=(?P<top1>\d\.\d{4}) top3=(?P<top3>\d\.\d{4}) answered=(?P<answered>\d\.\d{4}) "
    r"precision=(?P<precision>\d\.\d{4}) false_answer=(?P<false_answer>\d\.\d{4}) n=(?P<n>\d+) "
    r"p50_ms=(?P<p50>\d+\.\d+) p99_ms=(?P<p99>\d+\.\d+)$"
)

# A small shop FAQ written for this test: question -> answer.
KB = {
    "怎么申请退货退款": "在订单页点申请售后，选择退货退款。",
    "运费是多少": "满99元包邮，不满收8元运费。",
    "多久能发货": "付款后48小时内发货。",
    "可以开发票吗": "可以，下单时填写发票抬头。",
    "会员积分怎么用": "积分在结算页抵扣，100积分抵1元。",
    "忘记登录密码怎么办": "在登录页点忘记密码，用手机验证码重置。",
}
# Questions no entry answers: the bot should hand over, not answer.
OFF_TOPIC = ["今天天气怎么样", "你们老板叫什么名字"]


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def run(*args) -> list[str]:
    out = io.StringIO()
    call_command("kb_eval", "faq", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def figures(lines) -> dict:
    m = LAST_LINE.match(lines[-1])
    assert m, lines[-1]
    return {k: float(v) for k, v in m.groupdict().items()}


@pytest.fixture
def kb(tmp_path):
    return write_csv(tmp_path / "kb.csv", ["question", "answer"], KB.items())


@pytest.mark.django_db
def test_verbatim_questions_are_found_and_answered(kb, tmp_path):
    merchants = Merchant.objects.count()
    test = write_csv(
        tmp_path / "test.csv", ["text", "answer"], [*KB.items(), *((q, "") for q in OFF_TOPIC)]
    )
    f = figures(run("--kb", kb, "--test", test))
    assert f["top1"] == 1.0 and f["top3"] == 1.0
    assert f["answered"] == 1.0 and f["precision"] == 1.0
    assert f["false_answer"] == 0.0
    assert f["n"] == len(KB) + len(OFF_TOPIC)
    assert f["p99"] >= f["p50"] > 0
    # Everything was rolled back: no merchant, FAQ or model left behind.
    assert Merchant.objects.count() == merchants
    assert not Faq.objects.exists() and not BotModel.objects.exists()


@pytest.mark.django_db
def test_figures_are_computed_from_the_answers(kb, tmp_path):
    questions, answers = list(KB), list(KB.values())
    # Each question expects the next entry's answer: never first, never a right direct answer.
    shifted = write_csv(
        tmp_path / "shifted.csv",
        ["text", "answer"],
        [(q, answers[(i + 1) % len(answers)]) for i, q in enumerate(questions)],
    )
    f = figures(run("--kb", kb, "--test", shifted))
    assert f["top1"] == 0.0 and f["precision"] == 0.0 and f["answered"] == 1.0
    # A question that reads as an entry but is marked "no entry" is a false answer.
    marked = write_csv(
        tmp_path / "marked.csv",
        ["text", "answer"],
        [(questions[0], answers[0]), (questions[1], ""), (OFF_TOPIC[0], "")],
    )
    f = figures(run("--kb", kb, "--test", marked))
    assert f["false_answer"] == 0.5 and f["n"] == 3


@pytest.mark.django_db
def test_follows_the_bots_decision_rule(kb, tmp_path, monkeypatch):
    test = write_csv(tmp_path / "test.csv", ["text", "answer"], KB.items())
    # A bot that never answers directly (it would always ask to clarify) answers nothing here,
    # while ranking stays the same.
    monkeypatch.setattr(dialogue, "ANSWER_THRESHOLD", 1.01)
    f = figures(run("--kb", kb, "--test", test))
    assert f["top1"] == 1.0 and f["answered"] == 0.0 and f["precision"] == 0.0
    # A visitor asking for a person is handed over before the engine reads the question.
    monkeypatch.setattr(dialogue, "ANSWER_THRESHOLD", 0.6)
    human = write_csv(
        tmp_path / "human.csv", ["question", "answer"], [*KB.items(), ("转人工", "马上为您转接。")]
    )
    f = figures(
        run(
            "--kb",
            human,
            "--test",
            write_csv(tmp_path / "t2.csv", ["text", "answer"], [("转人工", "马上为您转接。")]),
        )
    )
    assert f["top1"] == 0.0 and f["answered"] == 0.0


@pytest.mark.django_db
def test_bad_input_is_a_clear_error(kb, tmp_path):
    test = write_csv(tmp_path / "test.csv", ["text", "answer"], KB.items())
    labelled = write_csv(tmp_path / "labelled.csv", ["text", "label"], [("运费是多少", "shipping")])
    with pytest.raises(CommandError, match="needs columns question,answer"):
        run("--kb", labelled, "--test", test)
    with pytest.raises(CommandError, match="needs columns text,answer"):
        run("--kb", kb, "--test", labelled)
    with pytest.raises(CommandError, match="--kb"):
        run("--test", test)
    with pytest.raises(CommandError, match="no entry's answer"):
        run(
            "--kb",
            kb,
            "--test",
            write_csv(tmp_path / "typo.csv", ["text", "answer"], [("运费是多少", "包邮")]),
        )
    duplicate = write_csv(
        tmp_path / "dup.csv", ["question", "answer"], [("运费是多少", "a"), ("运费是多少", "b")]
    )
    with pytest.raises(CommandError, match="import failed"):
        run(
            "--kb",
            duplicate,
            "--test",
            write_csv(tmp_path / "t.csv", ["text", "answer"], [("运费", "a")]),
        )
    assert not Faq.objects.exists()


@pytest.mark.django_db
def test_answers_compare_as_the_bot_says_them(tmp_path):
    # A rich-text answer in the KB, its plain text in TEST: the same entry.
    kb = write_csv(
        tmp_path / "kb.csv",
        ["question", "answer"],
        [("运费是多少", "<p>满99元<b>包邮</b></p>"), ("多久能发货", "付款后48小时内发货。")],
    )
    test = write_csv(tmp_path / "test.csv", ["text", "answer"], [("运费是多少", "满99元包邮")])
    f = figures(run("--kb", kb, "--test", test))
    assert f["top1"] == 1.0 and f["precision"] == 1.0
