"""The demo shows the product (issue 14): `make run`'s merchant has the bot on and a small
bilingual knowledge base (shipping, returns, invoices, opening hours); small talk (你好, 在吗,
谢谢, hello) is answered politely in the visitor's language and never logged as a gap."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from conversations.models import Message
from knowledge.models import Faq, UnansweredQuestion
from merchants.models import Merchant
from ops.management.commands.kefu_demo import DEMO_KEY
from tests import factories
from tests.conversations.bot_kb import (  # noqa: F401 (fresh_*: autouse)
    fresh_engine_cache,
    fresh_realtime,
    new_client_msg_id,
)
from tests.conversations.realtime_helpers import run, visitor_sock
from tests.wsclient import ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)


def is_bot(frame) -> bool:
    return frame["type"] == "message.created" and frame["message"]["sender_kind"] == "bot"


def demo_merchant() -> Merchant:
    call_command("kefu_demo", base_url="http://127.0.0.1:8000", stdout=io.StringIO())
    call_command("kefu_demo", base_url="http://127.0.0.1:8000", stdout=io.StringIO())  # idempotent
    merchant = Merchant.objects.get(widget_key=DEMO_KEY)
    merchant.allowed_origins += "\n" + ORIGIN  # the test sockets' origin
    merchant.save(update_fields=["allowed_origins"])
    return merchant


def test_the_demo_bot_answers_both_languages_and_small_talk():
    merchant = demo_merchant()
    assert merchant.bot_mode == Merchant.BotMode.BOT_FIRST
    assert Faq.objects.filter(merchant=merchant).count() == 8  # once, after two runs
    questions = [
        # (visitor text, words the answer must contain)
        ("你好", "您好！请问有什么可以帮您？"),
        ("在吗？", "在的，请问有什么可以帮您？"),
        ("几天能到", "当天发货"),
        ("我想退货", "7 天内"),
        ("谢谢！", "不客气"),
    ]
    english = [
        ("hello", "Hello! What can I help you with?"),
        ("How long does shipping take?", "ship the same day"),
        ("When are you open?", "9:00 to 21:00"),
        ("Can I get an invoice?", "Invoice field"),
        ("thank you", "You are welcome"),
    ]

    async def conversation(visitor, lines):
        sock = await visitor_sock(merchant, visitor)
        answers = []
        for text, _expected in lines:
            await sock.send(
                {"type": "message.send", "client_msg_id": new_client_msg_id(), "body": text}
            )
            answers.append((await sock.until_match(is_bot))["message"])
        await sock.close()
        return answers

    for lines in (questions, english):
        visitor = factories.visitor(merchant)
        answers = run(conversation(visitor, lines))
        for (text, expected), answer in zip(lines, answers, strict=True):
            assert expected in answer["body"], (text, answer["body"])
    small = Message.objects.filter(merchant=merchant, meta__small_talk__isnull=False)
    assert small.count() == 5  # 你好, 在吗, 谢谢, hello, thank you
    # Nothing the demo visitor said is a knowledge gap.
    assert not UnansweredQuestion.objects.filter(merchant=merchant).exists()
