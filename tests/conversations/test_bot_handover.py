"""Hand-over to a person, through real sockets: on request (words or the widget's button), after
repeated answers without confidence, on anger, when slot answers keep not fitting, without a
trained knowledge base; the agent gets the conversation with a private note (bot transcript,
intent, sentiment) that never reaches the visitor. Also the outside-hours mode."""

import datetime as dt

import pytest

from conversations.models import Message, RoutingEvent
from conversations.services import NEGATIVE_PRIORITY
from knowledge.models import UnansweredQuestion
from merchants.models import BusinessHours, Merchant
from tests import factories
from tests.conversations.bot_kb import (  # noqa: F401 (fresh_*: autouse)
    RETURNS,
    build_kb,
    fresh_engine_cache,
    fresh_realtime,
)
from tests.conversations.realtime_helpers import agent_sock, quiet_all, run, visitor_sock
from tests.conversations.test_bot_dialogue import ask, conversation_of, is_bot
from tests.wsclient import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

ANGRY = "太差劲了，我非常生气，等了三天还没发货！"


def is_note(frame) -> bool:
    return frame["type"] == "message.created" and frame["message"]["private"]


def handover_event(conversation) -> RoutingEvent:
    return RoutingEvent.objects.get(conversation=conversation, kind=RoutingEvent.Kind.HANDOVER)


def no_private_message(log) -> bool:
    return not [
        f
        for f in log
        if f["type"] in ("message.created", "history")
        and any(
            m.get("private")
            for m in ([f["message"]] if f["type"] == "message.created" else f["messages"])
        )
    ]


@pytest.mark.parametrize("channel_layer_kind", ["memory", "redis"], indirect=True)
def test_visitor_asks_for_a_person_and_the_agent_gets_transcript_and_intent(
    shop, bob, channel_layer_kind
):
    visitor = factories.visitor(shop, name="访客")
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(shop.pk, cookie, "bob")
        sock = await visitor_sock(shop, visitor)
        answer = await ask(sock, "怎么退货")
        line = await ask(sock, "转人工")
        state = await sock.until_match(
            lambda f: f["type"] == "conversation.state" and f["conversation"]["bot_active"] is False
        )
        note = await agent.until_match(is_note)
        await quiet_all(agent, sock)
        # From now on a person answers: the bot stays silent.
        await sock.send({"type": "message.send", "client_msg_id": "later", "body": "还在吗"})
        await sock.until("message.ack")
        after = await quiet_all(agent, sock)
        await agent.close()
        await sock.close()
        return answer, line, state, note, sock.log, after

    answer, line, state, note, visitor_log, after = run(scenario())
    assert answer["body"] == RETURNS
    assert line["meta"]["handover"] == "visitor_request" and line["meta"]["offline"] is False
    assert state["conversation"]["bot_active"] is False
    message = note["message"]
    assert message["sender_kind"] == "system" and message["private"] is True
    assert "怎么退货" in message["body"] and RETURNS in message["body"]  # the transcript
    assert "转人工" in message["body"]
    assert message["meta"]["intent"] == "怎么退货"
    assert message["meta"]["handover"] == "visitor_request"
    assert no_private_message(visitor_log)
    assert not [f for f in after["bob"] + after["visitor"] if is_bot(f)]
    conversation = conversation_of(visitor)
    assert not conversation.bot_active and conversation.handed_over_at is not None
    assert conversation.intent == "怎么退货"
    assert conversation.assignee_id == bob.user_id  # bob is online: routed to him
    event = handover_event(conversation)
    assert event.detail["reason"] == "visitor_request" and event.detail["intent"] == "怎么退货"


def test_the_widget_button_hands_over_once(shop, bob):
    visitor, stranger = factories.visitor(shop), factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        await ask(sock, "怎么退货")
        await sock.send({"type": "handover.request"})
        line = (await sock.until_match(is_bot))["message"]
        state = await sock.until("conversation.state")
        await quiet_all(sock)
        await sock.send({"type": "handover.request"})  # a double click: just the state
        again = await quiet_all(sock)
        await sock.close()
        # A visitor who never wrote has nothing to hand over.
        other = await visitor_sock(shop, stranger)
        await other.send({"type": "handover.request"})
        error = await other.until("error")
        await other.close()
        return line, state, again, error, sock.log

    line, state, again, error, log = run(scenario())
    assert line["meta"]["handover"] == "visitor_request"
    assert line["meta"]["offline"] is True  # no agent online
    assert state["conversation"]["bot_active"] is False
    assert [f["type"] for f in again["visitor"]] == ["conversation.state"]
    assert again["visitor"][0]["conversation"]["bot_active"] is False
    assert error["code"] == "not_found"
    assert no_private_message(log)
    conversation = conversation_of(visitor)
    assert conversation.queued_at is not None  # nobody online: waiting in the queue
    assert conversation.messages.filter(is_private=True).count() == 1
    assert RoutingEvent.objects.filter(conversation=conversation, kind="handover").count() == 1


