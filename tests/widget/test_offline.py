"""The widget side of availability: the bootstrap's `availability`, and the leave-a-message form
(POST /widget/api/offline) with its validation, origin/CORS and tenant checks."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone, translation

from conversations import selectors, services
from conversations.models import Conversation, Message, RoutingEvent, Visitor
from conversations.tokens import visitor_token_issue
from merchants.models import BusinessHours, Holiday, Membership, Team
from tests import factories

ORIGIN = "http://127.0.0.1"


def post(client, path, merchant, body, origin=ORIGIN, key=None, **headers):
    if origin:
        headers["HTTP_ORIGIN"] = origin
    return client.post(
        f"/widget/api/{path}?key={key or merchant.widget_key}",
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        **headers,
    )


def availability(client, merchant):
    response = post(client, "bootstrap", merchant, {})
    assert response.status_code == 200
    return response.json()["availability"]


def closed_today_open_tomorrow(merchant):
    """Hours every day 09:00-17:00, today (merchant time) a holiday: opens tomorrow 09:00."""
    merchant.business_hours_enabled = True
    merchant.save()
    for weekday in range(7):
        BusinessHours.objects.create(
            merchant=merchant, weekday=weekday, opens=dt.time(9), closes=dt.time(17)
        )
    tz = ZoneInfo(merchant.timezone)
    today = timezone.now().astimezone(tz).date()
    Holiday.objects.create(merchant=merchant, date=today, name="closed")
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(9), tzinfo=tz)


# --- Availability in the bootstrap --------------------------------------------------------------


def test_open_with_an_agent_online(client, acme, other, bob, online):
    Team.objects.create(merchant=acme, name="售后")
    Team.objects.create(merchant=acme, name="Archived", is_active=False)
    Team.objects.create(merchant=other, name="Other team")
    online(bob)
    data = availability(client, acme)
    assert data == {
        "open": True,
        "agents": "online",
        "agents_online": True,
        "offline_form": False,
        "next_opening": None,
        "teams": [{"id": Team.objects.get(name="售后").pk, "name": "售后"}],
    }


def test_nobody_online_offers_the_form(client, acme, bob):
    data = availability(client, acme)
    assert (data["open"], data["agents_online"], data["offline_form"]) == (True, False, True)
    assert data["agents"] == "offline"


def test_away_or_other_merchant_agents_do_not_count(client, acme, bob, charlie, online):
    online(charlie)
    assert availability(client, acme)["agents"] == "offline"  # charlie is Other's
    Membership.objects.filter(pk=bob.pk).update(is_away=True)
    online(bob)
    data = availability(client, acme)
    # Connected but away: the widget says so instead of "nobody is here".
    assert (data["agents"], data["agents_online"], data["offline_form"]) == ("away", False, True)


def test_outside_hours_offers_the_form_and_the_next_opening(client, acme, bob, online):
    online(bob)
    opening = closed_today_open_tomorrow(acme)
    data = availability(client, acme)
    assert (data["open"], data["agents_online"], data["offline_form"]) == (False, True, True)
    assert dt.datetime.fromisoformat(data["next_opening"]) == opening


def test_form_switched_off(client, acme):
    acme.offline_form_enabled = False
    acme.save()
    assert availability(client, acme)["offline_form"] is False


# --- Leave a message ----------------------------------------------------------------------------


@pytest.fixture
def visitor(acme):
    return factories.visitor(acme)


@pytest.fixture
def token(acme, visitor):
    return visitor_token_issue(merchant_id=acme.pk, visitor_id=visitor.pk)


def leave(client, merchant, visitor_token, **fields):
    body = {
        "token": visitor_token,
        "name": "王五",
        "contact": "wang@example.com",
        "message": "请回电：订单 123 没到",
        **fields,
    }
    return post(client, "offline", merchant, body, HTTP_ACCEPT_LANGUAGE="en")


def test_message_is_stored_as_an_offline_conversation(
    client, acme, visitor, token, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = leave(client, acme, token)
    assert response.status_code == 201, response.content
    data = response.json()
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    conversation = Conversation.objects.get(pk=data["conversation_id"])
    assert conversation.merchant_id == acme.pk and conversation.visitor_id == visitor.pk
    assert conversation.source == Conversation.Source.OFFLINE_FORM
    message = Message.objects.get(pk=data["message_id"])
    assert (message.body, message.sender_kind, message.sender_name) == (
        "请回电：订单 123 没到",
        "visitor",
        "王五",
    )
    visitor.refresh_from_db()
    assert (visitor.name, visitor.email, visitor.phone) == ("王五", "wang@example.com", "")
    event = RoutingEvent.objects.get(conversation=conversation, kind=RoutingEvent.Kind.OFFLINE)
    with translation.override(settings.LANGUAGE_CODE):
        assert event.reason == translation.gettext(services.R_OFFLINE_NOBODY)
    assert event.detail == {"message_id": message.pk, "contact": "email"}
    # What happens next, in the visitor's language, naming where the reply goes.
    assert "wang@example.com" in data["detail"] and "reply" in data["detail"]
    # Nobody was online: the router queued it, so agents find it in the queue.
    conversation.refresh_from_db()
    queued, total = selectors.queue_snapshot(merchant_id=acme.pk)
    assert [c.pk for c in queued] == [conversation.pk] and total == 1


def test_an_online_agent_gets_it_assigned(
    client, acme, bob, visitor, token, online, django_capture_on_commit_callbacks
):
    online(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = leave(client, acme, token)
    assert response.status_code == 201
    conversation = Conversation.objects.get(pk=response.json()["conversation_id"])
    assert conversation.assignee_id == bob.user_id
    kinds = list(
        RoutingEvent.objects.filter(conversation=conversation).values_list("kind", flat=True)
    )
    assert kinds[0] == RoutingEvent.Kind.OFFLINE and RoutingEvent.Kind.ASSIGNED in kinds


def test_outside_hours_says_when_we_are_back(client, acme, visitor, token):
    opening = closed_today_open_tomorrow(acme)
    response = leave(client, acme, token, contact="+86 138 0000 0000")
    assert response.status_code == 201
    detail = response.json()["detail"]
    assert opening.strftime("%A") in detail and "09:00" in detail and "Asia/Shanghai" in detail
    visitor.refresh_from_db()
    assert (visitor.phone, visitor.email) == ("+86 138 0000 0000", "")
    event = RoutingEvent.objects.get(kind=RoutingEvent.Kind.OFFLINE)
    with translation.override(settings.LANGUAGE_CODE):
        assert event.reason == translation.gettext(services.R_OFFLINE_CLOSED)


def test_retry_with_the_same_client_msg_id_stores_once(client, acme, token):
    first = leave(client, acme, token, client_msg_id="off-1")
    again = leave(client, acme, token, client_msg_id="off-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["message_id"] == first.json()["message_id"]
    assert Message.objects.count() == 1
    assert RoutingEvent.objects.filter(kind=RoutingEvent.Kind.OFFLINE).count() == 1


def test_existing_chat_takes_the_message(client, acme, visitor, token):
    chat = factories.visitor_message(visitor, "hello").conversation
    response = leave(client, acme, token)
    assert response.json()["conversation_id"] == chat.pk
    assert Message.objects.filter(conversation=chat).count() == 2


def snapshot():
    return (
        list(Message.objects.values_list("pk", flat=True)),
        list(Conversation.objects.values_list("pk", flat=True)),
        list(RoutingEvent.objects.values_list("pk", flat=True)),
        list(Visitor.objects.order_by("pk").values("name", "email", "phone")),
    )


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": ["a"]}, "name"),
        ({"contact": ""}, "contact"),
        ({"contact": "not-an-email@"}, "contact"),
        ({"contact": "call me"}, "contact"),
        ({"contact": "12"}, "contact"),
        ({"contact": {"a": 1}}, "contact"),
        ({"message": "   "}, "message"),
        ({"message": "x" * 5001}, "message"),
        ({"message": 5}, None),  # DRF turns a number into text: stored, not an error
        ({"token": ""}, "token"),
        ({"token": "forged.token.value"}, "token"),
        ({"client_msg_id": "has spaces"}, "client_msg_id"),
    ],
)
def test_bad_fields_are_400_with_field_errors(client, acme, token, fields, field):
    before = snapshot()
    response = leave(client, acme, token, **fields)
    if field is None:
        assert response.status_code == 201
        return
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert snapshot() == before


@pytest.mark.parametrize("raw", ["not json", "[1,2]", "null", '"text"'])
def test_junk_body_is_400(client, acme, raw):
    before = snapshot()
    response = post(client, "offline", acme, raw)
    assert response.status_code == 400
    assert snapshot() == before


def test_missing_fields_are_listed(client, acme):
    response = post(client, "offline", acme, {})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"token", "name", "contact", "message"}


def test_another_merchant_s_token_gets_nothing(client, acme, other, visitor):
    outsider = factories.visitor(other)
    other_token = visitor_token_issue(merchant_id=other.pk, visitor_id=outsider.pk)
    before = snapshot()
    # Other's token on acme's widget key, and acme's token on other's key.
    response = leave(client, acme, other_token)
    assert response.status_code == 403 and response.json()["code"] == "merchant_mismatch"
    acme_token = visitor_token_issue(merchant_id=acme.pk, visitor_id=visitor.pk)
    response = post(
        client,
        "offline",
        other,
        {"token": acme_token, "name": "x", "contact": "a@example.com", "message": "hi"},
    )
    assert response.status_code == 403
    # A token naming acme but another merchant's visitor id (cannot be forged; made here).
    crafted = visitor_token_issue(merchant_id=acme.pk, visitor_id=outsider.pk)
    response = leave(client, acme, crafted)
    assert response.status_code == 404
    assert snapshot() == before


def test_unknown_key_bad_origin_and_preflight(client, acme, token):
    before = snapshot()
    body = {"token": token, "name": "x", "contact": "a@example.com", "message": "hi"}
    assert post(client, "offline", acme, body, key="nope").status_code == 404
    for origin in ("https://evil.example", None):
        response = post(client, "offline", acme, body, origin=origin)
        assert response.status_code == 403 and response.json()["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response
    assert snapshot() == before
    preflight = client.options(
        f"/widget/api/offline?key={acme.widget_key}",
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Origin"] == ORIGIN
    assert client.get(f"/widget/api/offline?key={acme.widget_key}").status_code == 405


def test_disabled_form_refuses(client, acme, token):
    acme.offline_form_enabled = False
    acme.save()
    response = leave(client, acme, token)
    assert response.status_code == 403 and response.json()["code"] == "offline_form_disabled"
    assert not Message.objects.exists()


def test_visitor_text_is_stored_as_text(client, acme, visitor, token):
    payload = '<img src=x onerror="alert(1)">'
    response = leave(client, acme, token, name=payload, message=payload)
    assert response.status_code == 201
    visitor.refresh_from_db()
    assert visitor.name == payload  # stored verbatim; every renderer escapes it
    assert "<img" not in response.json()["detail"]


def test_plain_text_body_as_the_widget_sends_it(client, acme, token):
    """loader.js posts JSON as text/plain, a "simple" request without a CORS preflight."""
    body = {
        "token": token,
        "name": "王五",
        "contact": "wang@example.com",
        "message": "在吗",
        "client_msg_id": "Ab-12_x",
    }
    response = client.post(
        f"/widget/api/offline?key={acme.widget_key}",
        data=json.dumps(body),
        content_type="text/plain;charset=UTF-8",
        HTTP_ORIGIN=ORIGIN,
    )
    assert response.status_code == 201, response.content
    assert Message.objects.get().client_msg_id == "Ab-12_x"


def test_one_visitor_cannot_flood_the_form(client, acme, token):
    for i in range(services.OFFLINE_MESSAGES_PER_HOUR):
        assert (
            leave(client, acme, token, client_msg_id=f"m{i}", message=f"第{i}条").status_code == 201
        )
    response = leave(client, acme, token, client_msg_id="one-more")
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert Message.objects.count() == services.OFFLINE_MESSAGES_PER_HOUR
    # A retry of a message already stored still gets its answer.
    assert leave(client, acme, token, client_msg_id="m0", message="第0条").status_code == 200
    # An hour later the visitor may write again.
    RoutingEvent.objects.update(created_at=timezone.now() - dt.timedelta(hours=2))
    assert leave(client, acme, token, client_msg_id="later").status_code == 201
