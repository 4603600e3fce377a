"""GET /api/v1/conversations/ and /api/v1/conversations/{id}/."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from conversations import protocol, realtime
from conversations.models import Conversation
from conversations.serializers import ConversationSerializer, MessageSerializer
from tests import factories

URL = "/api/v1/conversations/"


def _conversations(merchant, n: int) -> list[Conversation]:
    return [
        factories.visitor_message(
            factories.visitor(merchant, name=f"访客 {i}"), f"消息 {i}"
        ).conversation
        for i in range(n)
    ]


def _walk(client, url: str) -> list[dict]:
    """Follow `next` links to the end; every item once."""
    items = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        items += response.json()["results"]
        url = response.json()["next"]
    return items


def test_list_is_the_socket_shape(api, conversation):
    response = api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert body["next"] is None and body["previous"] is None
    [item] = body["results"]
    # Labels prefetched as the API does (a frame of the message path says null instead).
    conversation = (
        Conversation.objects.select_related("visitor")
        .prefetch_related("labels")
        .get(pk=conversation.pk)
    )
    socket = realtime.conversation_out(conversation, online=False).model_dump(mode="json")
    # Same keys (the workspace JS reads both), and the same values, datetimes included.
    assert item.keys() == socket.keys()
    assert item["visitor"].keys() == socket["visitor"].keys()
    assert item == socket
    assert item["visitor"]["name"] == "张三"
    assert item["unread_count"] == 1
    assert item["last_message_preview"] == "在吗？"
    assert item["last_message_at"].endswith("Z")


def test_declared_fields_are_the_protocol_fields():
    """The OpenAPI schema is built from the declared fields; they must be the wire's fields."""
    conversation = ConversationSerializer()
    assert list(conversation.fields) == list(protocol.ConversationOut.model_fields)
    assert list(conversation.fields["visitor"].fields) == list(protocol.VisitorOut.model_fields)
    assert list(MessageSerializer().fields) == list(protocol.MessageOut.model_fields)


def test_newest_activity_first_and_status_filter(api, acme):
    first, second, third = _conversations(acme, 3)
    Conversation.objects.filter(pk=second.pk).update(status=Conversation.Status.RESOLVED)
    # A new message moves the oldest conversation to the top.
    factories.visitor_message(first.visitor, "还在吗")

    ids = [c["id"] for c in api.get(URL).json()["results"]]
    assert ids == [first.pk, third.pk, second.pk]

    resolved = api.get(URL, {"status": "resolved"}).json()["results"]
    assert [c["id"] for c in resolved] == [second.pk]
    assert resolved[0]["status"] == "resolved"
    assert [c["id"] for c in api.get(URL, {"status": "open"}).json()["results"]] == [
        first.pk,
        third.pk,
    ]
    assert api.get(URL, {"status": "closed"}).json()["results"] == []


@pytest.mark.parametrize("status", ["bogus", "OPEN", "open,closed"])
def test_invalid_status_is_a_field_error(api, status):
    response = api.get(URL, {"status": status})
    assert response.status_code == 400
    assert "status" in response.json()


def test_pagination_walks_every_row_once_through_ties_and_nulls(api, acme):
    conversations = _conversations(acme, 7)
    now = timezone.now().replace(microsecond=0)
    # Three share one timestamp (ties broken by id) and two have no public message yet (NULL):
    # DRF's own cursor would skip or repeat rows here.
    tied, never = [c.pk for c in conversations[:3]], [c.pk for c in conversations[3:5]]
    Conversation.objects.filter(pk__in=tied).update(last_message_at=now)
    Conversation.objects.filter(pk__in=never).update(last_message_at=None)
    Conversation.objects.filter(pk=conversations[5].pk).update(
        last_message_at=now + datetime.timedelta(seconds=1)
    )
    Conversation.objects.filter(pk=conversations[6].pk).update(
        last_message_at=now - datetime.timedelta(seconds=1)
    )
    expected = [
        conversations[5].pk,
        *sorted(tied, reverse=True),
        conversations[6].pk,
        *sorted(never, reverse=True),
    ]

    for size in (1, 2, 3, 50):
        assert [c["id"] for c in _walk(api, f"{URL}?page_size={size}")] == expected


def test_previous_link_goes_back(api, acme):
    _conversations(acme, 5)
    all_ids = [c["id"] for c in api.get(URL).json()["results"]]
    page1 = api.get(URL, {"page_size": 2}).json()
    page2 = api.get(page1["next"]).json()
    page3 = api.get(page2["next"]).json()
    assert [c["id"] for c in page3["results"]] == all_ids[4:]
    assert page3["next"] is None

    back = api.get(page3["previous"]).json()
    assert [c["id"] for c in back["results"]] == all_ids[2:4]
    first = api.get(back["previous"]).json()
    assert [c["id"] for c in first["results"]] == all_ids[:2]
    assert first["previous"] is None
    assert api.get(first["next"]).json()["results"] == back["results"]


def test_default_page_size_is_50(api, acme):
    visitor = factories.visitor(acme)
    Conversation.objects.bulk_create(
        Conversation(merchant=acme, visitor=visitor, last_message_at=timezone.now())
        for _ in range(51)
    )
    body = api.get(URL).json()
    assert len(body["results"]) == 50
    assert len(api.get(body["next"]).json()["results"]) == 1


def test_page_size_over_the_cap_is_clamped(api, acme):
    visitor = factories.visitor(acme)
    factories.visitor_message(visitor, "x")
    # 101 more rows would be slow to build through services; plain rows do for paging.
    Conversation.objects.bulk_create(
        Conversation(merchant=acme, visitor=visitor, last_message_at=timezone.now())
        for _ in range(101)
    )
    assert Conversation.objects.filter(merchant=acme).count() == 102
    body = api.get(URL, {"page_size": 1000}).json()
    assert len(body["results"]) == 100
    assert body["next"] is not None
    assert len(api.get(body["next"]).json()["results"]) == 2


def test_detail(api, conversation, bob):
    factories.agent_message(bob, conversation.pk, "您好 😀")
    response = api.get(f"{URL}{conversation.pk}/")
    assert response.status_code == 200
    # Labels prefetched as the API does (a frame of the message path says null instead).
    conversation = (
        Conversation.objects.select_related("visitor")
        .prefetch_related("labels")
        .get(pk=conversation.pk)
    )
    assert response.json() == realtime.conversation_out(conversation, online=False).model_dump(
        mode="json"
    )
    assert response.json()["assignee_id"] == bob.user_id
    # The visitor's message, "Bob joined" (his reply claimed it), the reply.
    assert response.json()["last_seq"] == 3
    assert response.json()["last_message_preview"] == "您好 😀"


def test_detail_of_missing_conversation_is_404(api, conversation):
    response = api.get(f"{URL}{conversation.pk + 1000}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
