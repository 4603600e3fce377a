"""Signed identity (issue 13): an anonymous visitor who logs in on the merchant's site becomes
the one customer of that identity with one history (`visitor.identified` recorded); two
accounts on one computer stay apart; the site's custom attributes ride along, checked by type;
a blocked visitor's bootstrap says so (the widget shows the chat as closed)."""

import json

import pytest

from conversations import services
from conversations.models import (
    AttributeDefinition,
    Conversation,
    ConversationEvent,
    CustomerNote,
    Visitor,
    VisitorPageView,
)
from tests import factories

ORIGIN = "http://127.0.0.1"
BROWSER = "browser-anon-id-000001"


def boot(client, merchant, body):
    return client.post(
        f"/widget/api/bootstrap?key={merchant.widget_key}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
    )


def identity(merchant, user_id, **extra):
    return factories.signed_identity(merchant, user_id, **extra)


def identified_events(merchant):
    return list(
        ConversationEvent.objects.filter(merchant=merchant, kind="visitor.identified").values_list(
            "visitor_id", "data"
        )
    )


def test_first_login_identifies_the_anonymous_visitor(client, acme):
    anon = boot(client, acme, {"anonymous_id": BROWSER}).json()
    logged = boot(
        client, acme, {"anonymous_id": BROWSER, "identity": identity(acme, "u-1", name="韩梅梅")}
    ).json()
    assert logged["visitor_id"] == anon["visitor_id"]
    assert Visitor.objects.get(pk=anon["visitor_id"]).external_id == "u-1"
    assert identified_events(acme) == [
        (anon["visitor_id"], {"by": "widget", "merged_visitor_id": None, "conversations_moved": 0})
    ]
    boot(client, acme, {"anonymous_id": BROWSER, "identity": identity(acme, "u-1")})
    assert len(identified_events(acme)) == 1  # once, not at every page


def test_anonymous_history_merges_into_the_known_customer(client, acme, bob):
    # The customer chatted before, logged in on another device.
    known = factories.visitor(acme, external_id="u-2", name="李雷")
    old = factories.visitor_message(known, "上个月的问题").conversation
    Conversation.objects.filter(pk=old.pk).update(status="closed")
    # On this browser, anonymous first: a conversation, pages, a note.
    anon_id = boot(client, acme, {"anonymous_id": BROWSER}).json()["visitor_id"]
    anon = Visitor.objects.get(pk=anon_id)
    new = factories.visitor_message(anon, "没登录时问的").conversation
    services.visitor_page_view(merchant_id=acme.pk, visitor_id=anon_id, url="/cart", title="购物车")
    services.customer_note_create(
        merchant_id=acme.pk, visitor_id=anon_id, author_id=None, author_name="Bob", body="匿名时"
    )

    logged = boot(client, acme, {"anonymous_id": BROWSER, "identity": identity(acme, "u-2")})
    assert logged.status_code == 200
    assert logged.json()["visitor_id"] == known.pk
    assert not Visitor.objects.filter(pk=anon_id).exists()
    assert set(Conversation.objects.filter(visitor=known).values_list("id", flat=True)) == {
        old.pk,
        new.pk,
    }
    assert VisitorPageView.objects.filter(visitor=known, url="/cart").exists()
    assert CustomerNote.objects.get(body="匿名时").visitor_id == known.pk
    assert ConversationEvent.objects.filter(conversation=new, visitor_id=known.pk).exists()
    # The first: its identification on the other device; then the merge.
    assert identified_events(acme) == [
        (known.pk, {"by": "widget", "merged_visitor_id": None, "conversations_moved": 0}),
        (known.pk, {"by": "widget", "merged_visitor_id": anon_id, "conversations_moved": 1}),
    ]
    # The customer writes on: the open conversation goes on, in their one history.
    message, _ = services.message_send_by_visitor(
        merchant_id=acme.pk, visitor_id=known.pk, client_msg_id="m1", body="登录后继续"
    )
    assert message.conversation_id == new.pk

    # Logged out again, the browser is a new anonymous visitor: the customer's chats stay theirs.
    after = boot(client, acme, {"anonymous_id": BROWSER}).json()
    assert after["visitor_id"] not in (known.pk, anon_id)


def test_two_accounts_on_one_browser_stay_apart(client, acme):
    first = boot(client, acme, {"anonymous_id": BROWSER, "identity": identity(acme, "u-a")})
    second = boot(client, acme, {"anonymous_id": BROWSER, "identity": identity(acme, "u-b")})
    a, b = first.json()["visitor_id"], second.json()["visitor_id"]
    assert a != b
    assert Visitor.objects.get(pk=a).external_id == "u-a"
    assert Visitor.objects.get(pk=b).external_id == "u-b"


def test_another_merchants_identity_touches_nothing_here(client, acme, other):
    known = factories.visitor(other, external_id="u-9")
    body = {"anonymous_id": BROWSER, "identity": identity(acme, "u-9")}
    visitor_id = boot(client, acme, body).json()["visitor_id"]
    assert visitor_id != known.pk and Visitor.objects.get(pk=known.pk).merchant_id == other.pk


def test_site_attributes_ride_on_the_signed_identity(client, acme):
    AttributeDefinition.objects.create(
        merchant=acme, key="plan", name="套餐", kind="choice", choices=["free", "pro"]
    )
    AttributeDefinition.objects.create(merchant=acme, key="orders", name="订单", kind="number")
    attributes = {"plan": "pro", "orders": "x", "unknown": 1}
    body = {"anonymous_id": BROWSER, "identity": identity(acme, "u-3", attributes=attributes)}
    data = boot(client, acme, body).json()
    assert Visitor.objects.get(pk=data["visitor_id"]).attributes == {"plan": "pro"}
    assert set(data["attribute_errors"]) == {"orders", "unknown"}
    # Without a valid hash nothing is applied.
    forged = {"anonymous_id": BROWSER, "identity": {**identity(acme, "u-4"), "hash": "0" * 64}}
    assert boot(client, acme, forged).status_code == 400


@pytest.mark.parametrize("blocked", [False, True])
def test_bootstrap_says_whether_the_visitor_is_blocked(client, acme, blocked):
    visitor_id = boot(client, acme, {"anonymous_id": BROWSER}).json()["visitor_id"]
    if blocked:
        services.visitor_block(merchant_id=acme.pk, visitor_id=visitor_id, actor_user_id=None)
    data = boot(client, acme, {"anonymous_id": BROWSER}).json()
    assert data["blocked"] is blocked
    assert data["strings"]["blocked"]
