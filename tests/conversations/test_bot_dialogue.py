"""The bot through real sockets: the visitor's widget socket and an agent's workspace socket on
the real ASGI application, messages stored by the real services, the bot called after commit.

Covers answering, clarifying choices, follow-ups in context, slot filling, the agent's view and
plain-text answers. Hand-over: test_bot_handover.py."""

import pytest

from conversations.models import Conversation, Message, RoutingEvent
from knowledge.models import Faq, UnansweredQuestion
from tests import factories
from tests.conversations.bot_kb import (  # noqa: F401 (fresh_*: autouse)
    INVOICE,
    POINTS_EARN,
    POINTS_USE,
    RETURN_SHIPPING,
    RETURNS,
    SHIPPING,
    build_kb,
    fresh_engine_cache,
    fresh_realtime,
    new_client_msg_id,
)
from tests.conversations.realtime_helpers import agent_sock, quiet_all, run, visitor_sock
from tests.wsclient import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def is_bot(frame) -> bool:
    return frame["type"] == "message.created" and frame["message"]["sender_kind"] == "bot"


async def ask(sock, text: str) -> dict:
    """Send as the visitor; the bot's answer as the visitor's socket received it."""
    await sock.send({"type": "message.send", "client_msg_id": new_client_msg_id(), "body": text})
    return (await sock.until_match(is_bot))["message"]


def conversation_of(visitor) -> Conversation:
    return Conversation.objects.get(visitor=visitor)


@pytest.mark.parametrize("channel_layer_kind", ["memory", "redis"], indirect=True)
def test_bot_answers_in_the_widget_and_the_agent_sees_it(shop, bob, channel_layer_kind):
    visitor = factories.visitor(shop, name="访客")
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(shop.pk, cookie, "bob")
        sock = await visitor_sock(shop, visitor)
        answer = await ask(sock, "请问怎么退货？")
        state = await sock.until("conversation.state")
        seen_by_agent = await agent.until_match(is_bot)
        got = await quiet_all(agent, sock)
        await agent.close()
        await sock.close()
        return answer, state, seen_by_agent, got, agent.log

    answer, state, seen_by_agent, got, agent_log = run(scenario())
    assert answer["body"] == RETURNS  # the stored <p> is gone: plain text
    assert answer["sender_name"] == "小墨"
    assert answer["seq"] == 2
    assert answer["meta"]["faq_id"] == shop.kb.returns.pk
    assert answer["meta"]["confidence"] >= 0.6
    assert answer["sentiment_score"] is None  # visitors never see sentiment
    # The widget learns the bot took over ("talk to a human" button).
    assert state["conversation"]["bot_active"] is True
    # The agent sees the same message, and the inbox row says the bot has it.
    assert seen_by_agent["message"]["id"] == answer["id"]
    rows = [f["conversation"] for f in agent_log if f["type"] == "conversation.updated"]
    assert rows and rows[-1]["bot_active"] is True and rows[-1]["last_seq"] == 2
    # Exactly one answer; the router left the conversation alone.
    assert not [f for f in got["bob"] + got["visitor"] if is_bot(f)]
    conversation = conversation_of(visitor)
    assert conversation.bot_active and conversation.assignee_id is None
    assert conversation.queued_at is None
    assert not RoutingEvent.objects.filter(conversation=conversation).exists()
    assert list(conversation.messages.order_by("seq").values_list("sender_kind", "sender_key")) == [
        ("visitor", "visitor"),
        ("bot", "bot"),
    ]
    assert Faq.objects.get(pk=shop.kb.returns.pk).hits == 1


def test_clarifying_question_then_the_visitor_picks_by_number_or_label(shop):
    visitor, second = factories.visitor(shop), factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        ask1 = await ask(sock, "积分")
        by_number = await ask(sock, "2")
        await sock.close()
        sock = await visitor_sock(shop, second)
        ask2 = await ask(sock, "积分")
        label = ask2["meta"]["choices"][0]["label"]
        by_label = await ask(sock, label)
        await sock.close()
        return ask1, by_number, ask2, by_label

    ask1, by_number, ask2, by_label = run(scenario())
    labels = [c["label"] for c in ask1["meta"]["choices"]]
    assert sorted(labels) == ["会员积分怎么用", "会员积分怎么获得"]
    assert ask1["meta"]["clarify"] is True
    answers = {"会员积分怎么用": POINTS_USE, "会员积分怎么获得": POINTS_EARN}
    assert by_number["body"] == answers[labels[1]]
    assert by_number["meta"]["picked"] is True
    assert by_label["body"] == answers[ask2["meta"]["choices"][0]["label"]]
    # Choices are forgotten once picked; the picked entry is the topic now.
    state = conversation_of(visitor).bot_state
    assert state.get("choices") is None
    assert state["topic"]["label"] == labels[1]


