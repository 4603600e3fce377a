"""Domain events (conversations/events.py): each lifecycle fact is one ConversationEvent row,
written in the transaction of the change, announced after the commit, never for a change that
rolled back, and scoped by merchant."""

from __future__ import annotations

import pytest
from django.db import transaction

from conversations import services, signals
from conversations.models import ConversationEvent
from kefu.errors import KefuError
from tests import factories
from tests.conversations.routing_helpers import (  # noqa: F401 (english, fresh_realtime: autouse)
    english,
    fresh_realtime,
    go_online,
)

Kind = ConversationEvent.Kind


def kinds(merchant) -> list[str]:
    return list(
        ConversationEvent.objects.filter(merchant=merchant)
        .order_by("id")
        .values_list("kind", flat=True)
    )


def test_a_conversations_life_is_recorded_in_order(acme, bob, alice):
    visitor = factories.visitor(acme)
    first = factories.visitor_message(visitor, "我要开发票")
    factories.visitor_message(visitor, "在吗")
    conversation_id = first.conversation_id
    services.conversation_claim(
        merchant_id=acme.pk, conversation_id=conversation_id, user_id=bob.user_id
    )
    factories.agent_message(bob, conversation_id, "您好")
    factories.agent_message(bob, conversation_id, "请稍等")
    services.conversation_transfer(
        merchant_id=acme.pk,
        conversation_id=conversation_id,
        actor_user_id=bob.user_id,
        to_user_id=alice.user_id,
    )
    services.conversation_set_status(
        merchant_id=acme.pk,
        conversation_id=conversation_id,
        actor_user_id=alice.user_id,
        status="resolved",
    )
    services.conversation_set_status(
        merchant_id=acme.pk,
        conversation_id=conversation_id,
        actor_user_id=alice.user_id,
        status="open",
    )
    assert kinds(acme) == [
        Kind.CONVERSATION_CREATED,
        Kind.CONVERSATION_ASSIGNED,  # bob claims
        Kind.FIRST_REPLY,  # once, for the first agent message only
        Kind.CONVERSATION_TRANSFERRED,
        Kind.CONVERSATION_RESOLVED,
        Kind.CONVERSATION_REOPENED,
        Kind.CONVERSATION_ASSIGNED,  # alice reopened it and keeps it
    ]
    rows = {e.kind: e for e in ConversationEvent.objects.filter(merchant=acme)}
    assert {e.conversation_id for e in rows.values()} == {conversation_id}
    assert {e.visitor_id for e in rows.values()} == {visitor.pk}
    transfer = rows[Kind.CONVERSATION_TRANSFERRED]
    assert (transfer.data["from_user_id"], transfer.data["to_user_id"]) == (
        bob.user_id,
        alice.user_id,
    )
    assert transfer.actor_id == bob.user_id
    first_reply = rows[Kind.FIRST_REPLY]
    assert first_reply.actor_id == bob.user_id and first_reply.data["seconds"] >= 0
    assert rows[Kind.CONVERSATION_RESOLVED].actor_id == alice.user_id
    assert not ConversationEvent.objects.exclude(merchant=acme).exists()


def test_the_signal_comes_after_the_commit_with_the_row(acme, django_capture_on_commit_callbacks):
    heard = []

    def receiver(sender, *, merchant_id, event_id, kind, **kw):
        heard.append((merchant_id, kind, ConversationEvent.objects.filter(pk=event_id).exists()))

    signals.event_recorded.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            factories.visitor_message(factories.visitor(acme), "hello")
        assert heard == []  # nothing while the transaction is open
        for callback in callbacks:
            callback()
    finally:
        signals.event_recorded.disconnect(receiver)
    assert heard == [(acme.pk, Kind.CONVERSATION_CREATED, True)]


def test_a_change_that_rolls_back_leaves_no_event(acme, bob):
    visitor = factories.visitor(acme)
    conversation_id = factories.visitor_message(visitor).conversation_id
    before = kinds(acme)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.conversation_claim(
            merchant_id=acme.pk, conversation_id=conversation_id, user_id=bob.user_id
        )
        raise RuntimeError("the caller's transaction fails after the claim")
    assert kinds(acme) == before


def test_a_refused_change_records_nothing(acme, bob, charlie):
    conversation_id = factories.visitor_message(factories.visitor(acme)).conversation_id
    before = kinds(acme)
    with pytest.raises(KefuError):
        services.conversation_claim(
            merchant_id=acme.pk, conversation_id=conversation_id, user_id=charlie.user_id
        )
    assert kinds(acme) == before
