"""Who may call what: charlie (owner of another merchant) never reaches acme's rows, by token or
by session, and nothing is written on his behalf; missing or revoked credentials are 401."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from conversations.models import Conversation, Message, Visitor
from merchants.models import ApiToken, Membership, Merchant
from tests import factories

from .conftest import session_client, token_client

LISTS = ["/api/v1/conversations/", "/api/v1/visitors/", "/api/v1/canned-responses/"]


@pytest.fixture
def acme_rows(acme, bob, conversation, visitor):
    factories.agent_message(bob, conversation.pk, "内部", private=True)
    factories.canned(acme, "hello", "您好！")
    return conversation


@pytest.fixture
def other_rows(other, charlie):
    """Charlie's own merchant has data too, so 'sees nothing of acme' is not 'sees nothing'."""
    visitor = factories.visitor(other, name="Other 访客")
    conversation = factories.visitor_message(visitor, "hi").conversation
    factories.canned(other, "bye", "再见")
    return conversation


def object_requests(conversation, visitor):
    c, v = conversation.pk, visitor.pk
    return [
        ("get", f"/api/v1/conversations/{c}/", None),
        ("get", f"/api/v1/conversations/{c}/messages/", None),
        ("post", f"/api/v1/conversations/{c}/messages/", {"body": "越权", "client_msg_id": "x-1"}),
        ("post", f"/api/v1/conversations/{c}/messages/", {"body": "越权", "private": True}),
        ("get", f"/api/v1/visitors/{v}/", None),
    ]


def snapshot():
    """Everything a stray write could touch."""
    return (
        list(Message.objects.order_by("pk").values_list("pk", "conversation_id", "body")),
        list(Conversation.objects.order_by("pk").values()),
        list(Visitor.objects.order_by("pk").values()),
    )


def _call(client, method, path, data):
    call = getattr(client, method)
    return call(path, data, format="json") if data else call(path)


@pytest.mark.parametrize(
    "who, expected",
    [("charlie_token", 404), ("charlie_session_own_merchant", 404), ("charlie_session_acme", 403)],
)
def test_other_merchant_cannot_reach_acme_objects(
    who, expected, acme, other, charlie, acme_rows, other_rows, visitor
):
    client = {
        "charlie_token": lambda: token_client(factories.api_token(other)),
        "charlie_session_own_merchant": lambda: session_client(charlie),
        "charlie_session_acme": lambda: session_client(charlie, merchant_id=acme.pk),
    }[who]()
    before = snapshot()

    for method, path, data in object_requests(acme_rows, visitor):
        response = _call(client, method, path, data)
        assert response.status_code == expected, (method, path, response.content)
        assert "越权" not in response.content.decode()
        assert "张三" not in response.content.decode()

    assert snapshot() == before


def test_other_merchant_lists_hold_none_of_acme(acme, other, acme_rows, other_rows, visitor):
    client = token_client(factories.api_token(other))

    conversations = client.get("/api/v1/conversations/").json()["results"]
    assert [c["id"] for c in conversations] == [other_rows.pk]
    visitors = client.get("/api/v1/visitors/").json()["results"]
    assert [v["id"] for v in visitors] == [other_rows.visitor_id]
    canned = client.get("/api/v1/canned-responses/").json()
    assert [c["shortcut"] for c in canned] == ["bye"]
    for status in ("open", "resolved"):
        page = client.get("/api/v1/conversations/", {"status": status}).json()
        assert acme_rows.pk not in [c["id"] for c in page["results"]]


def test_acme_sees_its_rows_and_not_others(token, acme_rows, other_rows):
    conversations = token.get("/api/v1/conversations/").json()["results"]
    assert [c["id"] for c in conversations] == [acme_rows.pk]
    assert [c["shortcut"] for c in token.get("/api/v1/canned-responses/").json()] == ["hello"]
    response = token.get(f"/api/v1/conversations/{other_rows.pk}/messages/")
    assert response.status_code == 404


def test_cursor_from_another_merchant_shows_nothing_of_it(
    acme, other, acme_rows, other_rows, token
):
    """A cursor is a position, not a grant: replayed by acme it still filters by acme."""
    charlie = token_client(factories.api_token(other))
    factories.visitor_message(factories.visitor(other), "second")
    link = charlie.get("/api/v1/conversations/?page_size=1").json()["next"]
    assert link
    for item in token.get(link).json()["results"]:
        assert Conversation.objects.get(pk=item["id"]).merchant_id == acme.pk


def all_requests(conversation, visitor):
    return [("get", path, None) for path in LISTS] + object_requests(conversation, visitor)


def test_no_credentials_is_401_everywhere(acme_rows, visitor):
    before = snapshot()
    for method, path, data in all_requests(acme_rows, visitor):
        response = _call(APIClient(), method, path, data)
        assert response.status_code == 401, (method, path)
        assert response["WWW-Authenticate"] == "Bearer"
    assert snapshot() == before


@pytest.mark.parametrize("how", ["revoked", "unknown", "merchant_disabled", "malformed_header"])
def test_bad_token_is_401_everywhere(how, acme, acme_rows, visitor, acme_token):
    client = token_client(acme_token)
    if how == "revoked":
        ApiToken.objects.filter(merchant=acme).update(is_active=False)
    elif how == "unknown":
        client = token_client("kf_" + "x" * 40)
    elif how == "merchant_disabled":
        Merchant.objects.filter(pk=acme.pk).update(is_active=False)
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_token} extra")
    before = snapshot()

    for method, path, data in all_requests(acme_rows, visitor):
        response = _call(client, method, path, data)
        assert response.status_code == 401, (how, method, path, response.content)

    assert snapshot() == before


def test_session_needs_the_merchant_header(bob, acme_rows, visitor):
    client = APIClient()
    client.force_login(bob.user)
    for header in (None, "", "abc", "-1", str(acme_rows.merchant_id) + "0"):
        if header is not None:
            client.credentials(HTTP_X_KEFU_MERCHANT=header)
        for method, path, data in all_requests(acme_rows, visitor):
            assert _call(client, method, path, data).status_code == 403, (header, method, path)


def test_deactivated_membership_loses_access(bob, bob_session, acme_rows):
    assert bob_session.get("/api/v1/conversations/").status_code == 200
    Membership.objects.filter(pk=bob.pk).update(is_active=False)
    assert bob_session.get("/api/v1/conversations/").status_code == 403


def test_session_writes_need_the_csrf_token_tokens_do_not(bob, acme_rows, acme_token):
    path = f"/api/v1/conversations/{acme_rows.pk}/messages/"
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(bob.user)
    browser.credentials(HTTP_X_KEFU_MERCHANT=str(bob.merchant_id))

    refused = browser.post(path, {"body": "跨站"}, format="json")
    assert refused.status_code == 403
    assert not Message.objects.filter(body="跨站").exists()

    integration = APIClient(enforce_csrf_checks=True)
    integration.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_token}")
    assert integration.post(path, {"body": "集成"}, format="json").status_code == 201
