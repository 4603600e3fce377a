"""The back office's webhook pages: an owner adds an endpoint (the secret shown once), sees the
delivery log with every attempt and redelivers; charlie sees nothing of Acme's and cannot
redeliver it; a private URL is a form error."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from conversations.models import ConversationEvent
from merchants.models import Merchant
from tests import factories
from webhooks import http, services
from webhooks.models import WebhookDelivery, WebhookEndpoint

Kind = ConversationEvent.Kind


def url(model, view="changelist", *args):
    return reverse(f"admin:webhooks_{model}_{view}", args=args)


@pytest.fixture
def acme_hook(acme):
    return services.endpoint_create(
        merchant_id=acme.pk,
        url="https://hooks.example.com/acme",
        events=[Kind.CONVERSATION_CREATED],
    )


@pytest.fixture
def other_hook(other):
    return services.endpoint_create(
        merchant_id=other.pk,
        url="https://hooks.example.com/other",
        events=[Kind.CONVERSATION_CREATED],
    )


def test_owner_adds_an_endpoint_and_sees_the_secret_once(client, acme, alice):
    client.force_login(alice.user)
    response = client.post(
        url("webhookendpoint", "add"),
        {
            "url": "https://crm.example.com/hooks",
            "description": "CRM",
            "events": [Kind.CONVERSATION_CREATED, Kind.MESSAGE_CREATED],
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    endpoint = WebhookEndpoint.objects.get(merchant=acme)
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(endpoint.secret in m for m in shown)
    # The page after saving shows it; no page after that does.
    assert endpoint.secret in client.get(response.url).content.decode()
    assert set(Merchant.objects.get(pk=acme.pk).webhook_kinds.split(",")) == {
        Kind.CONVERSATION_CREATED,
        Kind.MESSAGE_CREATED,
    }
    page = client.get(url("webhookendpoint", "change", endpoint.pk))
    assert page.status_code == 200 and endpoint.secret not in page.content.decode()


def test_a_private_url_is_a_form_error(client, acme, alice):
    client.force_login(alice.user)
    response = client.post(
        url("webhookendpoint", "add"),
        {"url": "http://169.254.169.254/latest", "events": [Kind.CONVERSATION_CREATED]},
    )
    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    assert not WebhookEndpoint.objects.exists()


def test_each_owner_lists_only_their_endpoints_and_deliveries(
    client, acme, alice, charlie, acme_hook, other_hook
):
    factories.visitor_message(factories.visitor(acme))
    services.fanout(merchant_id=acme.pk)
    client.force_login(alice.user)
    assert list(client.get(url("webhookendpoint")).context["cl"].result_list) == [acme_hook]
    assert len(client.get(url("webhookdelivery")).context["cl"].result_list) == 1
    client.force_login(charlie.user)
    assert list(client.get(url("webhookendpoint")).context["cl"].result_list) == [other_hook]
    assert list(client.get(url("webhookdelivery")).context["cl"].result_list) == []
    delivery = WebhookDelivery.objects.get(merchant=acme)
    for page in (
        url("webhookendpoint", "change", acme_hook.pk),
        url("webhookdelivery", "change", delivery.pk),
    ):
        assert client.get(page).status_code == 302  # "does not exist" redirect


def test_the_delivery_page_shows_the_attempt_log_and_redeliver_works(
    client, acme, alice, charlie, acme_hook, monkeypatch
):
    def refused(*args, **kwargs):
        raise OSError("connection refused by the test")

    monkeypatch.setattr(http, "post", refused)
    factories.visitor_message(factories.visitor(acme))
    (delivery_id,) = services.fanout(merchant_id=acme.pk)
    services.deliver(delivery_id=delivery_id)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.attempts == 1
    client.force_login(alice.user)
    page = client.get(url("webhookdelivery", "change", delivery_id)).content.decode()
    assert delivery.idempotency_key in page and "connection refused by the test" in page

    # charlie's crafted action on Acme's delivery changes nothing
    client.force_login(charlie.user)
    client.post(url("webhookdelivery"), {"action": "redeliver", "_selected_action": [delivery_id]})
    assert WebhookDelivery.objects.get(pk=delivery_id).next_attempt_at == delivery.next_attempt_at

    client.force_login(alice.user)
    response = client.post(
        url("webhookdelivery"), {"action": "redeliver", "_selected_action": [delivery_id]}
    )
    assert response.status_code == 302
    after = WebhookDelivery.objects.get(pk=delivery_id)
    assert after.status == "pending" and after.next_attempt_at < delivery.next_attempt_at


def test_agents_get_no_access(client, bob, acme_hook):
    bob.user.is_staff = True
    bob.user.save()
    client.force_login(bob.user)
    assert client.get(url("webhookendpoint")).status_code == 403
    assert client.get(url("webhookdelivery")).status_code == 403
