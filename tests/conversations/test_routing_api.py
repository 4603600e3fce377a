"""REST API v1 for routing: teams, queue, a conversation's routing events, claim / transfer /
status. Status codes and error codes, tenant checks (charlie by token, by session, and by
session with acme's header), query counts pinned, realtime frames after the commit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conversations import realtime
from conversations.models import Conversation, Message, RoutingEvent
from merchants.models import Membership, Team
from tests import factories
from tests.conversations.conftest import session_client, token_client

AUTH_QUERIES = {"token": 1, "bob_session": 3}


@pytest.fixture
def acme_token(acme):
    return factories.api_token(acme, "routing")


@pytest.fixture(params=["token", "bob_session"])
def api(request, acme, alice, bob, acme_token):
    client = token_client(acme_token) if request.param == "token" else session_client(bob)
    client.kind = request.param
    return client


def as_bob(client, bob, **data):
    """A token names the acting agent; a session is that agent already."""
    return dict(data, user_id=bob.user_id) if client.kind == "token" else data


@pytest.fixture
def conversation(acme):
    """An unassigned acme conversation with one visitor message (routing not run)."""
    return factories.visitor_message(factories.visitor(acme, name="张三"), "在吗？").conversation


def queued(merchant, n, *, priorities=()):
    start = timezone.now() - dt.timedelta(minutes=10)
    rows = []
    for i in range(n):
        c = factories.visitor_message(
            factories.visitor(merchant, name=f"排队{i}"), "hi"
        ).conversation
        Conversation.objects.filter(pk=c.pk).update(
            queued_at=start + dt.timedelta(seconds=i),
            priority=priorities[i] if i < len(priorities) else 0,
        )
        rows.append(c)
    return rows


# --- Teams and queue ------------------------------------------------------------------------------


def test_teams_with_active_members(api, acme, other, alice, bob):
    sales = Team.objects.create(merchant=acme, name="销售")
    support = Team.objects.create(merchant=acme, name="Support")
    Team.objects.create(merchant=acme, name="Old", is_active=False)
    Team.objects.create(merchant=other, name="Other team")
    alice.teams.add(sales, support)
    bob.teams.add(support)
    gone = factories.member(acme, "gone")
    gone.teams.add(support)
    Membership.objects.filter(pk=gone.pk).update(is_active=False)
    response = api.get("/api/v1/teams/")
    assert response.status_code == 200
    assert response.json() == [
        {"id": support.pk, "name": "Support", "member_ids": sorted([alice.user_id, bob.user_id])},
        {"id": sales.pk, "name": "销售", "member_ids": [alice.user_id]},
    ]


def test_queue_in_serving_order(api, acme):
    first, second, urgent = queued(acme, 3, priorities=(0, 0, 10))
    Conversation.objects.filter(pk=first.pk).update(assignee=None)
    data = api.get("/api/v1/queue/").json()
    assert data["total"] == 3
    assert [(e["conversation_id"], e["position"]) for e in data["queue"]] == [
        (urgent.pk, 1),
        (first.pk, 2),
        (second.pk, 3),
    ]
    assert data["queue"][0]["visitor_name"] == "排队2" and data["queue"][0]["priority"] == 10
    assert data["queue"][0]["queued_at"].endswith("Z")


@pytest.mark.parametrize("rows", [1, 20])
def test_queue_query_count(api, acme, rows, django_assert_num_queries):
    queued(acme, rows)
    api.get("/api/v1/queue/")  # warm-up: the token's last_used_at write
    with django_assert_num_queries(AUTH_QUERIES[api.kind] + 1):
        response = api.get("/api/v1/queue/")
    assert response.json()["total"] == rows


# --- Routing events -------------------------------------------------------------------------------


def _events(conversation, n):
    for i in range(n):
        RoutingEvent.objects.create(
            merchant_id=conversation.merchant_id,
            conversation=conversation,
            kind=RoutingEvent.Kind.QUEUED,
            rule="test",
            reason=f"理由 {i}",
        )


@pytest.mark.parametrize("rows", [1, 20])
def test_routing_events_query_count(api, conversation, rows, django_assert_num_queries):
    _events(conversation, rows)
    path = f"/api/v1/conversations/{conversation.pk}/routing-events/"
    api.get(path)
    # The conversation (404 for another merchant's) + the page of events.
    with django_assert_num_queries(AUTH_QUERIES[api.kind] + 2):
        response = api.get(path)
    results = response.json()["results"]
    assert [r["reason"] for r in results] == [f"理由 {i}" for i in range(rows)]
    assert set(results[0]) == {
        "id",
        "conversation_id",
        "kind",
        "rule",
        "reason",
        "from_user_id",
        "to_user_id",
        "team_id",
        "actor_id",
        "created_at",
    }


def test_routing_events_page(api, conversation):
    _events(conversation, 5)
    path = f"/api/v1/conversations/{conversation.pk}/routing-events/"
    first = api.get(path, {"page_size": 3}).json()
    rest = api.get(first["next"]).json()
    reasons = [r["reason"] for r in first["results"] + rest["results"]]
    assert reasons == [f"理由 {i}" for i in range(5)] and rest["next"] is None


# --- Claim, transfer, status -----------------------------------------------------------------------


def test_claim_takes_it_and_the_second_claim_is_409(
    api, acme, alice, bob, conversation, acme_token
):
    path = f"/api/v1/conversations/{conversation.pk}/claim/"
    response = api.post(path, as_bob(api, bob), format="json")
    assert response.status_code == 200, response.content
    assert (
        response.json()["assignee_id"] == bob.user_id and response.json()["id"] == conversation.pk
    )
    event = RoutingEvent.objects.get(conversation=conversation)
    assert (event.kind, event.to_user_id, event.actor_id) == ("claimed", bob.user_id, bob.user_id)
    # Claiming again is fine (already yours); alice now loses.
    assert api.post(path, as_bob(api, bob), format="json").status_code == 200
    late = session_client(alice).post(path, {}, format="json")
    assert late.status_code == 409 and late.json()["code"] == "already_assigned"
    late = token_client(acme_token).post(path, {"user_id": alice.user_id}, format="json")
    assert late.status_code == 409
    conversation.refresh_from_db()
    assert conversation.assignee_id == bob.user_id


def test_claim_from_the_queue_leaves_the_queue(api, acme, bob):
    (waiting,) = queued(acme, 1)
    response = api.post(
        f"/api/v1/conversations/{waiting.pk}/claim/", as_bob(api, bob), format="json"
    )
    assert response.status_code == 200
    assert response.json()["queued_at"] is None
    assert api.get("/api/v1/queue/").json()["total"] == 0


def test_who_acts(acme, alice, bob, charlie, conversation, acme_token):
    path = f"/api/v1/conversations/{conversation.pk}/claim/"
    token = token_client(acme_token)
    # A token must name the agent, and only an active member of acme.
    for body, field in (
        ({}, "user_id"),
        ({"user_id": charlie.user_id}, "user_id"),
        ({"user_id": 2**63}, "user_id"),
        ({"user_id": "bob"}, "user_id"),
    ):
        response = token.post(path, body, format="json")
        assert response.status_code == 400 and field in response.json(), body
    # A session acts only as itself.
    response = session_client(bob).post(path, {"user_id": alice.user_id}, format="json")
    assert response.status_code == 400 and "user_id" in response.json()
    conversation.refresh_from_db()
    assert conversation.assignee_id is None
    assert not RoutingEvent.objects.exists()


def test_transfer_to_an_agent_with_a_note(api, acme, alice, bob, conversation):
    api.post(f"/api/v1/conversations/{conversation.pk}/claim/", as_bob(api, bob), format="json")
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/transfer/",
        as_bob(api, bob, to_user_id=alice.user_id, note="VIP，请优先"),
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["assignee_id"] == alice.user_id
    note = Message.objects.get(conversation=conversation, is_private=True)
    assert note.body == "VIP，请优先" and note.sender_user_id == bob.user_id
    event = RoutingEvent.objects.filter(conversation=conversation).last()
    assert (event.kind, event.from_user_id, event.to_user_id) == (
        "transferred",
        bob.user_id,
        alice.user_id,
    )


def test_transfer_to_a_team(api, acme, bob, conversation):
    team = Team.objects.create(merchant=acme, name="售后")
    api.post(f"/api/v1/conversations/{conversation.pk}/claim/", as_bob(api, bob), format="json")
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/transfer/",
        as_bob(api, bob, to_team_id=team.pk),
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["team_id"] == team.pk
    # Nobody of the team is online: it waits in the queue for them.
    assert response.json()["assignee_id"] is None


def test_agent_cannot_move_a_colleague_s_conversation(acme, alice, bob, conversation, acme_token):
    session_client(alice).post(f"/api/v1/conversations/{conversation.pk}/claim/", {}, format="json")
    path = f"/api/v1/conversations/{conversation.pk}/transfer/"
    for client, body in (
        (session_client(bob), {}),
        (token_client(acme_token), {"user_id": bob.user_id}),
    ):
        response = client.post(path, dict(body, to_user_id=bob.user_id), format="json")
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    conversation.refresh_from_db()
    assert conversation.assignee_id == alice.user_id
    # alice, an owner, may reassign anybody's.
    response = session_client(alice).post(path, {"to_user_id": bob.user_id}, format="json")
    assert response.status_code == 200 and response.json()["assignee_id"] == bob.user_id


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "to_user_id"),
        ({"to_user_id": 1, "to_team_id": 1}, "to_user_id"),
        ({"to_user_id": "x"}, "to_user_id"),
        ({"to_team_id": -1}, "to_team_id"),
        ({"to_user_id": 1, "note": 5}, "note"),
        ({"to_user_id": 1, "note": "x" * 1001}, "note"),
    ],
)
def test_transfer_bad_input(api, bob, conversation, body, field):
    before = list(Conversation.objects.values())
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/transfer/",
        as_bob(api, bob, **body),
        format="json",
    )
    assert response.status_code == 400 and field in response.json(), response.content
    assert list(Conversation.objects.values()) == before


def test_transfer_to_someone_unknown(api, acme, other, bob, charlie, conversation):
    api.post(f"/api/v1/conversations/{conversation.pk}/claim/", as_bob(api, bob), format="json")
    foreign_team = Team.objects.create(merchant=other, name="x")
    path = f"/api/v1/conversations/{conversation.pk}/transfer/"
    for body, field in (
        ({"to_user_id": charlie.user_id}, "to_user_id"),
        ({"to_team_id": foreign_team.pk}, "to_team_id"),
    ):
        response = api.post(path, as_bob(api, bob, **body), format="json")
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "agent_unavailable" and field in response.json()
    conversation.refresh_from_db()
    assert conversation.assignee_id == bob.user_id and conversation.team_id is None


def test_resolve_and_reopen(api, bob, conversation):
    path = f"/api/v1/conversations/{conversation.pk}/status/"
    response = api.post(path, as_bob(api, bob, status="resolved"), format="json")
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    assert RoutingEvent.objects.filter(conversation=conversation, kind="resolved").exists()
    response = api.post(path, as_bob(api, bob, status="open"), format="json")
    assert response.status_code == 200 and response.json()["status"] == "open"
    for body in ({"status": "pending"}, {"status": "closed"}, {}, {"status": ["open"]}):
        response = api.post(path, as_bob(api, bob, **body), format="json")
        assert response.status_code == 400 and "status" in response.json(), body


def test_token_resolves_without_naming_anyone(acme_token, conversation):
    response = token_client(acme_token).post(
        f"/api/v1/conversations/{conversation.pk}/status/", {"status": "resolved"}, format="json"
    )
    assert response.status_code == 200
    event = RoutingEvent.objects.get(conversation=conversation, kind="resolved")
    assert event.actor_id is None


def test_closed_conversation_refuses_actions(api, bob, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.CLOSED)
    for action, body in (("claim", {}), ("status", {"status": "open"})):
        response = api.post(
            f"/api/v1/conversations/{conversation.pk}/{action}/",
            as_bob(api, bob, **body),
            format="json",
        )
        assert response.status_code == 400 and response.json()["code"] == "conversation_closed"


@pytest.mark.parametrize("raw", ["not json", "[1]", "null"])
def test_junk_bodies_are_400(api, conversation, raw):
    for action in ("claim", "transfer", "status"):
        response = api.post(
            f"/api/v1/conversations/{conversation.pk}/{action}/",
            raw,
            content_type="application/json",
        )
        assert response.status_code == 400, (action, raw, response.content)


def test_claim_publishes_after_commit(api, bob, conversation, django_capture_on_commit_callbacks):
    group = realtime.agents_group(conversation.merchant_id)
    with realtime.deferred_publishes() as events:
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                f"/api/v1/conversations/{conversation.pk}/claim/", as_bob(api, bob), format="json"
            )
            assert events == []  # nothing before the commit
    assert response.status_code == 200
    frames = [frame for g, frame in events if g == group]
    types = [f["type"] for f in frames]
    assert "routing.event" in types and "conversation.updated" in types
    event = next(f for f in frames if f["type"] == "routing.event")["event"]
    assert (event["kind"], event["to_user_id"]) == ("claimed", bob.user_id)
    updated = next(f for f in frames if f["type"] == "conversation.updated")["conversation"]
    assert updated["assignee_id"] == bob.user_id


# --- Outsiders ------------------------------------------------------------------------------------


def snapshot():
    return (
        list(Conversation.objects.order_by("pk").values()),
        list(RoutingEvent.objects.order_by("pk").values_list("pk", flat=True)),
        list(Message.objects.order_by("pk").values_list("pk", flat=True)),
    )


def object_requests(conversation, team, bob):
    c = conversation.pk
    return [
        ("get", f"/api/v1/conversations/{c}/routing-events/", None),
        ("post", f"/api/v1/conversations/{c}/claim/", {}),
        ("post", f"/api/v1/conversations/{c}/claim/", {"user_id": bob.user_id}),
        ("post", f"/api/v1/conversations/{c}/transfer/", {"to_team_id": team.pk, "note": "越权"}),
        ("post", f"/api/v1/conversations/{c}/transfer/", {"to_user_id": bob.user_id}),
        ("post", f"/api/v1/conversations/{c}/status/", {"status": "resolved"}),
    ]


def _call(client, method, path, data):
    return (
        getattr(client, method)(path, data, format="json")
        if data is not None
        else (getattr(client, method)(path))
    )


@pytest.mark.parametrize(
    "who, expected",
    [("charlie_token", 404), ("charlie_session_own_merchant", 404), ("charlie_session_acme", 403)],
)
def test_outsider_reaches_nothing(who, expected, acme, other, bob, charlie, conversation):
    team = Team.objects.create(merchant=acme, name="售后")
    bob.teams.add(team)
    _events(conversation, 1)
    client = {
        "charlie_token": lambda: token_client(factories.api_token(other)),
        "charlie_session_own_merchant": lambda: session_client(charlie),
        "charlie_session_acme": lambda: session_client(charlie, merchant_id=acme.pk),
    }[who]()
    before = snapshot()
    for method, path, data in object_requests(conversation, team, bob):
        response = _call(client, method, path, data)
        assert response.status_code == expected, (method, path, response.content)
        assert "理由" not in response.content.decode() and "张三" not in response.content.decode()
    for path in ("/api/v1/teams/", "/api/v1/queue/"):
        response = client.get(path)
        if who == "charlie_session_acme":
            assert response.status_code == 403
        else:
            assert response.status_code == 200 and "售后" not in response.content.decode()
    assert snapshot() == before


def test_outsider_lists_show_only_their_rows(acme, other, charlie):
    queued(acme, 2)
    (mine,) = queued(other, 1)
    Team.objects.create(merchant=acme, name="Acme team")
    Team.objects.create(merchant=other, name="Other team")
    for client in (token_client(factories.api_token(other)), session_client(charlie)):
        queue = client.get("/api/v1/queue/").json()
        assert queue["total"] == 1 and [e["conversation_id"] for e in queue["queue"]] == [mine.pk]
        assert [t["name"] for t in client.get("/api/v1/teams/").json()] == ["Other team"]


def test_no_credentials_is_401(conversation, acme, bob):
    team = Team.objects.create(merchant=acme, name="t")
    before = snapshot()
    requests = object_requests(conversation, team, bob) + [
        ("get", "/api/v1/teams/", None),
        ("get", "/api/v1/queue/", None),
    ]
    for method, path, data in requests:
        assert _call(APIClient(), method, path, data).status_code == 401, path
    assert snapshot() == before
