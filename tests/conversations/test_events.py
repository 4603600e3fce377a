"""What each service publishes, in the manner of Zulip's test_events: run one service call, capture
every frame it sends through the channel layer, and assert the exact frame types, in order, and
the groups they went to (conversations/realtime.py names the groups). Every frame is also checked
against its schema in conversations/protocol/ (extra fields forbidden).

Frames leave only after the commit: inside `published()` nothing has been sent while the
transaction is open; the frames appear when its on-commit callbacks run. A private note must
never reach a visitor group: the exact lists below would fail if one did, and `no_visitor_group`
says so by name where it matters most.

Groups are shown by who they reach: "agents" (every agent socket of acme), "agent:<name>" (one
agent's sockets) and "visitor" (every tab of the visitor in the test).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated, Union

import pytest
from channels.layers import InMemoryChannelLayer, channel_layers
from pydantic import Field, TypeAdapter

from conversations import protocol, realtime, routing, services
from conversations.models import Conversation, Message
from merchants.models import Membership, Merchant
from tests import factories
from tests.conversations.routing_helpers import (  # noqa: F401 (english, fresh_realtime: autouse)
    english,
    fresh_realtime,
    go_online,
)

SERVER_FRAME = TypeAdapter(
    Annotated[Union[protocol.SERVER_FRAMES], Field(discriminator="type")]  # noqa: UP007 (a runtime tuple)
)


class RecordingLayer(InMemoryChannelLayer):
    """The in-process layer, also keeping every group_send in `sent` (group, message)."""

    sent: list[tuple[str, dict]] = []

    async def group_send(self, group, message):
        RecordingLayer.sent.append((group, message))
        await super().group_send(group, message)


@pytest.fixture
def published(settings, django_capture_on_commit_callbacks):
    """published(labels) -> a context manager yielding the list of (label, frame type) sent,
    filled when the block's transaction has committed. Set up after the autouse fresh_realtime,
    whose in-process layer it replaces."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.RecordingLayer"}}
    channel_layers.backends.clear()

    @contextmanager
    def capture(labels: dict[str, str]):
        RecordingLayer.sent = []
        events: list[tuple[str, str]] = []
        with django_capture_on_commit_callbacks(execute=True):
            yield events
            assert RecordingLayer.sent == [], "published before the commit"
        for group, message in RecordingLayer.sent:
            frame = SERVER_FRAME.validate_python(message["frame"])  # the schema, extras forbidden
            assert message["type"] == frame.type
            assert group in labels, f"a frame went to {group!r}, not one of {sorted(labels)}"
            events.append((labels[group], frame.type))

    yield capture
    channel_layers.backends.clear()


def groups(merchant: Merchant, visitor=None, **agents: Membership) -> dict[str, str]:
    labels = {realtime.agents_group(merchant.pk): "agents"}
    if visitor is not None:
        labels[realtime.visitor_group(visitor.pk)] = "visitor"
    for name, membership in agents.items():
        labels[realtime.agent_group(merchant.pk, membership.user_id)] = f"agent:{name}"
    return labels


