"""Back office for routing (issue 4): the merchant's routing / hours / notification / bot fields
with business-hours and holiday inlines, teams, memberships (teams, capacity, preferences), the
conversation's read-only routing timeline and status / assignee / team edits that go through
conversations.routing, and the read-only routing-event list. charlie (owner of Other) sees and
sets nothing of Acme's, also by crafted POSTs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from conversations import realtime
from conversations.models import Conversation, RoutingEvent
from merchants.models import BusinessHours, Holiday, Membership, Team
from tests import factories


def url(app, model, view="changelist", *args):
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def login(client, membership):
    client.force_login(membership.user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the checks below read English text
    return client


def page_data(client, path, **changes):
    """What a browser would post back from the change page: the main form's values, every
    inline's management form and row ids, then `changes` on top."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form.initial.get(name, field.initial)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        if isinstance(value, (list, tuple)):
            data[name] = [getattr(v, "pk", v) for v in value]
            continue
        data[name] = "" if value is None else getattr(value, "pk", value)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            data[management.add_prefix(key)] = management.initial.get(key, 0)
        for row in formset.initial_forms:
            data[row.add_prefix("id")] = row.instance.pk
            for name in row.fields:
                if name not in ("id", "DELETE") and name in row.initial:
                    value = row.initial[name]
                    data[row.add_prefix(name)] = (
                        "" if value is None else getattr(value, "pk", value)
                    )
    data.update(changes)
    data["_save"] = "1"
    return data


def inline_rows(prefix, rows, initial=0):
    data = {
        f"{prefix}-TOTAL_FORMS": initial + len(rows),
        f"{prefix}-INITIAL_FORMS": initial,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }
    for i, row in enumerate(rows, initial):
        data.update({f"{prefix}-{i}-{k}": v for k, v in row.items()})
    return data


# --- Merchant: routing, hours, notifications, bot ----------------------------------------------------


@pytest.mark.django_db
def test_alice_configures_routing_hours_and_bot(client, acme, alice):
    login(client, alice)
    path = url("merchants", "merchant", "change", acme.pk)
    page = client.get(path).content.decode()
    for name in (
        "routing_method",
        "accept_timeout_seconds",
        "business_hours_enabled",
        "offline_form_enabled",
        "escalation_delay_seconds",
        "bot_mode",
        "bot_name",
        "business_hours-TOTAL_FORMS",
        "holidays-TOTAL_FORMS",
    ):
        assert f'name="{name}"' in page, name
    data = page_data(
        client,
        path,
        routing_method="round_robin",
        accept_timeout_seconds=45,
        max_reassignments=3,
        auto_resolve_minutes=0,
        business_hours_enabled="on",
        escalation_delay_seconds=300,
        bot_mode="outside_hours",
        bot_name="小墨",
        sticky_agent="",
    )
    data.update(
        inline_rows(
            "business_hours",
            [
                {"weekday": 0, "opens": "09:00", "closes": "12:00"},
                {"weekday": 0, "opens": "13:30", "closes": "18:00"},
            ],
        )
    )
    data.update(
        inline_rows("holidays", [{"date": "2026-10-01", "name": "国庆", "opens": "", "closes": ""}])
    )
    response = client.post(path, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    acme.refresh_from_db()
    assert (acme.routing_method, acme.accept_timeout_seconds, acme.max_reassignments) == (
        "round_robin",
        45,
        3,
    )
    assert (acme.auto_resolve_minutes, acme.escalation_delay_seconds) == (0, 300)
    assert acme.business_hours_enabled and not acme.sticky_agent
    assert (acme.bot_mode, acme.bot_name) == ("outside_hours", "小墨")
    assert sorted(BusinessHours.objects.filter(merchant=acme).values_list("opens", "closes")) == [
        (dt.time(9), dt.time(12)),
        (dt.time(13, 30), dt.time(18)),
    ]
    holiday = Holiday.objects.get(merchant=acme)
    assert (holiday.date, holiday.opens) == (dt.date(2026, 10, 1), None)
    # The page says whether the merchant is open now, in words.
    page = client.get(path).content.decode()
    assert "Open now." in page or "Closed; opens" in page
    # The saved rows are on the page again and can be edited there.
    data = page_data(client, path, **{"business_hours-0-closes": "11:00"})
    assert data["business_hours-INITIAL_FORMS"] == 2 and data["holidays-INITIAL_FORMS"] == 1
    assert client.post(path, data).status_code == 302
    assert BusinessHours.objects.filter(merchant=acme, opens=dt.time(9)).get().closes == dt.time(11)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row, holiday",
    [
        ({"weekday": 0, "opens": "12:00", "closes": "09:00"}, None),
        ({"weekday": 9, "opens": "09:00", "closes": "12:00"}, None),
        (None, {"date": "2026-10-01", "opens": "10:00", "closes": ""}),
        (None, {"date": "not a date", "opens": "", "closes": ""}),
    ],
)
def test_bad_hours_are_form_errors(client, acme, alice, row, holiday):
    login(client, alice)
    path = url("merchants", "merchant", "change", acme.pk)
    data = page_data(client, path)
    data.update(inline_rows("business_hours", [row] if row else []))
    data.update(inline_rows("holidays", [holiday] if holiday else []))
    response = client.post(path, data)
    assert response.status_code == 200
    assert any(fs.formset.total_error_count() for fs in response.context["inline_admin_formsets"])
    assert not BusinessHours.objects.exists() and not Holiday.objects.exists()