def test_follow_up_is_read_in_the_context_of_the_previous_answer(shop):
    visitor, fresh = factories.visitor(shop), factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        first = await ask(sock, "怎么退货")
        follow = await ask(sock, "那运费呢?")
        other_topic = await ask(sock, "怎么开发票")
        await sock.close()
        # Without the previous topic the same words are not about returns.
        sock = await visitor_sock(shop, fresh)
        alone = await ask(sock, "那运费呢?")
        await sock.close()
        return first, follow, other_topic, alone

    first, follow, other_topic, alone = run(scenario())
    assert first["body"] == RETURNS
    assert follow["body"] == RETURN_SHIPPING
    assert follow["meta"]["context"] is True
    assert other_topic["body"] == INVOICE and "context" not in other_topic["meta"]
    assert alone["body"] != RETURN_SHIPPING
    assert conversation_of(visitor).bot_state["topic"]["id"] == shop.kb.invoice.pk


def test_context_expires_after_a_quiet_period(shop, settings):
    settings.BOT_CONTEXT_SECONDS = 0
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        await ask(sock, "怎么退货")
        follow = await ask(sock, "那运费呢?")
        await sock.close()
        return follow

    follow = run(scenario())
    assert follow["body"] != RETURN_SHIPPING
    assert "context" not in follow["meta"]


def test_slot_filling_reasks_until_the_answer_fits(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        prompt = await ask(sock, "我的订单到哪了")
        reprompt = await ask(sock, "不记得了")
        done = await ask(sock, "订单号是 1234567890")
        after = await ask(sock, "运费多少钱")
        await sock.close()
        return prompt, reprompt, done, after

    prompt, reprompt, done, after = run(scenario())
    assert prompt["body"] == "请提供您的订单号（10位数字）。"
    assert prompt["meta"]["slot"] == "order_no" and prompt["meta"]["intent"] == "order_status"
    assert reprompt["body"] == "订单号是10位数字，请再发一次。" and reprompt["meta"]["reprompt"]
    assert done["body"] == "订单1234567890已发货，预计2天内送达。"
    assert done["meta"]["slots"] == {"order_no": "1234567890"}
    assert after["body"] == SHIPPING  # the slot is filled: back to answering questions
    conversation = conversation_of(visitor)
    assert conversation.intent == "运费多少钱"
    assert "slot" not in conversation.bot_state


def test_a_new_question_while_a_slot_is_asked_for_is_answered(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        await ask(sock, "查物流")
        switched = await ask(sock, "怎么开发票")
        await sock.close()
        return switched

    switched = run(scenario())
    assert switched["body"] == INVOICE
    assert "slot" not in conversation_of(visitor).bot_state


def test_not_understood_is_logged_as_a_knowledge_gap(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        reply = await ask(sock, "今天天气怎么样")
        answered = await ask(sock, "怎么退货")
        await sock.close()
        return reply, answered

    reply, answered = run(scenario())
    assert reply["meta"]["unanswered"] is True and reply["meta"]["confidence"] < 0.3
    assert answered["body"] == RETURNS  # one miss does not hand over; a hit resets the count
    gap = UnansweredQuestion.objects.get(merchant=shop)
    assert gap.text == "今天天气怎么样" and gap.conversation_id == conversation_of(visitor).pk
    assert conversation_of(visitor).bot_state["low"] == 0


def test_mildly_negative_message_gets_an_apology_first(shop):
    visitor = factories.visitor(shop)
    text = "有点麻烦，我想退货"

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        reply = await ask(sock, text)
        await sock.close()
        return reply

    reply = run(scenario())
    stored = Message.objects.get(conversation__visitor=visitor, sender_kind="visitor")
    assert stored.sentiment_label == "negative" and stored.sentiment_score > -0.6
    assert reply["body"].endswith(RETURNS) and reply["body"] != RETURNS
    assert conversation_of(visitor).bot_active


def test_answers_are_plain_text(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        reply = await ask(sock, "I forgot my password")
        await sock.close()
        return reply

    reply = run(scenario())
    body = reply["body"]
    assert body.startswith("Click reset")
    assert "<a" not in body and "<img" not in body and "onerror" not in body
    assert "href" not in body and "<p>" not in body
    # Escaped markup in the answer stays text for the widget to show as text.
    assert "<script>alert(1)</script>" in body


def test_bot_off_never_answers(acme, bob):
    build_kb(acme)  # a trained KB, but the merchant's bot is off
    visitor = factories.visitor(acme)
    factories.visitor_message(visitor, "怎么退货")
    conversation = conversation_of(visitor)
    assert not conversation.bot_active
    assert not conversation.messages.filter(sender_kind="bot").exists()
    assert conversation.queued_at is not None  # the router took it (nobody online: queued)