def test_repeated_low_confidence_hands_over_and_logs_the_gaps(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        first = await ask(sock, "今天天气怎么样")
        second = await ask(sock, "你们老板是谁")
        await sock.close()
        return first, second

    first, second = run(scenario())
    assert first["meta"]["unanswered"] is True
    assert second["meta"]["handover"] == "low_confidence"
    assert sorted(
        UnansweredQuestion.objects.filter(merchant=shop).values_list("text", flat=True)
    ) == ["今天天气怎么样", "你们老板是谁"]
    conversation = conversation_of(visitor)
    assert handover_event(conversation).detail["reason"] == "low_confidence"
    assert not conversation.bot_active


def test_anger_hands_over_at_once_with_the_sentiment_in_the_note(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        line = await ask(sock, ANGRY)
        await sock.close()
        return line

    line = run(scenario())
    assert line["meta"]["handover"] == "negative"
    conversation = conversation_of(visitor)
    stored = conversation.messages.get(sender_kind="visitor")
    assert stored.sentiment_score <= -0.6
    note = conversation.messages.get(is_private=True)
    assert note.meta["sentiment_label"] == "negative"
    assert note.meta["sentiment_score"] == stored.sentiment_score
    assert f"{stored.sentiment_score:.2f}" in note.body
    assert conversation.priority == NEGATIVE_PRIORITY  # served first from the queue
    assert handover_event(conversation).detail["sentiment"] == "negative"


def test_slot_answers_that_never_fit_hand_over(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        replies = [await ask(sock, text) for text in ("查物流", "abc", "不知道", "xyz")]
        await sock.close()
        return replies

    prompt, re1, re2, line = run(scenario())
    assert prompt["meta"]["slot"] == "order_no"
    assert re1["meta"]["reprompt"] and re2["meta"]["reprompt"]
    assert line["meta"]["handover"] == "low_confidence"
    conversation = conversation_of(visitor)
    assert conversation.intent == "order_status"
    assert conversation.bot_state == {}


def test_without_a_trained_knowledge_base_a_person_takes_over_at_once(acme):
    Merchant.objects.filter(pk=acme.pk).update(bot_mode=Merchant.BotMode.BOT_FIRST)
    visitor = factories.visitor(acme)
    factories.visitor_message(visitor, "怎么退货")
    conversation = conversation_of(visitor)
    assert not conversation.bot_active and conversation.handed_over_at is not None
    assert handover_event(conversation).detail["reason"] == "no_kb"
    bot = conversation.messages.get(sender_kind="bot")
    assert bot.meta["handover"] == "no_kb"
    assert conversation.messages.filter(is_private=True).count() == 1
    assert conversation.queued_at is not None


def _all_day(merchant):
    for weekday in range(7):
        BusinessHours.objects.create(
            merchant=merchant,
            weekday=weekday,
            opens=dt.time(0, 0),
            closes=dt.time(23, 59, 59, 999999),
        )


def test_outside_hours_mode_answers_only_while_closed(acme, other):
    for merchant in (acme, other):
        Merchant.objects.filter(pk=merchant.pk).update(
            bot_mode=Merchant.BotMode.OUTSIDE_HOURS, business_hours_enabled=True
        )
        merchant.refresh_from_db()
        build_kb(merchant)
    _all_day(other)  # other is open now; acme has no hours: closed
    closed_visitor, open_visitor = factories.visitor(acme), factories.visitor(other)

    async def scenario():
        sock = await visitor_sock(acme, closed_visitor)
        answer = await ask(sock, "怎么退货")
        line = await ask(sock, "human")
        await sock.close()
        sock = await visitor_sock(other, open_visitor)
        await sock.send({"type": "message.send", "client_msg_id": "o1", "body": "怎么退货"})
        await sock.until("message.ack")
        quiet = await quiet_all(sock)
        await sock.close()
        return answer, line, quiet

    answer, line, quiet = run(scenario())
    assert answer["body"] == RETURNS
    # Closed: the visitor is told to leave a message (the widget offers its form).
    assert line["meta"] == {"handover": "visitor_request", "offline": True}
    assert line["body"].startswith("No agent is available")  # English: the visitor wrote English
    assert not [f for f in quiet["visitor"] if is_bot(f)]
    open_conversation = conversation_of(open_visitor)
    assert not open_conversation.bot_active
    assert not Message.objects.filter(conversation=open_conversation, sender_kind="bot").exists()


def test_an_agent_claiming_the_conversation_silences_the_bot(shop, bob):
    visitor = factories.visitor(shop)
    factories.visitor_message(visitor, "怎么退货")
    conversation = conversation_of(visitor)
    assert conversation.bot_active
    factories.agent_message(bob, conversation.pk, "我来帮您")  # replying claims it
    factories.visitor_message(visitor, "怎么开发票")
    conversation.refresh_from_db()
    assert not conversation.bot_active and conversation.assignee_id == bob.user_id
    assert conversation.messages.filter(sender_kind="bot").count() == 1
    assert isinstance(conversation.bot_state, dict)


def test_an_intent_whose_action_is_hand_over(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        line = await ask(sock, "我想批发")
        await sock.close()
        return line

    line = run(scenario())
    assert line["meta"]["handover"] == "action"
    conversation = conversation_of(visitor)
    assert conversation.intent == "wholesale"
    assert handover_event(conversation).detail == {
        "reason": "action",
        "intent": "wholesale",
        "sentiment": "neutral",
        "offline": True,
    }


def test_a_bot_failure_hands_over_instead_of_leaving_the_visitor_alone(shop, monkeypatch):
    from conversations import bot

    def broken(self):
        raise RuntimeError("bug")

    monkeypatch.setattr(bot._Turn, "run", broken)  # a bug in our own code, simulated
    visitor = factories.visitor(shop)
    factories.visitor_message(visitor, "怎么退货")
    conversation = conversation_of(visitor)
    assert not conversation.bot_active and conversation.queued_at is not None
    assert handover_event(conversation).detail["reason"] == "bot_error"
    # Nothing from the broken bot; the visitor is told a person takes over (a system line).
    assert not conversation.messages.exclude(sender_kind="visitor").exclude(kind="event").exists()
    assert [m.meta for m in conversation.messages.filter(kind="event")] == [{"system": "handover"}]
