"""/api/v1/webhooks/: create (the secret shown once), list, change, delete, the delivery log and
redelivery; for tokens and owners/admins only; charlie gets nothing of Acme's; bad input is a
400 with field errors; the lists' query counts are pinned."""

from __future__ import annotations

import pytest

from conversations.models import ConversationEvent
from merchants.models import Merchant
from tests import factories
from tests.conversations.conftest import session_client, token_client
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint

Kind = ConversationEvent.Kind


@pytest.fixture
def token(acme):
    return token_client(factories.api_token(acme, name="集成"))


@pytest.fixture
def charlie_token(other):
    return token_client(factories.api_token(other, name="outsider"))


def create(client, **body):
    body = {"url": "https://hooks.example.com/kefu", "events": ["conversation.created"], **body}
    return client.post("/api/v1/webhooks/", body, format="json")


def test_create_shows_the_secret_once_and_keeps_the_merchants_kinds(token, acme):
    response = create(token, events=["message.created", "conversation.resolved"])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    assert body["events"] == ["conversation.resolved", "message.created"]
    assert WebhookEndpoint.objects.get(pk=body["id"]).secret == body["secret"]
    listed = token.get("/api/v1/webhooks/").json()
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    assert "secret" not in token.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert set(Merchant.objects.get(pk=acme.pk).webhook_kinds.split(",")) == {
        "conversation.resolved",
        "message.created",
    }


def test_change_and_delete(token, acme):
    endpoint_id = create(token).json()["id"]
    response = token.patch(f"/api/v1/webhooks/{endpoint_id}/", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert Merchant.objects.get(pk=acme.pk).webhook_kinds == ""
    assert token.delete(f"/api/v1/webhooks/{endpoint_id}/").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=endpoint_id).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "http://169.254.169.254/"}, "url"),
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": 42}, "url"),
        ({"events": []}, "events"),
        ({"events": ["conversation.exploded"]}, "events"),
        ({"events": "conversation.created"}, "events"),
        ({"description": "x" * 201}, "description"),
    ],
)
def test_bad_input_is_a_400_with_field_errors(token, body, field):
    response = create(token, **body)
    assert response.status_code == 400
    assert field in response.json()
    assert not WebhookEndpoint.objects.exists()


def test_agents_may_not_manage_webhooks_owners_may(acme, alice, bob):
    assert create(session_client(bob)).status_code == 403
    assert session_client(bob).get("/api/v1/webhooks/").status_code == 403
    assert create(session_client(alice)).status_code == 201


def test_charlie_gets_nothing_of_acmes(token, charlie_token, charlie, acme):
    endpoint_id = create(token).json()["id"]
    factories.visitor_message(factories.visitor(acme))
    (delivery_id,) = services.fanout(merchant_id=acme.pk)
    for client in (charlie_token, session_client(charlie)):
        assert client.get("/api/v1/webhooks/").json() == []
        assert client.get(f"/api/v1/webhooks/{endpoint_id}/").status_code == 404
        assert (
            client.patch(
                f"/api/v1/webhooks/{endpoint_id}/", {"is_active": False}, format="json"
            ).status_code
            == 404
        )
        assert client.delete(f"/api/v1/webhooks/{endpoint_id}/").status_code == 404
        assert client.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/").status_code == 404
        assert (
            client.post(f"/api/v1/webhook-deliveries/{delivery_id}/redeliver/").status_code == 404
        )
    assert WebhookEndpoint.objects.get(pk=endpoint_id).is_active


def test_delivery_log_and_redeliver(token, acme):
    endpoint_id = create(token).json()["id"]
    for _ in range(3):
        factories.visitor_message(factories.visitor(acme))
    services.fanout(merchant_id=acme.pk)
    page = token.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/", {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    first = page["results"][0]
    assert first["status"] == "pending" and first["kind"] == "conversation.created"
    assert first["idempotency_key"] == f"{first['event_id']}-{endpoint_id}"
    WebhookDelivery.objects.filter(pk=first["id"]).update(status="failed")
    response = token.post(f"/api/v1/webhook-deliveries/{first['id']}/redeliver/")
    assert response.status_code == 202 and response.json()["status"] == "pending"


@pytest.mark.parametrize("rows", [1, 5])
def test_list_query_counts_are_pinned(token, acme, rows, django_assert_num_queries):
    endpoint_id = None
    for i in range(rows):
        endpoint_id = create(token, url=f"https://hooks.example.com/{i}").json()["id"]
    for _ in range(rows):
        factories.visitor_message(factories.visitor(acme))
    services.fanout(merchant_id=acme.pk)
    token.get("/api/v1/webhooks/")  # warm-up: the token's last_used_at write
    with django_assert_num_queries(2):  # the token, the rows
        assert len(token.get("/api/v1/webhooks/").json()) == rows
    with django_assert_num_queries(3):  # the token, the endpoint (404 scope), the page
        results = token.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/").json()["results"]
    assert len(results) == rows