def no_visitor_group(events) -> bool:
    return all(label != "visitor" for label, _ in events)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """For set-up: run what the block's commit triggers (the router after a visitor message)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def visitor_says(visitor, committed, body: str = "在吗？") -> Conversation:
    with committed():
        return factories.visitor_message(visitor, body).conversation


def assigned_to(membership: Membership, visitor, committed) -> Conversation:
    """A conversation of `visitor` with one message, assigned to `membership` (online)."""
    go_online(membership)
    conversation = visitor_says(visitor, committed)
    conversation.refresh_from_db()
    assert conversation.assignee_id == membership.user_id
    return conversation


# --- Messages ---------------------------------------------------------------------------------


def test_visitor_message_nobody_online_is_queued(acme, bob, published):
    visitor = factories.visitor(acme)
    with published(groups(acme, visitor, bob=bob)) as events:
        services.message_send_by_visitor(
            merchant_id=acme.pk, visitor_id=visitor.pk, client_msg_id="v-1", body="在吗？"
        )
    assert events == [
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
        # The router, after the message's commit: queued, nobody to assign.
        ("agents", "routing.event"),
        ("agents", "conversation.updated"),
        ("agents", "queue.changed"),
        ("visitor", "conversation.state"),
    ]


def test_visitor_message_assigned_to_the_online_agent(acme, bob, published):
    go_online(bob)
    visitor = factories.visitor(acme)
    with published(groups(acme, visitor, bob=bob)) as events:
        services.message_send_by_visitor(
            merchant_id=acme.pk, visitor_id=visitor.pk, client_msg_id="v-1", body="在吗？"
        )
    assert events == [
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
        ("agents", "routing.event"),
        # The visitor's system line ("bob joined"): stored, so published like a message.
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "conversation.state"),  # who joined: the widget's header names bob
        ("agent:bob", "notification"),
    ]


def test_visitor_message_in_an_assigned_conversation(acme, bob, committed, published):
    visitor = factories.visitor(acme)
    assigned_to(bob, visitor, committed)
    with published(groups(acme, visitor, bob=bob)) as events:
        factories.visitor_message(visitor, "还在吗？")
    assert events == [
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
    ]


def test_agent_reply(acme, bob, committed, published):
    visitor = factories.visitor(acme)
    conversation = assigned_to(bob, visitor, committed)
    with published(groups(acme, visitor, bob=bob)) as events:
        factories.agent_message(bob, conversation.pk, "您好")
    assert events == [
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
    ]


def test_private_note_never_reaches_the_visitor(acme, bob, committed, published):
    visitor = factories.visitor(acme)
    conversation = assigned_to(bob, visitor, committed)
    with published(groups(acme, visitor, bob=bob)) as events:
        factories.agent_message(bob, conversation.pk, "老客户", private=True)
    assert events == [
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
    ]
    assert no_visitor_group(events)


def test_the_capture_would_catch_a_note_sent_to_the_visitor(
    acme, bob, committed, published, monkeypatch
):
    """The check above can fail: with recipients chosen wrongly (a note fanned out like a
    reply), the capture sees the visitor group."""
    visitor = factories.visitor(acme)
    conversation = assigned_to(bob, visitor, committed)

    def careless(message, conversation):
        for group in (
            realtime.agents_group(conversation.merchant_id),
            realtime.visitor_group(conversation.visitor_id),
        ):
            realtime.publish_on_commit(
                group, protocol.MessageCreatedFrame(message=realtime.message_out(message))
            )

    monkeypatch.setattr(realtime, "message_created", careless)
    with published(groups(acme, visitor, bob=bob)) as events:
        factories.agent_message(bob, conversation.pk, "老客户", private=True)
    assert not no_visitor_group(events)


def test_bot_answer_and_bot_note(acme, bob, committed, published):
    visitor = factories.visitor(acme)
    conversation = assigned_to(bob, visitor, committed)
    labels = groups(acme, visitor, bob=bob)
    with published(labels) as answer:
        services.message_send_by_bot(
            merchant_id=acme.pk, conversation_id=conversation.pk, body="满99元包邮。"
        )
    assert answer == [
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
    ]
    with published(labels) as note:
        services.message_send_by_bot(
            merchant_id=acme.pk, conversation_id=conversation.pk, body="转人工：访客要求", note=True
        )
    assert note == [
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
    ]
    assert no_visitor_group(note)


def test_visitor_frame_leaves_out_what_only_agents_see(acme, bob, published):
    """The visitor's copy of their own message carries no sentiment; the agents' copy may."""
    visitor = factories.visitor(acme)
    with published(groups(acme, visitor)):
        services.message_send_by_visitor(
            merchant_id=acme.pk, visitor_id=visitor.pk, client_msg_id="v-1", body="太差了，气死我了"
        )
    to_visitor = [
        m["frame"]
        for g, m in RecordingLayer.sent
        if g == realtime.visitor_group(visitor.pk) and m["type"] == "message.created"
    ]
    to_agents = [
        m["frame"]
        for g, m in RecordingLayer.sent
        if g == realtime.agents_group(acme.pk) and m["type"] == "message.created"
    ]
    assert to_visitor[0]["message"]["sentiment_label"] == ""
    assert to_visitor[0]["message"]["sentiment_score"] is None
    assert to_agents[0]["message"]["sentiment_label"] != ""


# --- Read marks, page views, visitor updates ------------------------------------------------


def test_agent_reads(acme, bob, committed, published):
    visitor = factories.visitor(acme)
    conversation = assigned_to(bob, visitor, committed)
    with published(groups(acme, visitor, bob=bob)) as events:
        services.conversation_mark_read_by_agent(
            merchant_id=acme.pk, conversation_id=conversation.pk, seq=1, user_id=bob.user_id
        )
    assert events == [
        ("agents", "conversation.updated"),
        ("agents", "conversation.read"),
        ("visitor", "conversation.read"),
    ]


def test_visitor_reads(acme, bob, committed, published):
    visitor = factories.visitor(acme)
    conversation = assigned_to(bob, visitor, committed)
    factories.agent_message(bob, conversation.pk, "您好")
    with published(groups(acme, visitor, bob=bob)) as events:
        services.conversation_mark_read_by_visitor(
            merchant_id=acme.pk, visitor_id=visitor.pk, conversation_id=conversation.pk, seq=2
        )
    assert events == [
        ("agents", "conversation.read"),
        ("visitor", "conversation.read"),
    ]


def test_page_view_reaches_agents_only(acme, published):
    visitor = factories.visitor(acme)
    with published(groups(acme, visitor)) as events:
        services.visitor_page_view(
            merchant_id=acme.pk,
            visitor_id=visitor.pk,
            url="https://shop.example.com/cart",
            title="购物车",
        )
    assert events == [("agents", "visitor.updated")]


def test_leave_a_message_form(acme, bob, published):
    visitor = factories.visitor(acme)
    with published(groups(acme, visitor, bob=bob)) as events:
        services.offline_message_create(
            merchant_id=acme.pk,
            visitor_id=visitor.pk,
            name="张三",
            email="zhang@example.com",
            body="请回电",
            client_msg_id="o-1",
        )
    assert events == [
        ("agents", "visitor.updated"),  # the name and contact they left
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),  # their own message, on their other tabs
        ("agents", "routing.event"),  # why: left through the form
        ("agents", "routing.event"),  # queued
        ("agents", "conversation.updated"),
        ("agents", "queue.changed"),
        ("visitor", "conversation.state"),
    ]


# --- Routing actions: claim, transfer, status, queue ------------------------------------------


@pytest.fixture
def queued(acme, bob, committed):
    """Two visitors waiting in acme's queue (nobody online)."""
    first, second = factories.visitor(acme, name="一"), factories.visitor(acme, name="二")
    conversations = [visitor_says(v, committed) for v in (first, second)]
    for conversation in conversations:
        conversation.refresh_from_db()
        assert conversation.queued_at is not None
    return list(zip((first, second), conversations))


