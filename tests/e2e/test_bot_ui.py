"""The bot as people see it: its answers and clarifying choices in the widget (a choice sends its
label), the "talk to a human" button, and in the workspace the bot's styling and confidence,
each visitor message's sentiment, the trend in the header, the hand-over, and the suggested
answers an agent can insert. Real daphne, real Chromium, a trained knowledge base.

One clarifying question is stored by the test through the message path the bot uses, with
hostile text and fixed choices (what the real bot asks depends on its model); the widget gets it
from the server's replay, as after any reconnect."""

import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, Message, RoutingEvent
from knowledge import sentiment

from .conftest import in_thread, login, open_row, open_widget, widget_say

pytestmark = [pytest.mark.browser, pytest.mark.live]

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
ANGRY = "太差劲了，我非常生气，等了三天还没发货！"


def bot_says(conversation_id: int, body: str, meta: dict) -> Message:
    def store():
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update()
                .select_related("visitor")
                .get(pk=conversation_id)
            )
            return services.message_append(
                conversation=conversation,
                body=body,
                client_msg_id=None,
                meta=meta,
                sender=services.Sender(kind=Message.SenderKind.BOT, key="bot", name="小墨"),
            )

    return in_thread(store)


def test_bot_choices_handover_sentiment_and_styling(
    daphne_server, shop, agent, new_page, screenshots
):
    from knowledge import services as kb
    from knowledge import training

    shop.bot_mode = "bot_first"
    shop.bot_name = "小墨"
    shop.save(update_fields=["bot_mode", "bot_name"])
    kb.faq_create(
        merchant_id=shop.pk, question="怎么申请退货？", answer="在订单页点击申请退货，7 天内可退。"
    )
    kb.faq_create(
        merchant_id=shop.pk, question="物流怎么查？", answer="在订单详情里可以看到物流单号。"
    )
    kb.faq_create(merchant_id=shop.pk, question="发票怎么开？", answer="下单时填写发票抬头。")
    training.kb_train(merchant_id=shop.pk)

    base = daphne_server.url
    visitor, visitor_watch = new_page("en-US")
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "怎么申请退货")
    # The bot answers first, and offers a person.
    answers = widget.locator(".msg.bot")
    expect(answers).to_have_count(1)
    handover = widget.locator("button.handover")
    expect(handover).to_be_visible()
    conversation = Conversation.objects.get(merchant=shop)
    assert conversation.bot_active

    # A clarifying question with hostile text and choices, as the bot stores one.
    bot_says(
        conversation.pk,
        IMG + " 您是想退货，还是查询物流？",
        {"confidence": 0.42, "intent": "", "choices": [{"label": "物流怎么查"}, {"label": SCRIPT}]},
    )
    visitor.reload()  # the panel stays open; the server replays what is new
    question = answers.nth(1)
    expect(question.locator(".bubble")).to_have_text(IMG + " 您是想退货，还是查询物流？")
    expect(question.locator(".meta")).to_contain_text("小墨")
    choices = question.locator("button.choice")
    expect(choices).to_have_text(["物流怎么查", SCRIPT])
    visitor.screenshot(path=str(screenshots / "widget-bot.png"))

    # A choice is sent as the visitor's message, once, and the bot answers it.
    choices.first.click()
    expect(widget.locator(".msg.mine:not(.pending) .bubble")).to_have_text(
        ["怎么申请退货", "物流怎么查"]
    )
    expect(choices.first).to_be_disabled()
    expect(choices.last).to_be_disabled()
    expect(answers).to_have_count(3)
    assert list(
        Message.objects.filter(conversation=conversation, sender_kind="visitor")
        .order_by("seq")
        .values_list("body", flat=True)
    ) == ["怎么申请退货", "物流怎么查"]

    # Talk to a human: the bot steps aside; nobody is online, so the visitor is queued.
    handover.click()
    expect(handover).to_be_hidden()
    expect(widget.locator(".status-text")).to_have_text("You are next in line")
    conversation.refresh_from_db()
    assert not conversation.bot_active
    assert RoutingEvent.objects.filter(conversation=conversation, kind="handover").exists()
    said = Message.objects.filter(conversation=conversation, sender_kind="bot").count()
    expect(answers).to_have_count(said)  # with the bot's word on the hand-over, if any
    widget_say(widget, ANGRY)
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(3)
    # The bot stays out of it now.
    assert Message.objects.filter(conversation=conversation, sender_kind="bot").count() == said
    expect(answers).to_have_count(said)

    # The agent sees the bot's answers styled as the bot's, with confidence and choices, each
    # visitor message's sentiment and the trend, and that the bot handed over.
    workspace, agent_watch = new_page("en-US")
    login(workspace, base, "xiaomei")
    open_row(workspace)
    bots = workspace.locator("#messages .msg.from-bot")
    expect(bots).to_have_count(
        Message.objects.filter(conversation=conversation, sender_kind="bot").count()
    )
    expect(bots.locator(".bot-label").first).to_have_text("Bot")
    stored = bots.filter(has_text="您是想退货")
    expect(stored.locator(".confidence")).to_have_text("confidence 42%")
    expect(stored.locator(".choice")).to_have_text(["物流怎么查", SCRIPT])
    expect(stored.locator(".text")).to_have_text(IMG + " 您是想退货，还是查询物流？")
    expect(bots.first.locator(".confidence")).to_have_text(re.compile(r"^confidence \d+%$"))
    bodies = ["怎么申请退货", "物流怎么查", ANGRY]
    expected = [sentiment.analyze(body) for body in bodies]
    labels = {"positive": "Positive", "neutral": "Neutral", "negative": "Negative"}
    badges = workspace.locator("#messages .msg.from-visitor .sentiment")
    expect(badges).to_have_text([labels[s.label] for s in expected])
    assert expected[2].label == "negative"
    expect(badges.last).to_have_class(re.compile(r"\bsentiment-negative\b"))
    trend = workspace.locator("#thread-trend")
    expect(trend.locator(".bar")).to_have_count(3)
    expect(trend.locator(".bar").last).to_have_class(re.compile(r"\bbar-negative\b"))
    expect(trend.locator(".trend-label")).to_have_text("Negative")
    expect(workspace.locator("#thread-handed")).to_be_visible()
    expect(workspace.locator("#thread-bot")).to_be_hidden()
    conversation.refresh_from_db()
    if conversation.intent:
        expect(workspace.locator("#thread-intent")).to_have_text(f"Intent: {conversation.intent}")
    expect(workspace.locator("#messages .routing-handover")).to_have_count(1)
    workspace.screenshot(path=str(screenshots / "workspace-bot.png"))

    for page in (visitor, workspace):
        assert page.evaluate("window.__xss") is None
        expect(page.locator("img[src=x]")).to_have_count(0)
    assert not visitor_watch.errors and not agent_watch.errors


