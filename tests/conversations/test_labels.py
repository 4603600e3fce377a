"""Labels (issue 13): merchant-defined (name, colour), managed by owners, admins and API tokens;
applied by any agent through add/remove; in the conversation rows (`label_ids`) and the list
filter `?label=`; each change recorded as `conversation.labels_changed` and announced to the
merchant's agents (`conversation.labels`, `labels.changed`) after the commit; an unknown or
another merchant's label is a clear 400; charlie gets nothing of Acme's; query counts pinned."""

from __future__ import annotations

import pytest

from conversations import realtime
from conversations.models import ConversationEvent, Label
from tests import factories

from .conftest import session_client, token_client

URL = "/api/v1/labels/"


@pytest.fixture
def sent(monkeypatch):
    """Frames published (group, frame dict), recorded instead of sent."""
    frames: list[tuple[str, dict]] = []
    monkeypatch.setattr(realtime, "_group_send", lambda group, frame: frames.append((group, frame)))
    return frames


@pytest.fixture
def alice_session(alice):
    return session_client(alice)


@pytest.fixture
def charlie_session(charlie):
    return session_client(charlie)


@pytest.fixture
def vip(acme):
    return Label.objects.create(merchant=acme, name="VIP", colour="#dc2626")


@pytest.fixture
def refund(acme):
    return Label.objects.create(merchant=acme, name="退款", colour="#2563eb")


@pytest.fixture
def foreign(other):
    return Label.objects.create(merchant=other, name="别家标签")


def test_owner_manages_labels_and_agents_see_them_live(
    alice_session, bob_session, acme, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = alice_session.post(URL, {"name": "投诉", "colour": "#DC2626"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "投诉" and body["colour"] == "#dc2626"
    assert sent == [
        (
            realtime.agents_group(acme.pk),
            {
                "type": "labels.changed",
                "labels": [{"id": body["id"], "name": "投诉", "colour": "#dc2626"}],
            },
        )
    ]
    assert bob_session.get(URL).json() == [body]
    edited = alice_session.patch(f"{URL}{body['id']}/", {"colour": "#16a34a"}, format="json")
    assert edited.status_code == 200 and edited.json()["colour"] == "#16a34a"
    assert alice_session.delete(f"{URL}{body['id']}/").status_code == 204
    assert not Label.objects.filter(pk=body["id"]).exists()


def test_agents_cannot_manage_labels(bob_session, vip):
    assert bob_session.post(URL, {"name": "x"}, format="json").status_code == 403
    assert bob_session.patch(f"{URL}{vip.pk}/", {"name": "y"}, format="json").status_code == 403
    assert bob_session.delete(f"{URL}{vip.pk}/").status_code == 403
    assert Label.objects.get(pk=vip.pk).name == "VIP"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "ok", "colour": "#12345"}, "colour"),
        ({"name": 5}, "name"),
        ({"name": "VIP"}, "name"),  # taken
    ],
)
def test_bad_labels_are_400_with_the_field(token, vip, payload, field):
    response = token.post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_apply_labels_records_the_event_and_reaches_agents(
    api, acme, vip, refund, sent, django_capture_on_commit_callbacks
):
    conversation = factories.visitor_message(factories.visitor(acme), "我要退款").conversation
    sent.clear()
    path = f"/api/v1/conversations/{conversation.pk}/labels/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(path, {"add": [vip.pk, refund.pk]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"label_ids": sorted([vip.pk, refund.pk])}
    frames = [f for g, f in sent if f["type"] == "conversation.labels"]
    assert [g for g, f in sent] == [realtime.agents_group(acme.pk)]  # never a visitor group
    assert frames[0]["label_ids"] == sorted([vip.pk, refund.pk])
    event = ConversationEvent.objects.get(kind="conversation.labels_changed")
    assert event.conversation_id == conversation.pk and event.merchant_id == acme.pk
    assert event.data == {
        "added": sorted([vip.pk, refund.pk]),
        "removed": [],
        "label_ids": sorted([vip.pk, refund.pk]),
    }
    if api.kind == "bob_session":
        assert event.actor_id is not None

    # Removing one; adding what is there already changes nothing and records nothing.
    assert api.post(path, {"remove": [vip.pk]}, format="json").json() == {"label_ids": [refund.pk]}
    assert api.post(path, {"add": [refund.pk]}, format="json").json() == {"label_ids": [refund.pk]}
    assert ConversationEvent.objects.filter(kind="conversation.labels_changed").count() == 2

    row = api.get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert row["label_ids"] == [refund.pk]
    listed = api.get("/api/v1/conversations/", {"label": refund.pk}).json()["results"]
    assert [c["id"] for c in listed] == [conversation.pk]
    assert listed[0]["label_ids"] == [refund.pk]
    assert api.get("/api/v1/conversations/", {"label": vip.pk}).json()["results"] == []


