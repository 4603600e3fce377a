import csv
import io
import random
import re

import pytest
from django.core.management import CommandError, call_command

from knowledge.models import BotModel, Intent
from merchants.models import Merchant

LAST_LINE = re.compile(r"^accuracy=(\d\.\d{4}) n=(\d+) p50_ms=(\d+\.\d+) p99_ms=(\d+\.\d+)$")

# Generated labelled questions: each intent = its key phrases x fillers.
INTENTS = {
    "refund": ["get a refund", "my money back", "refund the payment", "退款", "钱退给我"],
    "delivery": [
        "where is my parcel",
        "track the delivery",
        "package has not arrived",
        "快递到哪了",
        "物流信息",
    ],
    "password": [
        "reset my password",
        "forgot the password",
        "cannot log in",
        "忘记密码",
        "登录不了",
    ],
    "card_lost": ["lost my card", "card was stolen", "block my card", "银行卡丢了", "冻结卡片"],
}
FILLERS = ["{}", "I want to {}", "please help: {}", "how do I {}", "{} now", "请问{}", "{}怎么办"]


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return str(path)


def run(*args) -> list[str]:
    out = io.StringIO()
    call_command("kb_eval", *args, stdout=out)
    return out.getvalue().strip().splitlines()


@pytest.fixture
def intent_files(tmp_path):
    rng = random.Random(0)
    train, test = [], []
    for label, phrases in INTENTS.items():
        for p in phrases:
            fill = FILLERS[:]
            rng.shuffle(fill)
            train += [(f.format(p), label) for f in fill[:5]]
            test += [(f.format(p), label) for f in fill[5:]]
    wrong = [(t, "refund" if lbl != "refund" else "delivery") for t, lbl in test]
    return (
        write_csv(tmp_path / "train.csv", train),
        write_csv(tmp_path / "test.csv", test),
        write_csv(tmp_path / "wrong.csv", wrong),
        len(test),
    )


@pytest.mark.django_db
def test_kb_eval_intents(intent_files):
    train, test, wrong, n = intent_files
    merchants = Merchant.objects.count()
    lines = run("intents", "--train", train, "--test", test)
    m = LAST_LINE.match(lines[-1])
    assert m, lines[-1]
    assert int(m.group(2)) == n
    assert float(m.group(1)) >= 0.8
    assert float(m.group(4)) >= float(m.group(3)) > 0
    # The answering thread's CPU time, the line before.
    cpu = re.match(r"^cpu p50_ms=(\d+\.\d+) p99_ms=(\d+\.\d+)$", lines[-2])
    assert cpu, lines[-2]
    assert float(cpu.group(2)) >= float(cpu.group(1)) > 0
    # Per-label lines: label, accuracy, correct/total.
    assert any(line.startswith("refund\t") for line in lines)
    # Nothing left behind: the throwaway merchant, its intents and model were rolled back.
    assert Merchant.objects.count() == merchants
    assert not Intent.objects.exists() and not BotModel.objects.exists()
    # The accuracy is computed from the answers: the same questions with wrong labels score ~0.
    m2 = LAST_LINE.match(run("intents", "--train", train, "--test", wrong)[-1])
    assert float(m2.group(1)) < 0.3


@pytest.mark.django_db
def test_kb_eval_sentiment(tmp_path):
    rows = [
        ("太好了，谢谢你们，服务很棒", 1),
        ("东西不错，物流也快，很满意", 1),
        ("Great service, thank you!", 1),
        ("垃圾服务，气死我了", 0),
        ("质量太差了，再也不买了", 0),
        ("This is terrible, the worst ever", 0),
    ]
    lines = run("sentiment", "--test", write_csv(tmp_path / "s.csv", rows))
    assert LAST_LINE.match(lines[-1]) and lines[-1].startswith("accuracy=1.0000 n=6 ")
    flipped = [(t, 1 - lbl) for t, lbl in rows]
    last = run("sentiment", "--test", write_csv(tmp_path / "f.csv", flipped))[-1]
    assert last.startswith("accuracy=0.0000 n=6 ")


@pytest.mark.django_db
def test_kb_eval_bad_input(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nhi,there\n", encoding="utf-8")
    with pytest.raises(CommandError, match="text,label"):
        run("sentiment", "--test", str(bad))
    with pytest.raises(CommandError, match="--train"):
        run("intents", "--test", str(bad))
    with pytest.raises(CommandError):
        run("sentiment", "--test", str(tmp_path / "missing.csv"))