def test_no_handover_button_without_the_bot(daphne_server, shop, agent, new_page):
    base = daphne_server.url
    visitor, watch = new_page("en-US")
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "你好")
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(1)
    expect(widget.locator(".status-text")).to_be_visible()
    expect(widget.locator("button.handover")).to_be_hidden()
    assert not Conversation.objects.get(merchant=shop).bot_active
    assert not watch.errors


def test_agent_assist_inserts_a_suggested_answer(daphne_server, shop, agent, new_page):
    from knowledge import services as kb
    from knowledge import training

    kb.faq_create(
        merchant_id=shop.pk,
        question="怎么申请退货？",
        answer="<p>在订单页点击<b>申请退货</b>，7 天内可退。</p>",
    )
    kb.faq_create(merchant_id=shop.pk, question="运费怎么算？", answer="满 99 元包邮。")
    # Hostile text in a question (plain text) and in an answer (rich text, sanitised).
    kb.faq_create(
        merchant_id=shop.pk,
        question="发票怎么开？" + SCRIPT,
        answer='下单时填写发票抬头。<img src=x onerror="window.__xss=1">',
    )
    training.kb_train(merchant_id=shop.pk)

    base = daphne_server.url
    visitor, watch = new_page("en-US")
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "我想申请退货")
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(1)

    workspace, agent_watch = new_page("en-US")
    login(workspace, base, "xiaomei")
    open_row(workspace)
    first = workspace.locator("#assist-list li button.suggestion").first
    expect(first.locator(".suggestion-q")).to_have_text("怎么申请退货？")
    # Rich text is offered, and inserted, as plain text.
    expect(first.locator(".suggestion-a")).to_have_text("在订单页点击申请退货，7 天内可退。")
    workspace.fill("#reply-body", "您好！")
    first.click()
    expect(workspace.locator("#reply-body")).to_have_value(
        "您好！在订单页点击申请退货，7 天内可退。"
    )
    expect(workspace.locator("#assist b")).to_have_count(0)

    # A new visitor question brings suggestions for it.
    widget_say(widget, "运费怎么算")
    expect(workspace.locator("#assist-list li .suggestion-q").first).to_have_text("运费怎么算？")
    widget_say(widget, "发票怎么开")
    invoice = workspace.locator("#assist-list li button.suggestion").first
    expect(invoice.locator(".suggestion-q")).to_have_text("发票怎么开？" + SCRIPT)
    expect(invoice.locator(".suggestion-a")).to_have_text("下单时填写发票抬头。")
    for page in (visitor, workspace):
        assert page.evaluate("window.__xss") is None
        expect(page.locator("img[src=x]")).to_have_count(0)
    assert not watch.errors and not agent_watch.errors
