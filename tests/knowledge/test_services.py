"""Service rules: sanitised answers, validation with field errors, merchant scoping."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone, translation

from kefu.errors import KefuError, NotFound
from knowledge import selectors, services
from knowledge.models import Category, Faq, Intent, UnansweredQuestion
from knowledge.richtext import html_to_text, sanitize_html

XSS = (
    '<p onclick="steal()">退货<script>alert(1)</script> <img src=x onerror=alert(1)>'
    '<a href="javascript:alert(1)">坏链接</a> <a href="https://shop.example.com/returns" '
    'target="_blank" onmouseover="x()">退货政策</a><iframe src="https://evil"></iframe>'
    '<style>body{display:none}</style><b style="color:red">注意</b></p>'
)


@pytest.fixture(autouse=True)
def english():
    """The assertions below quote the English messages; the site default is Chinese."""
    with translation.override("en"):
        yield


def test_faq_answer_is_sanitised_on_every_write(acme):
    faq = services.faq_create(merchant_id=acme.pk, question="怎么退货", answer=XSS)
    stored = Faq.objects.get(pk=faq.pk).answer
    for bad in (
        "<script",
        "alert(1)",
        "onerror",
        "onclick",
        "javascript:",
        "<img",
        "<iframe",
        "<style",
        "style=",
        "onmouseover",
        "target=",
    ):
        assert bad not in stored, bad
    assert (
        '<a href="https://shop.example.com/returns" rel="noopener noreferrer">退货政策</a>'
        in stored
    )
    assert "<b>注意</b>" in stored
    services.faq_update(merchant_id=acme.pk, faq_id=faq.pk, answer='<svg onload="x()">新</svg>')
    assert Faq.objects.get(pk=faq.pk).answer == "新"


def test_plain_text_answer_for_the_widget():
    html = sanitize_html(
        "<p>第一段<br>第二行</p><ul><li>甲</li><li>乙</li></ul>价格 &lt;100 &amp; 包邮"
    )
    assert html_to_text(html) == "第一段\n第二行\n\n- 甲\n- 乙\n价格 <100 & 包邮"
    assert html_to_text(sanitize_html("a <script>x</script>b")) == "a b"
    # A "<" that starts no tag is text, and comes back as text.
    assert html_to_text(sanitize_html("价格 < 100 元")) == "价格 < 100 元"


def test_answer_that_is_only_unsafe_markup_is_refused(acme):
    with pytest.raises(KefuError) as exc:
        services.faq_create(merchant_id=acme.pk, question="q", answer="<script>alert(1)</script>")
    assert exc.value.field == "answer"
    assert not Faq.objects.exists()


def test_intent_answer_sanitised_and_slots_validated(acme):
    intent = services.intent_create(
        merchant_id=acme.pk,
        name="track",
        examples="查物流\n\n查物流\n快递到哪",
        answer='<a href="https://x.example" onclick="y()">查询</a>',
        slots=[
            {
                "name": "order_no",
                "prompt": "单号？",
                "pattern": r"^\d{10}$",
                "reprompt": "10 位数字",
            }
        ],
    )
    intent.refresh_from_db()
    assert intent.examples == "查物流\n快递到哪"
    assert intent.answer == '<a href="https://x.example" rel="noopener noreferrer">查询</a>'
    assert intent.slots[0]["pattern"] == r"^\d{10}$"


@pytest.mark.parametrize(
    "slots, fragment",
    [
        ("not a list", "list"),
        ([{"prompt": "p"}], "name"),
        ([{"name": "9x", "prompt": "p"}], "name"),
        ([{"name": "a"}], "prompt"),
        ([{"name": "a", "prompt": "p", "pattern": "("}], "regular expression"),
        ([{"name": "a", "prompt": "p", "pattern": r"^(\d+)+$"}], "(a+)+"),
        ([{"name": "a", "prompt": "p", "color": "red"}], "color"),
        ([{"name": "a", "prompt": "p"}, {"name": "a", "prompt": "q"}], "twice"),
        ([{"name": "a", "prompt": 5}], "prompt"),
        ([{"name": f"s{i}", "prompt": "p"} for i in range(11)], "10"),
    ],
)
def test_bad_slots_are_field_errors(acme, slots, fragment):
    with pytest.raises(KefuError) as exc:
        services.intent_create(merchant_id=acme.pk, name="x", examples="e", slots=slots)
    assert exc.value.field == "slots"
    assert fragment in exc.value.message
    assert not Intent.objects.exists()


def test_validation_errors_name_the_field(acme):
    cases = [
        (dict(question="", answer="a"), "question"),
        (dict(question="q" * 501, answer="a"), "question"),
        (dict(question="q", answer=""), "answer"),
        (dict(question="q", answer="a", category_id=123456), "category"),
        (
            dict(
                question="q",
                answer="a",
                valid_from=timezone.now(),
                valid_until=timezone.now() - datetime.timedelta(hours=1),
            ),
            "valid_until",
        ),
        (dict(question="q", answer="a", similar_questions=[1, 2]), "similar_questions"),
    ]
    for kwargs, field in cases:
        with pytest.raises(KefuError) as exc:
            services.faq_create(merchant_id=acme.pk, **kwargs)
        assert exc.value.field == field, kwargs
    services.faq_create(merchant_id=acme.pk, question="q", answer="a")
    with pytest.raises(KefuError) as exc:
        services.faq_create(merchant_id=acme.pk, question="q", answer="b")
    assert exc.value.field == "question"
    with pytest.raises(KefuError) as exc:
        services.dictionary_word_create(merchant_id=acme.pk, word="two words")
    assert exc.value.field == "word"
    with pytest.raises(KefuError) as exc:
        services.synonym_create(merchant_id=acme.pk, word="退货", synonyms="退货")
    assert exc.value.field == "synonyms"


def test_another_merchants_rows_are_not_found(acme, other):
    category = services.category_create(merchant_id=other.pk, name="别家")
    faq = services.faq_create(merchant_id=other.pk, question="别家的", answer="a")
    with pytest.raises(NotFound):
        services.faq_update(merchant_id=acme.pk, faq_id=faq.pk, answer="改")
    with pytest.raises(NotFound):
        services.faq_delete(merchant_id=acme.pk, faq_id=faq.pk)
    with pytest.raises(NotFound):
        services.category_delete(merchant_id=acme.pk, category_id=category.pk)
    # Nor can acme file its FAQ under the other merchant's category.
    with pytest.raises(KefuError) as exc:
        services.faq_create(merchant_id=acme.pk, question="q", answer="a", category_id=category.pk)
    assert exc.value.field == "category"
    assert services.faq_set_enabled(merchant_id=acme.pk, faq_ids=[faq.pk], enabled=False) == 0
    assert Faq.objects.get(pk=faq.pk).answer == "a" and Faq.objects.get(pk=faq.pk).is_enabled
    assert Category.objects.filter(pk=category.pk).exists()


# --- Knowledge gaps --------------------------------------------------------------------------


def ask(merchant, *texts):
    return [
        services.unanswered_question_record(merchant_id=merchant.pk, text=t, confidence=0.2)
        for t in texts
    ]


def test_gaps_group_similar_questions(acme, other):
    ask(
        acme,
        "发票怎么开",
        "怎么开发票",
        "发票怎么开？",
        "能开发票吗",
        "发票怎么开",
        "营业时间是几点",
        "几点营业",
        "How do I change my password?",
        "how to change password",
        "你们是哪家快递",
    )
    ask(other, "发票怎么开")
    groups = selectors.gap_groups(merchant_id=acme.pk)

    by_rep = {g.representative: g for g in groups}
    invoice = groups[0]
    assert invoice.representative == "发票怎么开"  # the most asked wording
    assert invoice.count == 5
    # One example per wording (punctuation and case do not make a new one).
    assert sorted(invoice.examples) == sorted(["发票怎么开", "怎么开发票", "能开发票吗"])
    assert sum(g.count for g in groups) == 10
    password = next(g for g in groups if "password" in g.representative.lower())
    assert password.count == 2
    assert any(g.count == 1 and g.representative == "你们是哪家快递" for g in groups)
    assert len(by_rep) == len(groups)
    other_ids = set(UnansweredQuestion.objects.filter(merchant=other).values_list("pk", flat=True))
    assert not other_ids & {i for g in groups for i in g.question_ids}


def test_dismissed_and_resolved_questions_leave_the_report(acme, other):
    rows = ask(acme, "发票怎么开", "怎么开发票", "营业时间")
    faq = services.faq_create(merchant_id=acme.pk, question="发票怎么开", answer="订单页申请")
    assert (
        services.gap_resolve(
            merchant_id=acme.pk, question_ids=[rows[0].pk, rows[1].pk], faq_id=faq.pk
        )
        == 2
    )
    assert services.gap_dismiss(merchant_id=other.pk, question_ids=[rows[2].pk]) == 0  # not theirs
    assert [g.representative for g in selectors.gap_groups(merchant_id=acme.pk)] == ["营业时间"]
    assert services.gap_dismiss(merchant_id=acme.pk, question_ids=[rows[2].pk]) == 1
    assert selectors.gap_groups(merchant_id=acme.pk) == []
    other_faq = services.faq_create(merchant_id=other.pk, question="x", answer="y")
    with pytest.raises(NotFound):
        services.gap_resolve(merchant_id=acme.pk, question_ids=[rows[0].pk], faq_id=other_faq.pk)


def test_recorded_questions_are_trimmed(acme):
    assert (
        services.unanswered_question_record(merchant_id=acme.pk, text="   ", confidence=0) is None
    )
    row = services.unanswered_question_record(merchant_id=acme.pk, text="很长" * 400, confidence=3)
    assert len(row.text) == 500 and row.confidence == 1.0