def test_claim_from_the_queue(acme, bob, queued, published):
    (first, conversation), (second, _) = queued
    labels = groups(acme, first, bob=bob)
    labels[realtime.visitor_group(second.pk)] = "visitor 2"
    with published(labels) as events:
        services.conversation_claim(
            merchant_id=acme.pk, conversation_id=conversation.pk, user_id=bob.user_id
        )
    assert events == [
        ("agents", "routing.event"),
        # The visitor's system line ("bob joined"): stored, so published like a message.
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
        ("visitor", "conversation.state"),
        ("agents", "conversation.updated"),
        # The queue moved up: agents see it, the visitor behind learns their new place.
        ("agents", "queue.changed"),
        ("visitor 2", "conversation.state"),
    ]


def test_transfer_with_a_note(acme, alice, bob, committed, published):
    carol = factories.member(acme, "carol", Membership.Role.AGENT)
    go_online(carol)
    visitor = factories.visitor(acme)
    conversation = assigned_to(bob, visitor, committed)
    with published(groups(acme, visitor, bob=bob, carol=carol)) as events:
        services.conversation_transfer(
            merchant_id=acme.pk,
            conversation_id=conversation.pk,
            actor_user_id=bob.user_id,
            to_user_id=carol.user_id,
            note="老客户，要退货",
        )
    assert events == [
        # The note is private: agents only.
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("agents", "routing.event"),
        # "Your conversation was transferred to carol": a stored line the visitor sees.
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
        ("agents", "conversation.updated"),
        # The visitor hears who has the chat now (the widget's header), never the note.
        ("visitor", "conversation.state"),
        ("agent:carol", "notification"),
    ]
    note = Message.objects.get(conversation=conversation, body="老客户，要退货")
    assert note.is_private