@pytest.mark.django_db
def test_charlie_sets_nothing_of_acme_s_hours(client, acme, other, alice, charlie):
    acme_hours = BusinessHours.objects.create(
        merchant=acme, weekday=0, opens=dt.time(9), closes=dt.time(17)
    )
    login(client, charlie)
    # Acme's page is not his: "does not exist", and a crafted POST changes nothing.
    assert client.get(url("merchants", "merchant", "change", acme.pk)).status_code == 302
    crafted = {
        "name": "pwned",
        "timezone": "UTC",
        "routing_method": "round_robin",
        "accept_timeout_seconds": 1,
        "max_reassignments": 0,
        "auto_resolve_minutes": 0,
        "escalation_delay_seconds": 0,
        "bot_mode": "bot_first",
        "_save": "1",
        **inline_rows(
            "business_hours",
            [{"id": acme_hours.pk, "weekday": 6, "opens": "01:00", "closes": "02:00"}],
            initial=1,
        ),
        **inline_rows("holidays", [{"date": "2026-10-01"}]),
    }
    client.post(url("merchants", "merchant", "change", acme.pk), crafted)
    acme.refresh_from_db()
    assert (acme.name, acme.routing_method, acme.bot_mode) == ("Acme 商城", "least_busy", "off")
    # On his own page, the crafted row id of acme's hours is refused, not moved or changed.
    path = url("merchants", "merchant", "change", other.pk)
    data = page_data(client, path)
    data.update(
        inline_rows(
            "business_hours",
            [{"id": acme_hours.pk, "weekday": 6, "opens": "01:00", "closes": "02:00"}],
            initial=1,
        )
    )
    response = client.post(path, data)
    assert response.status_code == 200
    acme_hours.refresh_from_db()
    assert (acme_hours.merchant_id, acme_hours.weekday, acme_hours.opens) == (
        acme.pk,
        0,
        dt.time(9),
    )
    assert not Holiday.objects.exists()
    assert not BusinessHours.objects.filter(merchant=other).exists()


# --- Teams ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_teams_are_scoped(client, acme, other, alice, bob, charlie):
    sales = Team.objects.create(merchant=acme, name="销售")
    bob.teams.add(sales)
    theirs = Team.objects.create(merchant=other, name="Other team")
    login(client, alice)
    rows = client.get(url("merchants", "team")).context["cl"].result_list
    assert [t.pk for t in rows] == [sales.pk] and rows[0]._members == 1
    page = client.get(url("merchants", "team", "change", sales.pk)).content.decode()
    assert "Bob" in page
    assert client.get(url("merchants", "team", "change", theirs.pk)).status_code == 302

    login(client, charlie)
    assert [t.pk for t in client.get(url("merchants", "team")).context["cl"].result_list] == [
        theirs.pk
    ]
    for view in ("change", "delete", "history"):
        assert client.get(url("merchants", "team", view, sales.pk)).status_code in (302, 403)
    client.post(url("merchants", "team", "change", sales.pk), {"name": "pwned", "_save": "1"})
    client.post(url("merchants", "team", "delete", sales.pk), {"post": "yes"})
    # A crafted add naming acme lands in charlie's own merchant.
    response = client.post(
        url("merchants", "team", "add"),
        {
            "merchant": acme.pk,
            "name": "Injected",
            "routing_method": "",
            "is_active": "on",
            "_save": "1",
        },
    )
    assert response.status_code == 302
    sales.refresh_from_db()
    assert sales.name == "销售"
    assert Team.objects.get(name="Injected").merchant_id == other.pk


