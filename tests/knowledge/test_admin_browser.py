"""The import progress page and the gap report in a real browser: progress is polled and shown,
error messages (which can quote file content) and visitor questions stay text."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from knowledge import importers, services
from knowledge.models import ImportJob
from merchants.models import Membership
from tests import factories

XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def setup(transactional_db):
    acme = factories.merchant("Acme")
    factories.member(acme, "alice", Membership.Role.OWNER, is_staff=True, password="pw-alice-1")
    slots = json.dumps([{"name": "n", "prompt": "p", XSS: 1}])
    data = f'name,examples,slots\nok,例句,\nbad,例句,"{slots.replace(chr(34), chr(34) * 2)}"\n'.encode()
    job = ImportJob.objects.create(
        merchant=acme, kind="intents", fmt="csv", filename="x.csv", data=data
    )
    services.unanswered_question_record(merchant_id=acme.pk, text=XSS + " 发票怎么开", confidence=0)
    return acme, job


def login(page, base):
    page.goto(base + "/admin/login/?next=/admin/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-1")
    page.click("input[type=submit]")
    page.wait_for_url(base + "/admin/")


@pytest.mark.browser
@pytest.mark.live
def test_progress_page_follows_the_job_and_shows_errors_as_text(daphne_server, setup, browser):
    acme, job = setup
    page = browser.new_page()
    login(page, daphne_server.url)
    page.goto(daphne_server.url + reverse("admin:knowledge_importjob_progress", args=[job.pk]))
    expect(page.locator(".kb-status")).to_have_text(re.compile(r"\S"))

    importers.kb_import_job_run(job_id=job.pk)  # what the worker does; the page polls

    page.wait_for_selector(".kb-errors:not([hidden]) tbody tr", timeout=15000)
    cells = page.locator(".kb-errors tbody tr td").all_inner_texts()
    assert cells[0] == "3" and cells[1] == "slots"
    assert XSS in cells[2]  # the unknown key, quoted as text
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img[src=x]").count() == 0
    assert page.inner_text(".kb-status") in ("Failed", "失败")

    page.goto(daphne_server.url + reverse("admin:knowledge_unansweredquestion_changelist"))
    assert XSS in page.inner_text(".kb-representative")
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img[src=x]").count() == 0