def test_unknown_or_foreign_label_is_400(api, acme, vip, foreign):
    conversation = factories.visitor_message(factories.visitor(acme)).conversation
    path = f"/api/v1/conversations/{conversation.pk}/labels/"
    for ids in ([foreign.pk], [999999], [vip.pk, foreign.pk]):
        response = api.post(path, {"add": ids}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "unknown_label" and "label_ids" in response.json()
    assert not conversation.labels.exists()  # nothing of a refused change was applied
    assert api.post(path, {"add": ["x"]}, format="json").status_code == 400
    both = api.post(path, {"add": [vip.pk], "remove": [vip.pk]}, format="json")
    assert both.status_code == 400
    for label in (foreign.pk, 999999):
        refused = api.get("/api/v1/conversations/", {"label": label})
        assert refused.status_code == 400 and "label" in refused.json()
    assert api.get("/api/v1/conversations/", {"label": "abc"}).status_code == 400


def test_charlie_gets_nothing_of_acme(charlie_session, other, acme, vip):
    conversation = factories.visitor_message(factories.visitor(acme)).conversation
    outsider = token_client(factories.api_token(other))
    for client in (charlie_session, outsider):
        assert client.get(URL).json() == []
        assert client.get(f"{URL}{vip.pk}/").status_code == 404
        assert client.patch(f"{URL}{vip.pk}/", {"name": "x"}, format="json").status_code == 404
        assert client.delete(f"{URL}{vip.pk}/").status_code == 404
        path = f"/api/v1/conversations/{conversation.pk}/labels/"
        # Acme's label is unknown to Other; Acme's conversation does not exist for Other.
        assert client.post(path, {"add": [vip.pk]}, format="json").status_code == 400
        assert client.post(path, {"add": []}, format="json").status_code == 404
    assert not conversation.labels.exists()
    assert Label.objects.get(pk=vip.pk).name == "VIP"


@pytest.mark.parametrize("rows", [1, 20])
def test_list_query_counts_with_labels(api, acme, vip, refund, rows, django_assert_num_queries):
    for i in range(rows):
        c = factories.visitor_message(factories.visitor(acme, name=f"访客{i}"), "你好").conversation
        c.labels.add(vip, refund)
    api.get("/api/v1/conversations/")  # warm-up: the token's last_used_at write
    auth = {"token": 1, "bob_session": 3}[api.kind]
    # The page, its labels (one prefetch for the page).
    with django_assert_num_queries(auth + 2):
        page = api.get("/api/v1/conversations/").json()["results"]
    assert len(page) == rows and all(len(c["label_ids"]) == 2 for c in page)
    # The filter: the label check, the page, its labels.
    with django_assert_num_queries(auth + 3):
        page = api.get("/api/v1/conversations/", {"label": vip.pk}).json()["results"]
    assert len(page) == rows
    with django_assert_num_queries(auth + 1):
        assert len(api.get(URL).json()) == 2


def test_message_frames_leave_label_ids_unknown(
    acme, vip, sent, django_capture_on_commit_callbacks
):
    """The message hot path does not load labels: its rows say null ("keep what you had")."""
    visitor = factories.visitor(acme)
    conversation = factories.visitor_message(visitor).conversation
    conversation.labels.add(vip)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        factories.visitor_message(visitor, "又来了")
    rows = [f["conversation"] for g, f in sent if f["type"] == "conversation.updated"]
    assert rows and all(r["label_ids"] is None for r in rows)
