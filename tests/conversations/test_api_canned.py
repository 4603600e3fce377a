"""Quick replies through the API (issue 13): full CRUD, merchant-wide and personal replies,
pinyin search keys, use counts (most used first), bad input as 400 with field errors, the
outsider charlie and other agents' personal replies as 404, query counts pinned."""

from __future__ import annotations

import pytest
from django.conf import settings

from conversations import services
from conversations.models import CannedResponse
from merchants.models import Membership
from tests import factories

from .conftest import session_client, token_client

URL = "/api/v1/canned-responses/"


@pytest.fixture
def alice_session(alice):
    return session_client(alice)


@pytest.fixture
def charlie_session(charlie):
    return session_client(charlie)


def test_search_key_has_full_pinyin_and_initials():
    key = services.canned_search_key(shortcut="refund", title="退款说明")
    assert key == "refund r tuikuanshuoming tksm"
    assert services.canned_search_key(shortcut="tk", title="") == "tk t"


def test_agent_manages_own_personal_replies(bob_session, bob, acme):
    created = bob_session.post(
        URL,
        {
            "shortcut": "退款",
            "title": "退款说明",
            "text": "您好 {visitor_name}，退款三天到账。",
            "personal": True,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["personal"] is True and body["usage_count"] == 0
    assert body["search_key"] == "tuikuan tk tuikuanshuoming tksm"
    row = CannedResponse.objects.get(pk=body["id"])
    assert row.owner_id == bob.user_id and row.merchant_id == acme.pk

    edited = bob_session.patch(f"{URL}{row.pk}/", {"title": "退款"}, format="json")
    assert edited.status_code == 200 and edited.json()["title"] == "退款"
    assert edited.json()["text"] == "您好 {visitor_name}，退款三天到账。"
    assert bob_session.get(f"{URL}{row.pk}/").json()["title"] == "退款"
    assert bob_session.delete(f"{URL}{row.pk}/").status_code == 204
    assert not CannedResponse.objects.filter(pk=row.pk).exists()


def test_shared_replies_are_for_managers(bob_session, alice_session, acme):
    refused = bob_session.post(URL, {"shortcut": "hi", "text": "您好"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    created = alice_session.post(URL, {"shortcut": "hi", "text": "您好"}, format="json")
    assert created.status_code == 201 and created.json()["personal"] is False
    pk = created.json()["id"]
    assert bob_session.patch(f"{URL}{pk}/", {"text": "x"}, format="json").status_code == 403
    assert bob_session.delete(f"{URL}{pk}/").status_code == 403
    assert CannedResponse.objects.get(pk=pk).text == "您好"


def test_personal_replies_are_private_to_their_agent(bob_session, alice_session, acme_token, alice):
    mine = alice_session.post(
        URL, {"shortcut": "mine", "text": "alice only", "personal": True}, format="json"
    ).json()["id"]
    assert [r["shortcut"] for r in bob_session.get(URL).json()] == []
    assert [r["shortcut"] for r in token_client(acme_token).get(URL).json()] == []
    for client in (bob_session, token_client(acme_token)):
        assert client.get(f"{URL}{mine}/").status_code == 404
        assert client.patch(f"{URL}{mine}/", {"text": "x"}, format="json").status_code == 404
        assert client.delete(f"{URL}{mine}/").status_code == 404
        assert client.post(f"{URL}{mine}/use/").status_code == 404
    assert CannedResponse.objects.get(pk=mine).text == "alice only"


def test_charlie_gets_nothing_of_acme(charlie_session, acme, bob):
    shared = factories.canned(acme, "hello", "您好")
    assert charlie_session.get(URL).json() == []
    assert charlie_session.get(f"{URL}{shared.pk}/").status_code == 404
    assert (
        charlie_session.patch(f"{URL}{shared.pk}/", {"text": "x"}, format="json").status_code == 404
    )
    assert charlie_session.delete(f"{URL}{shared.pk}/").status_code == 404
    assert charlie_session.post(f"{URL}{shared.pk}/use/").status_code == 404
    shared.refresh_from_db()
    assert shared.text == "您好" and shared.usage_count == 0


def test_use_counts_most_used_first(api, acme):
    a = factories.canned(acme, "a", "A")
    b = factories.canned(acme, "b", "B")
    assert [r["shortcut"] for r in api.get(URL).json()] == ["a", "b"]
    assert api.post(f"{URL}{b.pk}/use/").json() == {"usage_count": 1}
    assert api.post(f"{URL}{b.pk}/use/").json() == {"usage_count": 2}
    assert [r["shortcut"] for r in api.get(URL).json()] == ["b", "a"]
    assert a.pk  # untouched


@pytest.mark.parametrize(
    "data, field",
    [
        ({"shortcut": "x", "text": "a" * (settings.MESSAGE_MAX_LENGTH + 1)}, "text"),
        ({"shortcut": "x", "text": "   "}, "text"),
        ({"shortcut": "two words", "text": "t"}, "shortcut"),
        ({"shortcut": "s" * 51, "text": "t"}, "shortcut"),
        ({"shortcut": "x", "title": "t" * 101, "text": "t"}, "title"),
        ({"text": "t"}, "shortcut"),
        ({"shortcut": "x", "text": "t", "personal": "maybe"}, "personal"),
    ],
)
def test_bad_input_is_a_400_with_field_errors(alice_session, acme, data, field):
    response = alice_session.post(URL, data, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not CannedResponse.objects.exists()


def test_shortcut_taken_and_token_personal(alice_session, acme_token, acme):
    factories.canned(acme, "hello", "您好")
    taken = alice_session.post(URL, {"shortcut": "hello", "text": "x"}, format="json")
    assert taken.status_code == 400 and taken.json()["code"] == "shortcut_taken"
    assert "shortcut" in taken.json()
    personal = token_client(acme_token).post(
        URL, {"shortcut": "p", "text": "x", "personal": True}, format="json"
    )
    assert personal.status_code == 400 and "personal" in personal.json()
    too_long = alice_session.patch(
        f"{URL}{CannedResponse.objects.get().pk}/",
        {"text": "a" * (settings.MESSAGE_MAX_LENGTH + 1)},
        format="json",
    )
    assert too_long.status_code == 400 and "text" in too_long.json()


@pytest.mark.parametrize("rows", [1, 20])
def test_list_query_count_pinned(bob_session, bob, acme, rows, django_assert_num_queries):
    for i in range(rows):
        factories.canned(acme, f"s{i}", f"文本{i}")
        CannedResponse.objects.create(
            merchant=acme, owner=bob.user, shortcut=f"p{i}", text=f"私有{i}"
        )
    other_agent = factories.member(acme, "eve", Membership.Role.AGENT)
    CannedResponse.objects.create(merchant=acme, owner=other_agent.user, shortcut="eve", text="x")
    # session + user + membership, then the one list query.
    with django_assert_num_queries(4):
        response = bob_session.get(URL)
    assert len(response.json()) == 2 * rows