# --- Memberships: teams, capacity, preferences --------------------------------------------------


@pytest.mark.django_db
def test_membership_teams_capacity_and_preferences(client, acme, other, alice, bob):
    sales = Team.objects.create(merchant=acme, name="销售")
    theirs = Team.objects.create(merchant=other, name="Other team")
    login(client, alice)
    path = url("merchants", "membership", "change", bob.pk)
    form = client.get(path).context["adminform"].form
    assert list(form.fields["teams"].queryset) == [sales]
    response = client.post(
        path,
        page_data(
            client,
            path,
            teams=[sales.pk],
            max_concurrent=3,
            phone="+8613800000000",
            notify_by_sms="on",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    bob.refresh_from_db()
    assert list(bob.teams.all()) == [sales]
    assert (bob.max_concurrent, bob.phone, bob.notify_by_sms, bob.notify_by_email) == (
        3,
        "+8613800000000",
        True,
        False,
    )
    # A crafted POST with another merchant's team is a form error, not a link across merchants.
    response = client.post(path, page_data(client, path, teams=[sales.pk, theirs.pk]))
    assert response.status_code == 200
    assert "teams" in response.context["adminform"].form.errors
    assert list(bob.teams.all()) == [sales]


@pytest.mark.django_db
def test_two_merchant_manager_cannot_mix_teams(client, acme, alice):
    beta = factories.merchant("Beta")
    factories.member(beta, "alice", Membership.Role.ADMIN, password=None)
    beta_team = Team.objects.create(merchant=beta, name="Beta team")
    newbie = factories.member(acme, "newbie")
    login(client, alice)
    response = client.post(
        url("merchants", "membership", "add"),
        {
            "merchant": beta.pk,
            "user": newbie.user_id,
            "role": "agent",
            "display_name": "N",
            "max_concurrent": 2,
            "is_active": "on",
            "teams": [beta_team.pk],
            "_save": "1",
        },
    )
    assert response.status_code == 302  # a team of the membership's own merchant: fine
    response = client.post(
        url("merchants", "membership", "change", newbie.pk),
        page_data(
            client, url("merchants", "membership", "change", newbie.pk), teams=[beta_team.pk]
        ),
    )
    assert response.status_code == 200
    assert "teams" in response.context["adminform"].form.errors
    assert not newbie.teams.exists()


@pytest.mark.django_db
def test_raising_capacity_serves_the_queue(
    client, acme, alice, bob, online, django_capture_on_commit_callbacks
):
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=1)
    Membership.objects.filter(pk=alice.pk).update(is_away=True)
    online(bob)
    with django_capture_on_commit_callbacks(execute=True):
        first = factories.visitor_message(factories.visitor(acme), "一").conversation
    with django_capture_on_commit_callbacks(execute=True):
        waiting = factories.visitor_message(factories.visitor(acme), "二").conversation
    first.refresh_from_db()
    waiting.refresh_from_db()
    assert first.assignee_id == bob.user_id
    assert waiting.assignee_id is None and waiting.queued_at is not None

    login(client, alice)
    path = url("merchants", "membership", "change", bob.pk)
    # Editing something else does not touch the queue.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(path, page_data(client, path, phone="123456"))
    waiting.refresh_from_db()
    assert waiting.assignee_id is None
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, page_data(client, path, max_concurrent=2))
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.assignee_id == bob.user_id and waiting.queued_at is None
    assert RoutingEvent.objects.filter(conversation=waiting, kind="assigned").exists()


