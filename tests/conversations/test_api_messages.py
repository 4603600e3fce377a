"""GET and POST /api/v1/conversations/{id}/messages/."""

from __future__ import annotations

import pytest

from conversations import realtime
from conversations.models import Conversation, Message
from merchants.models import Membership
from tests import factories


def url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages/"


def _walk(client, link: str) -> list[dict]:
    items = []
    while link:
        body = client.get(link).json()
        items += body["results"]
        link = body["next"]
    return items


# --- Reading ------------------------------------------------------------------------------------


def test_list_is_the_socket_shape_and_includes_private_notes(api, conversation, alice):
    factories.agent_message(alice, conversation.pk, "内部备注", private=True)
    factories.agent_message(alice, conversation.pk, "您好")

    response = api.get(url(conversation))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    expected = [
        realtime.message_out(m).model_dump(mode="json")
        for m in Message.objects.filter(conversation=conversation).order_by("seq")
    ]
    assert body["results"] == expected
    # Her reply claimed it: the visitor's thread says she joined (seq 3, a system line).
    assert [m["seq"] for m in body["results"]] == [1, 2, 3, 4]
    assert [m["private"] for m in body["results"]] == [False, True, False, False]
    assert [m["kind"] for m in body["results"]] == ["text", "text", "event", "text"]
    assert body["results"][1]["sender_name"] == "Alice 客服"


def test_after_seq_and_paging_oldest_first(api, conversation, alice):
    for i in range(6):
        factories.agent_message(alice, conversation.pk, f"第 {i} 条")

    # seq 2 is "Alice joined" (her first reply claimed it), her messages 3 to 8.
    assert [m["seq"] for m in _walk(api, url(conversation) + "?page_size=2")] == list(range(1, 9))
    assert [m["seq"] for m in api.get(url(conversation), {"after_seq": 4}).json()["results"]] == [
        5,
        6,
        7,
        8,
    ]
    assert [m["seq"] for m in _walk(api, url(conversation) + "?after_seq=2&page_size=2")] == [
        3,
        4,
        5,
        6,
        7,
        8,
    ]
    assert api.get(url(conversation), {"after_seq": 8}).json()["results"] == []
    # Far beyond any seq (and beyond the column's range): empty, not an error.
    assert api.get(url(conversation), {"after_seq": 10**30}).json()["results"] == []


def test_messages_of_a_missing_conversation_are_404_not_empty(api, conversation):
    response = api.get(f"/api/v1/conversations/{conversation.pk + 1000}/messages/")
    assert response.status_code == 404


# --- Sending ------------------------------------------------------------------------------------


def test_send_reply(api, conversation, bob):
    response = api.post(
        url(conversation),
        {"body": "  您好，有什么可以帮您？ ", "client_msg_id": "crm-1"},
        format="json",
    )

    assert response.status_code == 201, response.content
    # Bob's reply claims the conversation: "Bob joined" (seq 2) comes before it.
    claims = api.kind != "token"
    message = Message.objects.get(conversation=conversation, seq=3 if claims else 2)
    assert response.json() == realtime.message_out(message).model_dump(mode="json")
    assert message.body == "您好，有什么可以帮您？"
    assert message.sender_kind == "agent"
    assert message.is_private is False
    assert message.client_msg_id == "crm-1"
    conversation.refresh_from_db()
    assert conversation.last_seq == (3 if claims else 2)
    assert conversation.last_message_preview == "您好，有什么可以帮您？"
    if api.kind == "token":
        # Written under the token's name; a token is nobody, so nobody is assigned.
        assert message.sender_name == "CRM 集成"
        assert message.sender_user_id is None
        assert conversation.assignee_id is None
    else:
        assert message.sender_name == "Bob"
        assert message.sender_user_id == bob.user_id
        assert conversation.assignee_id == bob.user_id


def test_send_without_client_msg_id_stores_each_time(api, conversation):
    first = api.post(url(conversation), {"body": "一"}, format="json")
    second = api.post(url(conversation), {"body": "一"}, format="json")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["client_msg_id"] is None
    # (An agent's first reply claims it and "joined" takes a seq; a token is nobody.)
    joined = 0 if api.kind == "token" else 1
    assert [first.json()["seq"], second.json()["seq"]] == [2 + joined, 3 + joined]


