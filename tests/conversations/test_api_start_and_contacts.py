"""POST /api/v1/conversations/ (outbound, or on behalf of a visitor) and PATCH
/api/v1/visitors/<id>/ (contact fields, custom attributes, visitor.identified): results,
idempotency, events, bad input as field errors, and charlie changes nothing of Acme's."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, ConversationEvent, Message, Visitor
from merchants.models import ApiToken
from tests import factories
from tests.conversations.conftest import session_client, token_client

Kind = ConversationEvent.Kind


def start(client, **body):
    return client.post("/api/v1/conversations/", body, format="json")


def test_outbound_with_a_token_starts_an_unassigned_api_conversation(token, acme, visitor):
    response = start(token, visitor_id=visitor.pk, body="您的订单已发货")
    assert response.status_code == 201, response.json()
    data = response.json()
    conversation = Conversation.objects.get(pk=data["conversation"]["id"])
    assert conversation.source == "api" and conversation.assignee_id is None
    assert data["message"]["sender_kind"] == "agent" and data["message"]["seq"] == 1
    assert data["message"]["sender_name"] == "CRM 集成"
    created = ConversationEvent.objects.get(
        conversation=conversation, kind=Kind.CONVERSATION_CREATED
    )
    assert created.data["outbound"] is True
    # Again: the conversation is ongoing, the message goes there.
    again = start(token, visitor_id=visitor.pk, body="还有问题吗？")
    assert again.status_code == 200
    assert again.json()["conversation"]["id"] == conversation.pk
    assert again.json()["message"]["seq"] == 2


def test_outbound_as_an_agent_gives_them_the_conversation(token, bob, visitor):
    response = start(token, visitor_id=visitor.pk, body="您好", user_id=bob.user_id)
    assert response.status_code == 201
    assert response.json()["conversation"]["assignee_id"] == bob.user_id
    assert response.json()["message"]["sender_name"] == "Bob"
    by_session = start(
        session_client(bob), visitor_id=factories.visitor(bob.merchant).pk, body="hi"
    )
    assert by_session.status_code == 201
    assert by_session.json()["conversation"]["assignee_id"] == bob.user_id


def test_outbound_is_idempotent_by_client_msg_id(token, visitor):
    first = start(token, visitor_id=visitor.pk, body="通知", client_msg_id="crm-1")
    second = start(token, visitor_id=visitor.pk, body="通知", client_msg_id="crm-1")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["message"]["id"] == second.json()["message"]["id"]
    assert Message.objects.filter(conversation__visitor=visitor).count() == 1
    conflict = start(token, visitor_id=visitor.pk, body="别的", client_msg_id="crm-1")
    assert conflict.status_code == 400 and conflict.json()["code"] == "client_msg_id_conflict"


def test_a_resolved_conversation_is_not_reused_for_outbound(token, bob, visitor):
    conversation_id = start(token, visitor_id=visitor.pk, body="一").json()["conversation"]["id"]
    Conversation.objects.filter(pk=conversation_id).update(status="resolved")
    response = start(token, visitor_id=visitor.pk, body="二")
    assert response.status_code == 201
    assert response.json()["conversation"]["id"] != conversation_id


def test_inbound_is_the_visitors_message(token, visitor):
    response = start(token, visitor_id=visitor.pk, body="我想咨询", direction="inbound")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["message"]["sender_kind"] == "visitor"
    assert Conversation.objects.get(pk=data["conversation"]["id"]).source == "api"
    again = start(token, visitor_id=visitor.pk, body="在吗", direction="inbound")
    assert again.status_code == 200 and again.json()["message"]["seq"] == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"visitor_id": None}, "visitor_id"),
        ({"visitor_id": "x", "body": "hi"}, "visitor_id"),
        ({"visitor_id": 10**20, "body": "hi"}, "visitor_id"),
        ({"body": 5}, "body"),
        ({"direction": "sideways"}, "direction"),
        ({"direction": "inbound", "user_id": 1}, "user_id"),
        ({"user_id": 999999}, "user_id"),
        ({"client_msg_id": "空 格"}, "client_msg_id"),
    ],
)
def test_bad_input_is_a_field_error(token, visitor, body, field):
    response = start(token, **{"visitor_id": visitor.pk, "body": "hi", **body})
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert not Conversation.objects.exists()


def test_an_empty_body_is_refused_with_its_code(token, visitor):
    response = start(token, visitor_id=visitor.pk, body="   ")
    assert response.status_code == 400 and response.json()["code"] == "message_empty"


def test_charlie_cannot_start_one_with_acmes_visitor(visitor, charlie, other):
    for client in (token_client(factories.api_token(other)), session_client(charlie)):
        for direction in ("inbound", "outbound"):
            response = start(client, visitor_id=visitor.pk, body="hi", direction=direction)
            assert response.status_code == 400 and "visitor_id" in response.json()
    assert not Conversation.objects.exists()


def test_a_read_only_token_cannot_start_one(acme, visitor):
    client = token_client(factories.api_token(acme, scope=ApiToken.Scope.READ_ONLY))
    assert start(client, visitor_id=visitor.pk, body="hi").status_code == 403


# --- Visitors ---------------------------------------------------------------------------------


def patch(client, visitor, **body):
    return client.patch(f"/api/v1/visitors/{visitor.pk}/", body, format="json")


def test_update_contact_fields_and_merge_attributes(api, visitor):
    Visitor.objects.filter(pk=visitor.pk).update(attributes={"plan": "silver", "old": 1})
    response = patch(
        api,
        visitor,
        name="张三丰",
        phone="13800138000",
        attributes={"plan": "gold", "orders": 12, "old": None, "vip": True},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "张三丰"
    visitor.refresh_from_db()
    assert visitor.attributes == {"plan": "gold", "orders": 12, "vip": True}
    assert visitor.phone == "13800138000" and visitor.email == "zhang@example.com"  # untouched


def test_setting_an_external_id_records_visitor_identified(api, visitor):
    assert patch(api, visitor, external_id="u-10086").status_code == 200
    assert patch(api, visitor, external_id="u-10086").status_code == 200  # unchanged: no event
    events = ConversationEvent.objects.filter(kind=Kind.VISITOR_IDENTIFIED)
    assert [(e.visitor_id, e.conversation_id) for e in events] == [(visitor.pk, None)]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"name": "x" * 201}, "name"),
        ({"name": 5}, "name"),
        ({"attributes": "plan=gold"}, "attributes"),
        ({"attributes": {"bad key!": 1}}, "attributes"),
        ({"attributes": {"nested": {"a": 1}}}, "attributes"),
        ({"attributes": {"long": "x" * 501}}, "attributes"),
        ({"attributes": {f"k{i}": i for i in range(51)}}, "attributes"),
    ],
)
def test_bad_visitor_input_is_a_field_error(token, visitor, body, field):
    response = patch(token, visitor, **body)
    assert response.status_code == 400 and field in response.json()
    before = Visitor.objects.get(pk=visitor.pk)
    assert (before.name, before.attributes) == ("张三", {})


def test_charlie_cannot_change_acmes_visitor(visitor, charlie, other):
    for client in (token_client(factories.api_token(other)), session_client(charlie)):
        assert patch(client, visitor, name="hacked").status_code == 404
    assert Visitor.objects.get(pk=visitor.pk).name == "张三"
