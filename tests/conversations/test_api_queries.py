"""Query counts of the list endpoints, pinned, and the same for 1 row as for 20 (no N+1).

Token requests: 1 query for the token (its `last_used_at` write happens at most once a minute;
the warm-up request takes it) + the endpoint's reads. Session requests: session + user +
membership + the endpoint's reads.
"""

from __future__ import annotations

import pytest

from conversations import services
from tests import factories

AUTH_QUERIES = {"token": 1, "bob_session": 3}


def _conversations(acme, n):
    for i in range(n):
        factories.visitor_message(factories.visitor(acme, name=f"访客{i}"), f"消息{i}")


def _messages(acme, n, bob):
    conversation = factories.visitor_message(factories.visitor(acme), "你好").conversation
    if n > 1:
        # Bob takes it first: "Bob joined" is a row of the page too (a system line).
        services.conversation_claim(
            merchant_id=acme.pk, conversation_id=conversation.pk, user_id=bob.user_id
        )
    for i in range(n - 2):
        factories.agent_message(bob, conversation.pk, f"回复{i}", private=i % 2 == 0)
    return conversation


@pytest.mark.parametrize("rows", [1, 20])
@pytest.mark.parametrize(
    "endpoint, reads",
    # conversations: the page and its labels (one prefetch for the page, ConversationOut.label_ids)
    [("conversations", 2), ("messages", 2), ("visitors", 1), ("canned", 1)],
)
def test_list_query_counts(api, acme, bob, django_assert_num_queries, rows, endpoint, reads):
    if endpoint == "conversations":
        _conversations(acme, rows)
        path = "/api/v1/conversations/"
    elif endpoint == "messages":
        # Conversation lookup (404 for another merchant's) + the page of messages.
        path = f"/api/v1/conversations/{_messages(acme, rows, bob).pk}/messages/"
    elif endpoint == "visitors":
        for i in range(rows):
            factories.visitor(acme, name=f"访客{i}")
        path = "/api/v1/visitors/"
    else:
        for i in range(rows):
            factories.canned(acme, f"s{i}", f"文本{i}")
        path = "/api/v1/canned-responses/"
    api.get(path)  # warm-up: the token's last_used_at write

    with django_assert_num_queries(AUTH_QUERIES[api.kind] + reads):
        response = api.get(path)

    assert response.status_code == 200
    results = response.json() if endpoint == "canned" else response.json()["results"]
    assert len(results) == rows


def test_next_page_costs_the_same(api, acme, django_assert_num_queries):
    _conversations(acme, 5)
    first = api.get("/api/v1/conversations/", {"page_size": 2}).json()
    with django_assert_num_queries(AUTH_QUERIES[api.kind] + 2):
        page = api.get(first["next"]).json()
    assert len(page["results"]) == 2
