"""The duplicate-entries page in a real browser: pairs side by side, one click merges a pair and
it leaves the page."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse

from knowledge import services, training
from knowledge.models import Faq
from merchants.models import Membership
from tests import factories
from tests.knowledge.test_duplicates import DISTINCT, DUPLICATES


@pytest.fixture
def setup(transactional_db):
    acme = factories.merchant("Acme")
    factories.member(acme, "alice", Membership.Role.OWNER, is_staff=True, password="pw-alice-1")
    for q in [*DISTINCT, *DUPLICATES]:
        services.faq_create(merchant_id=acme.pk, question=q, answer=f"<p>关于“{q}”的答案。</p>")
    training.kb_train(merchant_id=acme.pk)
    return acme


@pytest.mark.browser
@pytest.mark.live
def test_one_click_merges_a_pair(daphne_server, setup, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(daphne_server.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-1")
    page.click("input[type=submit]")
    page.wait_for_url(daphne_server.url + "/admin/")
    page.goto(daphne_server.url + reverse("admin:knowledge_faq_changelist"))
    page.click("a.kb-duplicates")
    rows = page.locator(".kb-duplicate")
    assert rows.count() >= 1
    first = rows.first.locator(".kb-duplicate-entry strong")
    keep, gone = first.nth(0).inner_text(), first.nth(1).inner_text()
    assert {keep, gone} in [{d, o} for d, o in DUPLICATES.items()]
    if os.environ.get("KEFU_SHOTS"):
        page.screenshot(
            path=os.path.join(os.environ["KEFU_SHOTS"], "duplicates.png"), full_page=True
        )
    count = rows.count()
    rows.first.locator("button[value=merge_second]").click()
    page.wait_for_selector(".messagelist")
    assert page.locator(".kb-duplicate").count() == count - 1
    merged = Faq.objects.get(question=gone)
    assert not merged.is_enabled
    assert gone in Faq.objects.get(question=keep).similar_questions.splitlines()