def test_retry_with_same_client_msg_id_returns_the_original(api, conversation):
    first = api.post(url(conversation), {"body": "好的", "client_msg_id": "r-1"}, format="json")
    again = api.post(url(conversation), {"body": "好的", "client_msg_id": "r-1"}, format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Message.objects.filter(conversation=conversation).exclude(kind="event").count() == 2


def test_client_msg_id_reused_for_another_body_is_refused(api, conversation):
    api.post(url(conversation), {"body": "好的", "client_msg_id": "r-1"}, format="json")
    response = api.post(url(conversation), {"body": "不好", "client_msg_id": "r-1"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "client_msg_id_conflict"
    assert "client_msg_id" in response.json()
    bodies = (
        Message.objects.filter(conversation=conversation)
        .exclude(kind="event")
        .values_list("body", flat=True)
    )
    assert list(bodies) == ["在吗？", "好的"]


def test_private_note(api, conversation):
    response = api.post(url(conversation), {"body": "VIP 客户", "private": True}, format="json")

    assert response.status_code == 201
    assert response.json()["private"] is True
    assert Message.objects.get(pk=response.json()["id"]).is_private
    conversation.refresh_from_db()
    # A note is not the conversation's latest news for the inbox, and assigns nobody.
    assert conversation.last_message_preview == "在吗？"
    assert conversation.assignee_id is None
    assert conversation.unread_visitor_count == 0


def test_send_as_another_agent_with_the_token(token, conversation, alice, bob):
    response = token.post(
        url(conversation), {"body": "我是 Bob", "user_id": bob.user_id}, format="json"
    )

    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.sender_name, message.sender_user_id) == ("Bob", bob.user_id)
    conversation.refresh_from_db()
    assert conversation.assignee_id == bob.user_id


def test_session_may_name_itself_but_not_a_colleague(bob_session, conversation, alice, bob):
    ok = bob_session.post(url(conversation), {"body": "我", "user_id": bob.user_id}, format="json")
    assert ok.status_code == 201
    assert Message.objects.get(pk=ok.json()["id"]).sender_user_id == bob.user_id

    refused = bob_session.post(
        url(conversation), {"body": "冒充", "user_id": alice.user_id}, format="json"
    )
    assert refused.status_code == 400
    assert "user_id" in refused.json()
    assert not Message.objects.filter(body="冒充").exists()


@pytest.mark.parametrize("who", ["charlie", "inactive", "deactivated_user", "nobody"])
def test_user_id_must_be_an_active_member(token, conversation, charlie, acme, who):
    if who == "charlie":
        user_id = charlie.user_id
    elif who == "inactive":
        gone = factories.member(acme, "dave")
        Membership.objects.filter(pk=gone.pk).update(is_active=False)
        user_id = gone.user_id
    elif who == "deactivated_user":
        gone = factories.member(acme, "erin")
        gone.user.is_active = False
        gone.user.save()
        user_id = gone.user_id
    else:
        user_id = 10**9

    response = token.post(url(conversation), {"body": "嗨", "user_id": user_id}, format="json")

    assert response.status_code == 400
    assert "user_id" in response.json()
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_empty_and_too_long_bodies_are_field_errors(api, conversation, settings):
    settings.MESSAGE_MAX_LENGTH = 10

    empty = api.post(url(conversation), {"body": " \n\t "}, format="json")
    long = api.post(url(conversation), {"body": "长" * 11}, format="json")
    exact = api.post(url(conversation), {"body": "长" * 10}, format="json")

    assert empty.status_code == 400
    assert empty.json()["code"] == "message_empty"
    assert "body" in empty.json()
    assert long.status_code == 400
    assert long.json()["code"] == "message_too_long"
    assert "body" in long.json()
    assert exact.status_code == 201
    assert Message.objects.filter(conversation=conversation).exclude(kind="event").count() == 2


def test_closed_conversation_refuses_replies(api, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.CLOSED)
    response = api.post(url(conversation), {"body": "还在吗"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "conversation_closed"
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_emoji_and_chinese_round_trip(api, conversation, visitor):
    """4-byte UTF-8 (emoji, CJK extension B) survives the database: utf8mb4 on MariaDB."""
    text = "你好👋🏽！𠀀𠜎 家人👨‍👩‍👧 🀄 ﷽"
    posted = api.post(url(conversation), {"body": text, "client_msg_id": "emoji-1"}, format="json")
    assert posted.status_code == 201, posted.content
    assert posted.json()["body"] == text

    assert Message.objects.get(pk=posted.json()["id"]).body == text
    listed = api.get(url(conversation)).json()["results"]
    assert listed[-1]["body"] == text
    conversation_item = api.get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert conversation_item["last_message_preview"] == text
    assert conversation_item["visitor"]["name"] == "张三"
    # The idempotent retry compares the stored body with the new one, emoji included.
    again = api.post(url(conversation), {"body": text, "client_msg_id": "emoji-1"}, format="json")
    assert again.status_code == 200
