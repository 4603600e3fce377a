"""Rotating an endpoint's signing secret (API and back office): the new secret is shown once;
during the grace period every delivery carries two signatures, so a receiver still holding the
old secret and one already on the new one both accept it; after the grace only the new secret
signs and the old one is refused, and forgotten by the sweep. Audited; charlie rotates nothing
of Acme's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from conversations.models import ConversationEvent
from merchants import audit
from merchants.models import AuditEntry
from tests import factories
from tests.conversations.conftest import session_client, token_client
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint

Kind = ConversationEvent.Kind
Status = WebhookDelivery.Status


def rotate_url(endpoint) -> str:
    return f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/"


@pytest.fixture
def hook(acme):
    return services.endpoint_create(
        merchant_id=acme.pk, url="https://hooks.example.com/acme", events=[Kind.MESSAGE_CREATED]
    )


@pytest.fixture
def token(acme):
    return token_client(factories.api_token(acme, name="集成"))


def deliver_one(merchant, text: str):
    """A visitor message, fanned out and delivered now; the receiver's verdict on it."""
    factories.visitor_message(factories.visitor(merchant), text)
    services.fanout(merchant_id=merchant.pk)
    pending = WebhookDelivery.objects.filter(merchant=merchant, status=Status.PENDING)
    return [services.deliver(delivery_id=d.pk) for d in pending.order_by("id")]


def test_the_api_rotates_the_secret_and_shows_the_new_one_once(token, acme, hook, settings):
    settings.WEBHOOK_SECRET_GRACE_HOURS = 24
    old = hook.secret
    response = token.post(rotate_url(hook))
    assert response.status_code == 200, response.json()
    data = response.json()
    hook.refresh_from_db()
    assert data["secret"] == hook.secret != old and hook.secret.startswith("whsec_")
    assert hook.previous_secret == old
    until = hook.previous_secret_expires_at
    assert timedelta(hours=23, minutes=59) < until - timezone.now() <= timedelta(hours=24)
    assert data["previous_secret_valid_until"].endswith("Z")
    # Never shown again: neither the endpoint nor the list carries a secret.
    for shown in (token.get(f"/api/v1/webhooks/{hook.pk}/"), token.get("/api/v1/webhooks/")):
        assert hook.secret not in shown.content.decode() and old not in shown.content.decode()
    entry = AuditEntry.objects.get(merchant=acme, action=audit.WEBHOOK_SECRET_ROTATED)
    assert entry.actor_label.startswith("API token 集成")
    assert f"#{hook.pk}" in entry.target
    assert old not in str(entry.detail) and hook.secret not in str(entry.detail)