@pytest.mark.django_db
def test_back_from_away_in_the_admin_serves_the_queue(
    client, acme, alice, bob, online, django_capture_on_commit_callbacks
):
    Membership.objects.filter(pk__in=[alice.pk, bob.pk]).update(is_away=True)
    online(bob)
    with django_capture_on_commit_callbacks(execute=True):
        waiting = factories.visitor_message(factories.visitor(acme), "在吗").conversation
    waiting.refresh_from_db()
    assert waiting.assignee_id is None and waiting.queued_at is not None

    login(client, alice)
    path = url("merchants", "membership", "change", bob.pk)
    data = page_data(client, path)
    del data["is_away"]  # the box unchecked
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, data)
    assert response.status_code == 302
    assert Membership.objects.get(pk=bob.pk).is_away is False
    waiting.refresh_from_db()
    assert waiting.assignee_id == bob.user_id and waiting.queued_at is None


# --- Conversations: timeline, and edits through routing ------------------------------------------


@pytest.fixture
def chat(acme, bob):
    conversation = factories.visitor_message(
        factories.visitor(acme, name="张三"), "在吗"
    ).conversation
    from conversations import services

    services.conversation_claim(
        merchant_id=acme.pk, conversation_id=conversation.pk, user_id=bob.user_id
    )
    conversation.refresh_from_db()
    return conversation


@pytest.mark.django_db
def test_timeline_is_shown_read_only_and_escaped(client, acme, alice, chat):
    RoutingEvent.objects.create(
        merchant=acme,
        conversation=chat,
        kind="queued",
        rule="x",
        reason='<img src=x onerror="window.__x=1">',
    )
    login(client, alice)
    page = client.get(url("conversations", "conversation", "change", chat.pk)).content.decode()
    assert "routing timeline" in page.lower() or "Routing timeline" in page
    assert "&lt;img src=x" in page and "<img src=x" not in page
    assert RoutingEvent.objects.get(conversation=chat, kind="claimed").reason in page


@pytest.mark.django_db
def test_status_edit_goes_through_routing(
    client, acme, alice, bob, chat, django_capture_on_commit_callbacks
):
    login(client, alice)
    path = url("conversations", "conversation", "change", chat.pk)
    data = page_data(client, path, status="resolved")
    with realtime.deferred_publishes() as events:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(path, data)
    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.status == "resolved" and chat.resolved_at is not None
    event = RoutingEvent.objects.filter(conversation=chat).last()
    assert (event.kind, event.actor_id) == ("resolved", alice.user_id)
    types = {frame["type"] for _group, frame in events}
    assert {"routing.event", "conversation.updated"} <= types


@pytest.mark.django_db
def test_assignee_and_team_edits_are_transfers(client, acme, alice, bob, chat):
    team = Team.objects.create(merchant=acme, name="售后")
    login(client, alice)
    path = url("conversations", "conversation", "change", chat.pk)
    response = client.post(path, page_data(client, path, assignee=alice.user_id))
    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.assignee_id == alice.user_id
    event = RoutingEvent.objects.filter(conversation=chat).last()
    assert (event.kind, event.from_user_id, event.to_user_id, event.actor_id) == (
        "reassigned",
        bob.user_id,
        alice.user_id,
        alice.user_id,
    )  # a supervisor moved bob's
    response = client.post(path, page_data(client, path, team=team.pk))
    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.team_id == team.pk
    assert RoutingEvent.objects.filter(conversation=chat).last().team_id == team.pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes, field",
    [
        ({"status": "pending"}, "status"),
        ({"status": "closed"}, "status"),
        ({"assignee": ""}, "assignee"),
    ],
)
def test_edits_routing_cannot_do_are_form_errors(client, acme, alice, chat, changes, field):
    login(client, alice)
    path = url("conversations", "conversation", "change", chat.pk)
    before = Conversation.objects.filter(pk=chat.pk).values().get()
    response = client.post(path, page_data(client, path, **changes))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Conversation.objects.filter(pk=chat.pk).values().get() == before