def test_resolve_and_reopen(acme, bob, committed, published):
    visitor = factories.visitor(acme)
    conversation = assigned_to(bob, visitor, committed)
    labels = groups(acme, visitor, bob=bob)
    with published(labels) as resolved:
        services.conversation_set_status(
            merchant_id=acme.pk,
            conversation_id=conversation.pk,
            actor_user_id=bob.user_id,
            status="resolved",
        )
    assert resolved == [
        ("agents", "routing.event"),
        # "The conversation has ended": the visitor's system line.
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "conversation.state"),
    ]
    with published(labels) as reopened:
        services.conversation_set_status(
            merchant_id=acme.pk,
            conversation_id=conversation.pk,
            actor_user_id=bob.user_id,
            status="open",
        )
    # Reopened, then routed again (sticky: back to bob, who reopened it and needs no notice).
    assert reopened == [
        ("agents", "routing.event"),
        ("agents", "routing.event"),
        # The visitor's system line ("bob joined"): stored, so published like a message.
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
        ("visitor", "conversation.state"),  # bob has it again (the widget's header)
        ("agents", "conversation.updated"),
        ("visitor", "conversation.state"),
    ]


def test_queue_drain_when_an_agent_comes_online(acme, bob, queued, published):
    (first, one), (second, two) = queued
    go_online(bob)
    labels = groups(acme, first, bob=bob)
    labels[realtime.visitor_group(second.pk)] = "visitor 2"
    with published(labels) as events:
        assert routing.queue_drain(merchant_id=acme.pk) == 2
    assert events == [
        ("agents", "routing.event"),
        # The visitor's system line ("bob joined"): stored, so published like a message.
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor", "conversation.state"),
        ("agents", "routing.event"),
        ("agents", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor 2", "message.created"),
        ("agents", "conversation.updated"),
        ("visitor 2", "conversation.state"),
        ("agents", "queue.changed"),
        ("agent:bob", "notification"),
        ("agent:bob", "notification"),
    ]


def test_nothing_is_published_when_the_transaction_rolls_back(acme, bob, committed, published):
    visitor = factories.visitor(acme)
    conversation = assigned_to(bob, visitor, committed)
    from django.db import transaction

    with published(groups(acme, visitor, bob=bob)) as events:
        with pytest.raises(RuntimeError), transaction.atomic():
            factories.agent_message(bob, conversation.pk, "撤回")
            raise RuntimeError("rolled back")
    assert events == []
    assert not Message.objects.filter(body="撤回").exists()


def test_every_server_frame_type_is_known_to_the_capture():
    """The schema check above uses protocol.SERVER_FRAMES: a frame class missing there would
    make its events fail here instead of passing unchecked."""
    types = {cls.model_fields["type"].default for cls in protocol.SERVER_FRAMES}
    assert {
        "message.created",
        "conversation.updated",
        "conversation.read",
        "visitor.updated",
        "routing.event",
        "queue.changed",
        "conversation.state",
        "notification",
    } <= types
