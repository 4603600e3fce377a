"""The webhook pages of the back office in Chromium: an owner adds an endpoint and sees its
secret once, then reads a delivery's attempt log (response excerpts are receiver text, shown
literally). Screenshots go to KEFU_SHOTS_DIR when it is set."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from conversations.models import ConversationEvent
from merchants.models import Membership
from tests import factories
from webhooks import services
from webhooks.models import WebhookEndpoint

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
HOSTILE = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def owner(transactional_db):
    acme = factories.merchant("Acme")
    factories.member(acme, "alice", Membership.Role.OWNER, is_staff=True, password="pw-alice-1")
    return acme


@pytest.fixture
def failed_delivery(owner, receiver):
    """A delivery whose receiver answered 500 with markup in its body. Made before the
    `browser` fixture starts Playwright's event loop in this thread, so the services'
    after-commit work runs as in production."""
    endpoint = services.endpoint_create(
        merchant_id=owner.pk,
        url=receiver.url,
        events=[ConversationEvent.Kind.CONVERSATION_CREATED],
    )
    receiver.secret = endpoint.secret
    receiver.statuses = [500]
    receiver.error_body = HOSTILE.encode()
    factories.visitor_message(factories.visitor(owner, name="张三"), "你好")
    (delivery_id,) = services.fanout(merchant_id=owner.pk)
    services.deliver(delivery_id=delivery_id)
    return delivery_id


def shot(page, name):
    folder = os.environ.get("KEFU_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.live
def test_owner_adds_an_endpoint_and_reads_the_log(daphne_server, owner, failed_delivery, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(daphne_server.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-1")
    page.click("input[type=submit]")
    page.wait_for_url(daphne_server.url + "/admin/")

    page.goto(daphne_server.url + reverse("admin:webhooks_webhookendpoint_add"))
    page.fill("#id_url", "https://crm.example.com/kefu/hooks")
    page.fill("#id_description", "CRM")
    page.check("input[value='conversation.created']")
    page.check("input[value='message.created']")
    shot(page, "webhook-endpoint-add")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    endpoint = WebhookEndpoint.objects.get(merchant=owner, description="CRM")
    assert endpoint.secret in page.inner_text(".messagelist")
    shot(page, "webhook-endpoint-secret-once")
    page.reload()
    assert endpoint.secret not in page.content()

    page.goto(daphne_server.url + reverse("admin:webhooks_webhookdelivery_changelist"))
    listed = page.inner_text("#result_list")  # headless Chromium asks for English
    assert "Conversation created" in listed and "500" in listed
    shot(page, "webhook-deliveries")
    page.goto(
        daphne_server.url + reverse("admin:webhooks_webhookdelivery_change", args=[failed_delivery])
    )
    text = page.inner_text("body")
    assert HOSTILE in text  # shown as text
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img[src=x]").count() == 0
    shot(page, "webhook-delivery-attempts")


@pytest.mark.browser
@pytest.mark.live
def test_owner_rotates_the_secret_and_sees_the_new_one_once(daphne_server, owner, browser):
    endpoint = services.endpoint_create(
        merchant_id=owner.pk,
        url="https://crm.example.com/kefu/hooks",
        events=[ConversationEvent.Kind.CONVERSATION_CREATED],
    )
    old = endpoint.secret
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(daphne_server.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-1")
    page.click("input[type=submit]")
    page.wait_for_url(daphne_server.url + "/admin/")

    page.goto(daphne_server.url + reverse("admin:webhooks_webhookendpoint_changelist"))
    page.check(f"input[name=_selected_action][value='{endpoint.pk}']")
    page.select_option("select[name=action]", "rotate_secret")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    endpoint.refresh_from_db()
    message = page.inner_text(".messagelist")
    assert endpoint.secret != old and endpoint.secret in message and old not in message
    shot(page, "webhook-secret-rotated")
    page.reload()
    assert endpoint.secret not in page.content()
    page.goto(
        daphne_server.url + reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])
    )
    assert page.locator(".field-previous_secret_expires_at").count() == 1
    shot(page, "webhook-endpoint-old-secret-valid-until")