def test_both_secrets_sign_during_the_grace_and_only_the_new_one_after(acme, receiver):
    hook = services.endpoint_create(
        merchant_id=acme.pk, url=receiver.url, events=[Kind.MESSAGE_CREATED]
    )
    old = hook.secret
    receiver.secret = old
    assert deliver_one(acme, "轮换之前") == [Status.SUCCEEDED]
    assert receiver.requests[-1]["signed"] and receiver.requests[-1]["signatures"] == 1

    new = services.endpoint_secret_rotate(merchant_id=acme.pk, endpoint_id=hook.pk).secret
    # Within the grace: a receiver still on the old secret accepts the delivery...
    assert deliver_one(acme, "宽限期内，旧密钥") == [Status.SUCCEEDED]
    assert receiver.requests[-1]["signed"] and receiver.requests[-1]["signatures"] == 2
    header = receiver.requests[-1]["headers"]["X-Kefu-Signature"]
    assert header.count("v1=") == 2
    # ... and so does one that has switched to the new one (its signature comes first).
    receiver.secret = new
    assert deliver_one(acme, "宽限期内，新密钥") == [Status.SUCCEEDED]
    assert receiver.requests[-1]["signed"]
    first = receiver.requests[-1]["headers"]["X-Kefu-Signature"].split(",")[0]
    assert first == services.sign(
        new,
        receiver.requests[-1]["headers"]["X-Kefu-Timestamp"],
        receiver.requests[-1]["raw"],
    )

    # The grace is over: one signature, with the new secret only.
    WebhookEndpoint.objects.filter(pk=hook.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert deliver_one(acme, "宽限期后，新密钥") == [Status.SUCCEEDED]
    assert receiver.requests[-1]["signed"] and receiver.requests[-1]["signatures"] == 1
    receiver.secret = old
    deliver_one(acme, "宽限期后，旧密钥")
    assert not receiver.requests[-1]["signed"]  # the old secret's receiver refuses it
    # The sweep forgets the old secret.
    services.sweep()
    hook.refresh_from_db()
    assert (hook.previous_secret, hook.previous_secret_expires_at) == ("", None)


def test_rotating_again_within_the_grace_keeps_only_the_secret_just_replaced(acme, hook):
    first = hook.secret
    second = services.endpoint_secret_rotate(merchant_id=acme.pk, endpoint_id=hook.pk).secret
    third = services.endpoint_secret_rotate(merchant_id=acme.pk, endpoint_id=hook.pk)
    assert third.signing_secrets(timezone.now()) == [third.secret, second]
    assert first not in third.signing_secrets(timezone.now())


def test_charlie_and_agents_rotate_nothing_of_acmes(acme, other, hook, bob, charlie):
    before = hook.secret
    for client, status in (
        (token_client(factories.api_token(other)), 404),
        (session_client(charlie), 404),
        (session_client(charlie, acme.pk), 403),  # not a member of Acme
        (session_client(bob), 403),  # an agent: webhooks are for owners and admins
    ):
        response = client.post(rotate_url(hook))
        assert response.status_code == status, (client, response.content)
        assert before not in response.content.decode()
    hook.refresh_from_db()
    assert hook.secret == before and hook.previous_secret == ""
    assert not AuditEntry.objects.filter(action=audit.WEBHOOK_SECRET_ROTATED).exists()
    # A read-only token may not rotate either.
    from merchants.models import ApiToken

    read_only = token_client(factories.api_token(acme, scope=ApiToken.Scope.READ_ONLY))
    assert read_only.post(rotate_url(hook)).status_code == 403


def admin_rotate(client, *endpoints):
    return client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "rotate_secret", "_selected_action": [e.pk for e in endpoints]},
    )


def test_the_owner_rotates_in_the_back_office_and_sees_the_secret_once(client, acme, alice, hook):
    client.force_login(alice.user)
    old = hook.secret
    response = admin_rotate(client, hook)
    assert response.status_code == 302
    hook.refresh_from_db()
    assert hook.secret != old and hook.previous_secret == old
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(hook.secret in m and hook.url in m for m in shown)
    # The page after the action shows it; no page after that does.
    assert hook.secret in client.get(response.url).content.decode()
    page = client.get(reverse("admin:webhooks_webhookendpoint_change", args=[hook.pk]))
    assert hook.secret not in page.content.decode() and old not in page.content.decode()
    assert "previous_secret_expires_at" in page.content.decode()  # the grace is shown
    entry = AuditEntry.objects.get(merchant=acme, action=audit.WEBHOOK_SECRET_ROTATED)
    assert entry.actor_id == alice.user_id


def test_charlie_cannot_rotate_acmes_in_the_back_office(client, acme, other, charlie, hook):
    mine = services.endpoint_create(
        merchant_id=other.pk, url="https://hooks.example.com/other", events=[Kind.RATED]
    )
    client.force_login(charlie.user)
    before = hook.secret
    response = admin_rotate(client, hook, mine)
    assert response.status_code == 302
    hook.refresh_from_db()
    assert hook.secret == before  # not in his queryset: untouched
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert before not in shown and hook.url not in shown
    mine.refresh_from_db()
    assert mine.previous_secret  # his own one was rotated
    assert list(
        AuditEntry.objects.filter(action=audit.WEBHOOK_SECRET_ROTATED).values_list(
            "merchant_id", flat=True
        )
    ) == [other.pk]
