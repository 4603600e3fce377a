"""Learning from agents (issue 17): after a hand-over, an agent's reply that is an FAQ entry's
answer suggests the visitor's unanswered wording as a similar question of that entry; one click
in the knowledge-gap view adds it, and the retrained bot then answers that wording."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from knowledge import selectors, services, training
from knowledge.models import Faq, UnansweredQuestion
from tests import factories

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
GAPS = reverse("admin:knowledge_unansweredquestion_changelist")
REFUND = "<p>请在订单页点击<b>申请退款</b>，款项 1-3 个工作日原路退回。</p>"
# What an agent sends: the answer as plain text (typed, or a quick reply holding it).
REPLY = "请在订单页点击申请退款，款项 1-3 个工作日原路退回。"


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice.user)
    return client


@pytest.fixture
def refund(acme):
    return services.faq_create(merchant_id=acme.pk, question="怎么申请退款", answer=REFUND)


def conversation_with_gap(merchant, text: str):
    visitor = factories.visitor(merchant)
    message = factories.visitor_message(visitor, text)
    gap = services.unanswered_question_record(
        merchant_id=merchant.pk, text=text, confidence=0.2, conversation_id=message.conversation_id
    )
    return message.conversation_id, gap


@pytest.mark.parametrize(
    "reply, matches",
    [
        ("请在订单页点击申请退款，款项1-3个工作日原路退回。", True),  # the answer, as plain text
        ("您好，请在订单页点击申请退款，款项 1-3 个工作日原路退回。祝您愉快", True),
        ("申请退款", False),  # a fragment of the answer is not the answer
        ("好的，我帮您查一下", False),
    ],
)
def test_a_reply_is_matched_to_the_faq_whose_answer_it_is(acme, refund, reply, matches):
    found = services.faq_for_reply(merchant_id=acme.pk, text=reply)
    assert (found == refund) is matches


def test_another_merchants_answer_is_never_matched(acme, other, refund):
    assert services.faq_for_reply(merchant_id=other.pk, text=REPLY) is None


def test_the_reply_suggests_the_entry_for_that_conversations_gaps_only(acme, refund):
    conversation_id, gap = conversation_with_gap(acme, "钱怎么要回来")
    _elsewhere, other_gap = conversation_with_gap(acme, "钱能退吗")
    count = services.gap_suggest_from_reply(
        merchant_id=acme.pk, conversation_id=conversation_id, text=REPLY
    )
    assert count == 1
    gap.refresh_from_db()
    other_gap.refresh_from_db()
    assert gap.suggested_faq == refund and other_gap.suggested_faq is None
    # A reply that is no FAQ answer suggests nothing.
    assert not services.gap_suggest_from_reply(
        merchant_id=acme.pk, conversation_id=_elsewhere, text="稍等"
    )


def test_one_click_adds_the_wording_and_the_retrained_bot_answers_it(as_alice, acme, refund):
    conversation_id, gap = conversation_with_gap(acme, "钱怎么要回来")
    services.gap_suggest_from_reply(
        merchant_id=acme.pk, conversation_id=conversation_id, text=REPLY
    )
    page = as_alice.get(GAPS)
    assert [g.pk for g in page.context["suggestions"]] == [gap.pk]
    assert page.context["groups"] == []  # shown once, in its own section
    assert "怎么申请退款" in page.content.decode()

    done = as_alice.post(
        GAPS, {"merchant": acme.pk, "action": "accept_suggestion", "question_ids": [gap.pk]}
    )
    assert done.status_code == 302
    refund.refresh_from_db()
    assert refund.similar_questions.splitlines() == ["钱怎么要回来"]
    gap.refresh_from_db()
    assert gap.resolved_faq == refund
    assert as_alice.get(GAPS).context["suggestions"] == []

    training.kb_train(merchant_id=acme.pk)
    selectors.engine_cache_clear()
    best = selectors.engine_for(merchant_id=acme.pk).answer("钱怎么要回来")[0]
    assert (best.kind, best.id) == ("faq", refund.pk) and best.confidence > 0.9


def test_accepting_twice_adds_the_wording_once(acme, refund):
    ids = []
    for _ in range(2):
        conversation_id, gap = conversation_with_gap(acme, "钱怎么要回来")
        services.gap_suggest_from_reply(
            merchant_id=acme.pk, conversation_id=conversation_id, text=REPLY
        )
        ids.append(gap.pk)
    assert services.gap_accept_suggestions(merchant_id=acme.pk, question_ids=ids) == 2
    assert services.gap_accept_suggestions(merchant_id=acme.pk, question_ids=ids) == 0
    refund.refresh_from_db()
    assert refund.similar_questions == "钱怎么要回来"


def test_outsiders_see_and_accept_nothing(acme, charlie, refund):
    conversation_id, gap = conversation_with_gap(acme, XSS)
    services.gap_suggest_from_reply(
        merchant_id=acme.pk, conversation_id=conversation_id, text=REPLY
    )
    outsider = Client()
    outsider.force_login(charlie.user)
    page = outsider.get(GAPS)
    assert page.status_code in (200, 403)
    if page.status_code == 200:
        assert page.context["suggestions"] == [] and "怎么申请退款" not in page.content.decode()
    outsider.post(
        GAPS, {"merchant": acme.pk, "action": "accept_suggestion", "question_ids": [gap.pk]}
    )
    # Charlie's own merchant scope: an Acme question id is not his to accept.
    assert (
        services.gap_accept_suggestions(merchant_id=charlie.merchant_id, question_ids=[gap.pk]) == 0
    )
    refund.refresh_from_db()
    gap.refresh_from_db()
    assert refund.similar_questions == "" and gap.resolved_faq is None


def test_suggestions_are_escaped_and_cost_the_same_for_3_and_25(as_alice, acme, refund):
    counts = []
    for total in (3, 25):
        have = UnansweredQuestion.objects.filter(suggested_faq__isnull=False).count()
        for _ in range(total - have):
            conversation_id, _gap = conversation_with_gap(acme, XSS)
            services.gap_suggest_from_reply(
                merchant_id=acme.pk, conversation_id=conversation_id, text=REPLY
            )
        with CaptureQueriesContext(connection) as queries:
            page = as_alice.get(GAPS)
        counts.append(len(queries))
        html = page.content.decode()
        assert "<script>window.__xss" not in html and "&lt;script&gt;" in html
    assert counts[0] == counts[1], counts
    assert len(page.context["suggestions"]) == 25


def test_an_entry_deleted_meanwhile_leaves_nothing_to_accept(acme, refund):
    conversation_id, gap = conversation_with_gap(acme, "钱怎么要回来")
    services.gap_suggest_from_reply(
        merchant_id=acme.pk, conversation_id=conversation_id, text=REPLY
    )
    Faq.objects.filter(pk=refund.pk).delete()
    gap.refresh_from_db()
    assert gap.suggested_faq is None  # back among the unanswered groups
    assert services.gap_accept_suggestions(merchant_id=acme.pk, question_ids=[gap.pk]) == 0