@pytest.mark.django_db
def test_refused_routing_action_shows_the_error(client, acme, alice, bob, chat):
    """A platform operator without a membership cannot transfer (the router wants a member as
    the actor): the admin says so and changes nothing."""
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    path = url("conversations", "conversation", "change", chat.pk)
    response = client.post(path, page_data(client, path, assignee=alice.user_id), follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert shown and not any("successfully" in m for m in shown)
    chat.refresh_from_db()
    assert chat.assignee_id == bob.user_id
    # Resolving needs no actor: the operator may.
    response = client.post(path, page_data(client, path, status="resolved"))
    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.status == "resolved"
    assert RoutingEvent.objects.filter(conversation=chat).last().actor_id is None


@pytest.mark.django_db
def test_charlie_cannot_touch_acme_conversations(client, acme, other, alice, bob, charlie, chat):
    theirs = Team.objects.create(merchant=other, name="Other team")
    login(client, charlie)
    path = url("conversations", "conversation", "change", chat.pk)
    assert client.get(path).status_code == 302
    before = Conversation.objects.filter(pk=chat.pk).values().get()
    events = RoutingEvent.objects.count()
    for changes in ({"status": "resolved"}, {"assignee": charlie.user_id}, {"team": theirs.pk}):
        client.post(path, {"_save": "1", **changes})
    assert Conversation.objects.filter(pk=chat.pk).values().get() == before
    assert RoutingEvent.objects.count() == events
    # alice cannot pick charlie's team for acme's conversation either.
    login(client, alice)
    response = client.post(path, page_data(client, path, team=theirs.pk))
    assert response.status_code == 200 and "team" in response.context["adminform"].form.errors
    assert Conversation.objects.filter(pk=chat.pk).values().get() == before


# --- Routing events list --------------------------------------------------------------------------


@pytest.mark.django_db
def test_routing_events_are_read_only_and_scoped(client, acme, other, alice, charlie, chat):
    theirs = factories.visitor_message(factories.visitor(other), "hi").conversation
    their_event = RoutingEvent.objects.create(
        merchant=other, conversation=theirs, kind="queued", reason="other reason"
    )
    acme_event = RoutingEvent.objects.get(conversation=chat)
    login(client, alice)
    rows = client.get(url("conversations", "routingevent")).context["cl"].result_list
    assert [e.pk for e in rows] == [acme_event.pk]
    change = url("conversations", "routingevent", "change", acme_event.pk)
    response = client.get(change)
    assert response.status_code == 200 and not response.context["has_change_permission"]
    client.post(change, {"reason": "rewritten", "_save": "1"})
    assert client.get(url("conversations", "routingevent", "add")).status_code == 403
    assert (
        client.get(url("conversations", "routingevent", "delete", acme_event.pk)).status_code == 403
    )
    acme_event.refresh_from_db()
    assert acme_event.reason != "rewritten"

    login(client, charlie)
    rows = client.get(url("conversations", "routingevent")).context["cl"].result_list
    assert [e.pk for e in rows] == [their_event.pk]
    assert client.get(change).status_code == 302
    page = client.get(url("conversations", "routingevent") + f"?q={acme_event.reason[:4]}")
    assert acme_event.reason not in page.content.decode()


@pytest.mark.django_db
def test_notifications_are_read_only_and_scoped(client, acme, other, alice, bob, charlie, chat):
    from notifications.models import Notification

    theirs = factories.visitor_message(factories.visitor(other), "hi").conversation
    mine = Notification.objects.create(
        merchant=acme,
        conversation=chat,
        user=bob.user,
        channel="sms",
        reason="queued",
        key="t-acme",
        error="boom",
    )
    their = Notification.objects.create(
        merchant=other,
        conversation=theirs,
        user=charlie.user,
        channel="email",
        reason="new",
        key="t-other",
    )
    login(client, alice)
    assert [
        n.pk for n in client.get(url("notifications", "notification")).context["cl"].result_list
    ] == [mine.pk]
    change = url("notifications", "notification", "change", mine.pk)
    assert not client.get(change).context["has_change_permission"]
    client.post(change, {"sent": "on", "error": "", "_save": "1"})
    mine.refresh_from_db()
    assert (mine.sent, mine.error) == (False, "boom")
    assert client.get(url("notifications", "notification", "change", their.pk)).status_code == 302
    login(client, charlie)
    assert [
        n.pk for n in client.get(url("notifications", "notification")).context["cl"].result_list
    ] == [their.pk]
    assert client.get(change).status_code == 302
