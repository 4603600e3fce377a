"""The knowledge-gap view's "learnt from agents" section in a real browser: the visitor's wording
stays text, and one click adds it to the suggested entry's similar questions."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse

from knowledge import services
from knowledge.models import Faq
from merchants.models import Membership
from tests import factories

XSS = '<img src=x onerror="window.__xss=1"> 钱怎么要回来'


@pytest.fixture
def setup(transactional_db):
    acme = factories.merchant("Acme")
    factories.member(acme, "alice", Membership.Role.OWNER, is_staff=True, password="pw-alice-1")
    faq = services.faq_create(
        merchant_id=acme.pk,
        question="怎么申请退款",
        answer="请在订单页点击申请退款，1-3 个工作日到账。",
    )
    message = factories.visitor_message(factories.visitor(acme), XSS)
    services.unanswered_question_record(
        merchant_id=acme.pk, text=XSS, confidence=0.2, conversation_id=message.conversation_id
    )
    services.unanswered_question_record(merchant_id=acme.pk, text="发票怎么开", confidence=0.1)
    services.gap_suggest_from_reply(
        merchant_id=acme.pk,
        conversation_id=message.conversation_id,
        text="您好，请在订单页点击申请退款，1-3 个工作日到账。",
    )
    return acme, faq


@pytest.mark.browser
@pytest.mark.live
def test_one_click_accepts_a_suggestion(daphne_server, setup, browser):
    acme, faq = setup
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(daphne_server.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-1")
    page.click("input[type=submit]")
    page.wait_for_url(daphne_server.url + "/admin/")
    page.goto(daphne_server.url + reverse("admin:knowledge_unansweredquestion_changelist"))
    assert page.inner_text(".kb-suggestion-text") == XSS
    assert page.inner_text(".kb-suggestion-faq") == "怎么申请退款"
    assert page.evaluate("typeof window.__xss") == "undefined"
    # The other question stays among the unanswered groups.
    assert page.inner_text(".kb-representative") == "发票怎么开"
    if os.environ.get("KEFU_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["KEFU_SHOTS"], "gap-suggestions.png"))
    page.click(".kb-suggestion button[value=accept_suggestion]")
    page.wait_for_selector(".messagelist")
    assert page.locator(".kb-suggestion").count() == 0
    assert Faq.objects.get(pk=faq.pk).similar_questions == XSS
