"""The visitor's satisfaction rating (conversations/services/rating.py, the `conversation.rate`
frame): once per resolution, on the merchant's scale, recorded as a `conversation.rated` event in
the same transaction, live to the merchant's agents only; refusals store nothing."""

from __future__ import annotations

import pytest

from conversations import services
from conversations.models import Conversation, ConversationEvent
from kefu.errors import KefuError
from merchants.models import Merchant
from tests import factories
from tests.conversations.realtime_helpers import (  # noqa: F401 (fresh_realtime: autouse)
    agent_sock,
    fresh_realtime,
    quiet_all,
    run,
    visitor_sock,
)
from tests.wsclient import session_cookie

RATED = ConversationEvent.Kind.RATED


def resolved_conversation(merchant, member, text="你好"):
    visitor = factories.visitor(merchant)
    message = factories.visitor_message(visitor, text)
    services.conversation_claim(
        merchant_id=merchant.pk, conversation_id=message.conversation_id, user_id=member.user_id
    )
    services.conversation_set_status(
        merchant_id=merchant.pk,
        conversation_id=message.conversation_id,
        actor_user_id=member.user_id,
        status="resolved",
    )
    return visitor, Conversation.objects.get(pk=message.conversation_id)


def rate(conversation, rating, comment=""):
    return services.conversation_rate(
        merchant_id=conversation.merchant_id,
        visitor_id=conversation.visitor_id,
        conversation_id=conversation.pk,
        rating=rating,
        comment=comment,
    )


def test_a_rating_is_stored_with_its_event(acme, bob):
    _visitor, conversation = resolved_conversation(acme, bob)
    rate(conversation, 4, "  快，态度好 <b>x</b> ")
    conversation.refresh_from_db()
    assert (conversation.rating, conversation.rating_comment) == (4, "快，态度好 <b>x</b>")
    assert conversation.rated_at >= conversation.resolved_at
    event = ConversationEvent.objects.get(kind=RATED)
    assert event.merchant_id == acme.pk and event.conversation_id == conversation.pk
    # Figures only: the comment's text stays on the conversation.
    assert event.data == {
        "rating": 4,
        "scale": "stars",
        "has_comment": True,
        "agent_id": bob.user_id,
    }


def test_rating_twice_is_refused_and_a_new_resolution_may_be_rated(acme, bob):
    _visitor, conversation = resolved_conversation(acme, bob)
    rate(conversation, 2)
    with pytest.raises(KefuError) as refused:
        rate(conversation, 5)
    assert refused.value.code == "already_rated"
    conversation.refresh_from_db()
    assert conversation.rating == 2
    # Reopened: not resolved, so no rating; resolved again: the newest rating counts.
    services.conversation_set_status(
        merchant_id=acme.pk, conversation_id=conversation.pk, actor_user_id=bob.user_id,
        status="open",
    )  # fmt: skip
    with pytest.raises(KefuError) as refused:
        rate(conversation, 5)
    assert refused.value.code == "not_resolved"
    services.conversation_set_status(
        merchant_id=acme.pk, conversation_id=conversation.pk, actor_user_id=bob.user_id,
        status="resolved",
    )  # fmt: skip
    rate(conversation, 5)
    conversation.refresh_from_db()
    assert conversation.rating == 5
    assert ConversationEvent.objects.filter(kind=RATED).count() == 2


@pytest.mark.parametrize(
    ("scale", "rating", "code", "field"),
    [
        ("stars", 0, "invalid_frame", "rating"),
        ("stars", 6, "invalid_frame", "rating"),
        ("stars", "5", "invalid_frame", "rating"),
        ("stars", True, "invalid_frame", "rating"),
        ("three", 4, "invalid_frame", "rating"),
        ("off", 5, "rating_off", None),
    ],
)
def test_bad_ratings_store_nothing(acme, bob, scale, rating, code, field):
    Merchant.objects.filter(pk=acme.pk).update(rating_scale=scale)
    _visitor, conversation = resolved_conversation(acme, bob)
    with pytest.raises(KefuError) as refused:
        rate(conversation, rating)
    assert (refused.value.code, refused.value.field) == (code, field)
    conversation.refresh_from_db()
    assert conversation.rating is None and conversation.rated_at is None
    assert not ConversationEvent.objects.filter(kind=RATED).exists()


