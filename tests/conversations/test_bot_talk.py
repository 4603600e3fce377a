"""The bot's small talk and the choices it offers, through real sockets (issue 17): greetings,
thanks and goodbyes are answered politely in the visitor's language and never recorded as a
knowledge gap; a choice can be picked by its place or in other words; "都不是" hands over and
records the question as a gap."""

import pytest

from conversations.models import Conversation, RoutingEvent
from knowledge.models import UnansweredQuestion
from tests import factories
from tests.conversations.bot_kb import (  # noqa: F401 (fresh_*: autouse)
    POINTS_EARN,
    POINTS_USE,
    fresh_engine_cache,
    fresh_realtime,
)
from tests.conversations.realtime_helpers import run, visitor_sock
from tests.conversations.test_bot_dialogue import ask

pytestmark = pytest.mark.django_db(transaction=True)


def test_small_talk_is_answered_in_the_visitors_language_and_is_no_gap(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        replies = [await ask(sock, text) for text in ("你好", "在吗？", "thanks!", "再见")]
        await sock.close()
        return replies

    hello, there, thanks, bye = run(scenario())
    assert hello["body"] == "您好！请问有什么可以帮您？"
    assert hello["meta"]["small_talk"] == "greeting"
    assert there["body"] == "在的，请问有什么可以帮您？"
    assert thanks["body"] == "You are welcome. Is there anything else I can help you with?"
    assert bye["meta"]["small_talk"] == "bye" and bye["body"] == "再见，感谢您的咨询！"
    assert not UnansweredQuestion.objects.filter(merchant=shop).exists()
    conversation = Conversation.objects.get(visitor=visitor)
    assert conversation.bot_active and conversation.bot_state.get("low", 0) == 0


def test_a_greeting_before_a_question_is_a_question(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        reply = await ask(sock, "你好，今天天气怎么样")
        await sock.close()
        return reply

    reply = run(scenario())
    assert reply["meta"].get("unanswered") is True
    assert UnansweredQuestion.objects.get(merchant=shop).text == "你好，今天天气怎么样"


@pytest.mark.parametrize("pick", ["第2个", "第二个", "后面那个", "最后一个"])
def test_a_choice_is_picked_by_its_place(shop, pick):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        offer = await ask(sock, "积分")
        picked = await ask(sock, pick)
        await sock.close()
        return offer, picked

    offer, picked = run(scenario())
    labels = [c["label"] for c in offer["meta"]["choices"]]
    assert len(labels) == 2
    answers = {"会员积分怎么用": POINTS_USE, "会员积分怎么获得": POINTS_EARN}
    assert picked["body"] == answers[labels[1]] and picked["meta"]["picked"] is True


def test_a_reworded_choice_is_picked(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        offer = await ask(sock, "积分")
        picked = await ask(sock, "积分怎么获得")
        await sock.close()
        return offer, picked

    offer, picked = run(scenario())
    assert offer["meta"]["clarify"] is True
    assert picked["body"] == POINTS_EARN and picked["meta"]["picked"] is True


def test_none_of_these_hands_over_and_records_the_question(shop):
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        offer = await ask(sock, "积分")
        handed = await ask(sock, "都不是")
        await sock.close()
        return offer, handed

    offer, handed = run(scenario())
    assert offer["meta"]["clarify"] is True
    assert handed["meta"]["handover"] == "none_of_these"
    conversation = Conversation.objects.get(visitor=visitor)
    assert not conversation.bot_active
    event = RoutingEvent.objects.get(conversation=conversation, kind=RoutingEvent.Kind.HANDOVER)
    assert event.detail["reason"] == "none_of_these"
    gap = UnansweredQuestion.objects.get(merchant=shop)
    assert gap.text == "积分" and gap.conversation_id == conversation.pk
