"""Inbox views, live counts, sorting, snooze and priority (services.inbox, selectors
INBOX_VIEWS / inbox_counts): over the API, the agent socket and the beat task; the outsider
gets nothing of Acme's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, Label
from merchants.models import Team
from tests import factories
from tests.conversations.conftest import session_client, token_client
from tests.conversations.realtime_helpers import agent_sock, run
from tests.conversations.routing_helpers import fresh_realtime  # noqa: F401 (autouse)
from tests.wsclient import session_cookie

AUTH_QUERIES = {"token": 1, "bob_session": 3}


def _conversation(merchant, body="你好", **visitor_fields) -> Conversation:
    message = factories.visitor_message(factories.visitor(merchant, **visitor_fields), body)
    return Conversation.objects.get(pk=message.conversation_id)


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


@pytest.fixture
def inbox(acme, bob, alice):
    """mine (bob's), alice's, unassigned, queued, snoozed, resolved, and one of team 售后."""
    team = Team.objects.create(merchant=acme, name="售后")
    rows = {
        name: _conversation(acme, name=name)
        for name in ("mine", "alices", "unassigned", "queued", "snoozed", "resolved", "team")
    }
    now = timezone.now()
    Conversation.objects.filter(pk=rows["mine"].pk).update(assignee=bob.user)
    Conversation.objects.filter(pk=rows["alices"].pk).update(assignee=alice.user)
    Conversation.objects.filter(pk=rows["queued"].pk).update(queued_at=now)
    Conversation.objects.filter(pk=rows["snoozed"].pk).update(snoozed_at=now)
    Conversation.objects.filter(pk=rows["resolved"].pk).update(status="resolved")
    Conversation.objects.filter(pk=rows["team"].pk).update(team=team, assignee=alice.user)
    rows["team_id"] = team.pk
    return rows


def test_views(bob_session, inbox):
    def view(name, **params):
        return set(_ids(bob_session.get("/api/v1/conversations/", {"view": name, **params})))

    ids = {k: v.pk for k, v in inbox.items() if k != "team_id"}
    assert view("mine") == {ids["mine"]}
    assert view("unassigned") == {ids["unassigned"]}
    assert view("queued") == {ids["queued"]}
    assert view("open") == {ids[k] for k in ("mine", "alices", "unassigned", "queued", "team")}
    assert view("snoozed") == {ids["snoozed"]}
    assert view("resolved") == {ids["resolved"]}
    assert view("open", team=inbox["team_id"]) == {ids["team"]}
    assert set(_ids(bob_session.get("/api/v1/conversations/"))) == set(ids.values())


def test_counts(bob_session, token, inbox):
    counts = bob_session.get("/api/v1/conversations/counts/").json()
    assert counts == {
        "mine": 1,
        "unassigned": 1,
        "queued": 1,
        "open": 5,
        "snoozed": 1,
        "teams": {str(inbox["team_id"]): 1},
        "labels": {},
    }
    # a token is nobody: no "mine"
    assert "mine" not in token.get("/api/v1/conversations/counts/").json()


def test_counts_query_count_pinned(api, inbox, django_assert_num_queries):
    api.get("/api/v1/conversations/counts/")
    with django_assert_num_queries(AUTH_QUERIES[api.kind] + 3):  # views, teams, labels
        assert api.get("/api/v1/conversations/counts/").status_code == 200


def test_mine_needs_a_session(token, inbox):
    response = token.get("/api/v1/conversations/", {"view": "mine"})
    assert response.status_code == 400 and "view" in response.json()


@pytest.mark.parametrize(
    "params", [{"view": "nope"}, {"team": "x"}, {"team": "0"}, {"sort": "oldest"}]
)
def test_bad_filters_are_400(api, inbox, params):
    response = api.get("/api/v1/conversations/", params)
    assert response.status_code == 400
    assert set(params) <= set(response.json())


def test_sorting_and_paging(api, acme, bob):
    now = timezone.now()
    waits = {"long": 600, "short": 60, "answered": None, "mid": 300}
    rows = {}
    for name, seconds in waits.items():
        c = _conversation(acme, name=name)
        since = None if seconds is None else now - timedelta(seconds=seconds)
        Conversation.objects.filter(pk=c.pk).update(awaiting_reply_since=since)
        rows[name] = c.pk
    Conversation.objects.filter(pk=rows["short"]).update(priority=20)

    def order(sort, page_size=10):
        out, url, params = [], "/api/v1/conversations/", {"sort": sort, "page_size": page_size}
        while url:
            data = api.get(url, params).json()
            out += [r["id"] for r in data["results"]]
            url, params = data["next"], None
        return out

    by_name = {v: k for k, v in rows.items()}
    for page_size in (10, 1):  # one page, and one row per page (the keyset across NULLs)
        assert [by_name[i] for i in order("waiting", page_size)] == [
            "long",
            "mid",
            "short",
            "answered",
        ]
        assert [by_name[i] for i in order("priority", page_size)] == [
            "short",
            "long",
            "mid",
            "answered",
        ]
        assert [by_name[i] for i in order("newest", page_size)] == [
            "mid",
            "answered",
            "short",
            "long",
        ]


@pytest.mark.parametrize("sort", ["waiting", "priority"])
@pytest.mark.parametrize("rows", [1, 20])
def test_list_query_count_pinned(api, acme, django_assert_num_queries, sort, rows):
    for i in range(rows):
        _conversation(acme, name=f"访客{i}")
    api.get("/api/v1/conversations/", {"sort": sort, "view": "open"})
    # The page, then its labels (one prefetch for the whole page).
    with django_assert_num_queries(AUTH_QUERIES[api.kind] + 2):
        response = api.get("/api/v1/conversations/", {"sort": sort, "view": "open"})
    assert len(response.json()["results"]) == rows


# --- Snooze -------------------------------------------------------------------------------------


def test_snooze_until_the_visitor_writes(api, acme, bob):
    conversation = _conversation(acme)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/snooze/", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["snoozed_at"] and body["snoozed_until"] is None
    assert conversation.pk not in _ids(api.get("/api/v1/conversations/", {"view": "open"}))
    assert _ids(api.get("/api/v1/conversations/", {"view": "snoozed"})) == [conversation.pk]

    factories.visitor_message(conversation.visitor, "我又来了")
    conversation.refresh_from_db()
    assert conversation.snoozed_at is None
    assert _ids(api.get("/api/v1/conversations/", {"view": "snoozed"})) == []


def test_snooze_until_a_time_and_the_beat_wakes_it(api, acme):
    conversation = _conversation(acme)
    until = timezone.now() + timedelta(hours=2)
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/snooze/",
        {"until": until.isoformat()},
        format="json",
    )
    assert response.status_code == 200
    assert services.snooze_wake_due() == 0  # not yet
    Conversation.objects.filter(pk=conversation.pk).update(
        snoozed_until=timezone.now() - timedelta(seconds=1)
    )
    from conversations.tasks import snooze_wake

    assert snooze_wake() == 1
    conversation.refresh_from_db()
    assert (conversation.snoozed_at, conversation.snoozed_until) == (None, None)
    assert snooze_wake() == 0


def test_unsnooze_and_resolve_wake(api, acme):
    a, b = _conversation(acme), _conversation(acme)
    for c in (a, b):
        services.conversation_snooze(
            merchant_id=acme.pk, conversation_id=c.pk, actor_user_id=None, until=None
        )
    assert api.post(f"/api/v1/conversations/{a.pk}/unsnooze/").json()["snoozed_at"] is None
    response = api.post(
        f"/api/v1/conversations/{b.pk}/status/", {"status": "resolved"}, format="json"
    )
    assert response.json()["snoozed_at"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"until": "yesterday"},
        {"until": "2001-01-01T00:00:00Z"},  # past
        {"until": "2999-01-01T00:00:00Z"},  # more than a year
        {"until": 12},
    ],
)
def test_bad_snooze_is_400(api, acme, body):
    conversation = _conversation(acme)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/snooze/", body, format="json")
    assert response.status_code == 400
    assert "until" in response.json()


def test_resolved_cannot_be_snoozed(api, acme):
    conversation = _conversation(acme)
    Conversation.objects.filter(pk=conversation.pk).update(status="resolved")
    response = api.post(f"/api/v1/conversations/{conversation.pk}/snooze/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "conversation_closed"


# --- Priority -----------------------------------------------------------------------------------


def test_priority(api, acme):
    conversation = _conversation(acme)
    url = f"/api/v1/conversations/{conversation.pk}/priority/"
    assert api.post(url, {"priority": 20}, format="json").json()["priority"] == 20
    for bad in (5, "high", None, -1):
        response = api.post(url, {"priority": bad}, format="json")
        assert response.status_code == 400 and "priority" in response.json()
    conversation.refresh_from_db()
    assert conversation.priority == 20


# --- The outsider -------------------------------------------------------------------------------


def test_counts_per_label_are_the_open_ones(bob_session, acme, other, charlie, inbox):
    """The workspace's label views: open, awake conversations per label; charlie's labels and
    counts stay his."""
    vip = Label.objects.create(merchant=acme, name="VIP")
    refund = Label.objects.create(merchant=acme, name="退款")
    theirs = Label.objects.create(merchant=other, name="VIP")
    for name in ("mine", "unassigned", "snoozed", "resolved"):
        inbox[name].labels.add(vip)
    inbox["team"].labels.add(refund)
    _conversation(other).labels.add(theirs)
    counts = bob_session.get("/api/v1/conversations/counts/").json()
    assert counts["labels"] == {str(vip.pk): 2, str(refund.pk): 1}
    assert session_client(charlie).get("/api/v1/conversations/counts/").json()["labels"] == {
        str(theirs.pk): 1
    }


def test_charlie_gets_nothing_of_acmes(acme, other, charlie, inbox):
    for client in (session_client(charlie), token_client(factories.api_token(other))):
        for params in ({"view": "open"}, {"view": "snoozed"}, {"team": inbox["team_id"]}):
            assert _ids(client.get("/api/v1/conversations/", params)) == []
        counts = client.get("/api/v1/conversations/counts/").json()
        assert counts["open"] == 0 and counts["teams"] == {} and counts["labels"] == {}
        c = inbox["unassigned"].pk
        for path, body in (("snooze", {}), ("unsnooze", {}), ("priority", {"priority": 20})):
            response = client.post(f"/api/v1/conversations/{c}/{path}/", body, format="json")
            assert response.status_code == 404, path
    inbox["unassigned"].refresh_from_db()
    assert inbox["unassigned"].snoozed_at is None and inbox["unassigned"].priority == 0


# --- Over the socket: live to every agent -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_snooze_and_priority_frames_reach_other_agents(acme, bob, alice, other, charlie):
    conversation = _conversation(acme)
    foreign = _conversation(other)
    bob_cookie, alice_cookie = session_cookie(bob.user), session_cookie(alice.user)
    charlie_cookie = session_cookie(charlie.user)

    async def scenario():
        b = await agent_sock(acme.pk, bob_cookie, "bob")
        a = await agent_sock(acme.pk, alice_cookie, "alice")
        ch = await agent_sock(other.pk, charlie_cookie, "charlie")
        await b.send({"type": "conversation.snooze", "conversation_id": conversation.pk})
        seen = await a.until_match(
            lambda f: (
                f["type"] == "conversation.updated" and f["conversation"]["snoozed_at"] is not None
            )
        )
        assert seen["conversation"]["snoozed_until"] is None
        until = (timezone.now() + timedelta(hours=1)).isoformat()
        await b.send(
            {"type": "conversation.snooze", "conversation_id": conversation.pk, "until": until}
        )
        seen = await a.until_match(
            lambda f: (
                f["type"] == "conversation.updated"
                and f["conversation"]["snoozed_until"] is not None
            )
        )
        await b.send(
            {"type": "conversation.priority", "conversation_id": conversation.pk, "priority": 20}
        )
        await a.until_match(
            lambda f: f["type"] == "conversation.updated" and f["conversation"]["priority"] == 20
        )
        await b.send({"type": "conversation.unsnooze", "conversation_id": conversation.pk})
        await a.until_match(
            lambda f: (
                f["type"] == "conversation.updated" and f["conversation"]["snoozed_at"] is None
            )
        )
        # Bad frames: an error frame with a code, the socket stays up.
        for frame, code in (
            (
                {
                    "type": "conversation.priority",
                    "conversation_id": conversation.pk,
                    "priority": 7,
                },
                "invalid_frame",
            ),
            (
                {
                    "type": "conversation.snooze",
                    "conversation_id": conversation.pk,
                    "until": "2001-01-01T00:00:00Z",
                },
                "invalid_frame",
            ),
            (
                {
                    "type": "conversation.snooze",
                    "conversation_id": conversation.pk,
                    "until": "2030-01-01T00:00:00",
                },
                "invalid_frame",
            ),  # no offset
        ):
            await b.send(frame)
            error = await b.until("error")
            assert error["code"] == code, (frame, error)
        # charlie cannot touch Acme's conversation, and Acme's news never reach him.
        await ch.send({"type": "conversation.snooze", "conversation_id": conversation.pk})
        assert (await ch.until("error"))["code"] == "not_found"
        await b.send({"type": "conversation.snooze", "conversation_id": foreign.pk})
        assert (await b.until("error"))["code"] == "not_found"
        await b.send({"type": "ping"})
        await b.until("pong")
        assert not [
            f
            for f in ch.log
            if f["type"] == "conversation.updated" and f["conversation"]["id"] == conversation.pk
        ]
        for s in (a, b, ch):
            await s.close()

    run(scenario())
    conversation.refresh_from_db()
    foreign.refresh_from_db()
    assert conversation.priority == 20 and conversation.snoozed_at is None
    assert foreign.snoozed_at is None