def test_three_step_scale_stores_five_three_one(acme, bob):
    Merchant.objects.filter(pk=acme.pk).update(rating_scale="three")
    for value in (5, 3, 1):
        _visitor, conversation = resolved_conversation(acme, bob)
        rate(conversation, value)
        conversation.refresh_from_db()
        assert conversation.rating == value


def test_bad_comments_and_open_or_foreign_conversations_are_refused(acme, bob, other, charlie):
    _visitor, conversation = resolved_conversation(acme, bob)
    for comment, code in [("x" * 1001, "invalid_frame"), ("bad \ud800", "invalid_frame")]:
        with pytest.raises(KefuError) as refused:
            rate(conversation, 3, comment)
        assert (refused.value.code, refused.value.field) == (code, "comment")
    # Another visitor, or the same id under another merchant: not found.
    stranger = factories.visitor(acme)
    with pytest.raises(KefuError) as refused:
        services.conversation_rate(
            merchant_id=acme.pk, visitor_id=stranger.pk, conversation_id=conversation.pk, rating=3
        )
    assert refused.value.code == "not_found"
    with pytest.raises(KefuError) as refused:
        services.conversation_rate(
            merchant_id=other.pk,
            visitor_id=conversation.visitor_id,
            conversation_id=conversation.pk,
            rating=3,
        )
    assert refused.value.code == "not_found"
    # Still open: nothing to rate yet.
    open_one = factories.visitor_message(factories.visitor(acme), "在吗").conversation
    with pytest.raises(KefuError) as refused:
        rate(open_one, 3)
    assert refused.value.code == "not_resolved"
    assert not ConversationEvent.objects.filter(kind=RATED).exists()
    conversation.refresh_from_db()
    assert conversation.rating is None


@pytest.mark.django_db(transaction=True)
def test_the_frame_answers_every_tab_and_only_this_merchants_agents(acme, bob, other, charlie):
    visitor, conversation = resolved_conversation(acme, bob)
    cookies = {"bob": session_cookie(bob.user), "charlie": session_cookie(charlie.user)}

    async def scenario():
        agent = await agent_sock(acme.pk, cookies["bob"], "bob")
        outsider = await agent_sock(other.pk, cookies["charlie"], "charlie")
        tab1 = await visitor_sock(acme, visitor, "tab1")
        tab2 = await visitor_sock(acme, visitor, "tab2")
        assert tab1.ready["conversation"]["status"] == "resolved"
        assert tab1.ready["conversation"]["rated"] is False
        await quiet_all(agent, outsider, tab1, tab2)
        # Bad input: an error frame with the field, the socket stays up, nothing stored.
        await tab1.send({"type": "conversation.rate", "rating": 9})
        error = await tab1.until("error")
        assert error["code"] == "invalid_frame" and "rating" in error["fields"]
        await tab1.send({"type": "conversation.rate", "rating": 5, "comment": "<img src=x>"})
        state = await tab1.until("conversation.state")
        assert state["conversation"]["rated"] is True and state["conversation"]["rating"] == 5
        await tab1.send({"type": "conversation.rate", "rating": 1})
        assert (await tab1.until("error"))["code"] == "already_rated"
        await tab1.ping()
        got = await quiet_all(agent, outsider, tab2)
        return got

    got = run(scenario())
    updated = [f for f in got["bob"] if f["type"] == "conversation.updated"]
    assert updated[-1]["conversation"]["rating"] == 5
    assert updated[-1]["conversation"]["rating_comment"] == "<img src=x>"
    assert any(
        f["type"] == "conversation.state" and f["conversation"]["rated"] for f in got["tab2"]
    )
    assert not [f for f in got["charlie"] if f["type"] == "conversation.updated"]
    conversation.refresh_from_db()
    assert conversation.rating == 5
    assert ConversationEvent.objects.filter(kind=RATED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_visitor_state_names_the_agent(acme, bob):
    visitor = factories.visitor(acme)
    message = factories.visitor_message(visitor, "你好")
    services.conversation_claim(
        merchant_id=acme.pk, conversation_id=message.conversation_id, user_id=bob.user_id
    )

    async def scenario():
        tab = await visitor_sock(acme, visitor, "tab")
        return tab.ready

    ready = run(scenario())
    assert ready["conversation"]["assigned"] is True
    assert ready["conversation"]["agent_name"] == bob.display_name
