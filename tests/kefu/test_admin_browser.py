"""Visitor-supplied text in the back office, in a real browser: shown literally, never run."""

import os

import pytest
from django.urls import reverse

from merchants.models import Membership
from tests import factories

# Playwright's sync API runs an event loop in this thread; the ORM calls around it are fine.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"


@pytest.fixture
def hostile_visitor(transactional_db):
    # Created before the `browser` fixture starts Playwright's event loop in this thread, so the
    # services' after-commit publishing runs as it does in production.
    acme = factories.merchant("Acme")
    factories.member(acme, "alice", Membership.Role.OWNER, is_staff=True, password="pw-alice-1")
    visitor = factories.visitor(acme, name=IMG, page_title=SCRIPT, page_url="https://shop.example/")
    message = factories.visitor_message(visitor, f"{IMG} and {SCRIPT}")
    return visitor, message


@pytest.mark.browser
@pytest.mark.live
def test_xss_payloads_render_as_text_in_admin(daphne_server, hostile_visitor, browser):
    visitor, message = hostile_visitor

    page = browser.new_page()
    page.goto(daphne_server.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-1")
    page.click("input[type=submit]")
    page.wait_for_url(daphne_server.url + "/admin/")

    pages = [
        reverse("admin:conversations_visitor_changelist"),
        reverse("admin:conversations_visitor_change", args=[visitor.pk]),
        reverse("admin:conversations_conversation_changelist"),
        reverse("admin:conversations_conversation_change", args=[message.conversation_id]),
        reverse("admin:conversations_message_changelist"),
        reverse("admin:conversations_message_change", args=[message.pk]),
    ]
    for path in pages:
        response = page.goto(daphne_server.url + path)
        assert response.status == 200, path
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", path
        assert page.locator("img[src=x]").count() == 0, path
        text = page.inner_text("body")
        assert IMG in text or SCRIPT in text, path
    # The visitor page shows both payloads, the conversation page the whole message, literally.
    page.goto(daphne_server.url + pages[1])
    text = page.inner_text("body")
    assert IMG in text and SCRIPT in text
    page.goto(daphne_server.url + pages[3])
    assert f"{IMG} and {SCRIPT}" in page.inner_text("body")
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.close()
