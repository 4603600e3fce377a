"""Issue 14 in the widget, as a visitor sees it on a phone (390x844) and a desktop (1280x800), in
Chinese and English: the agent joins (header and a system line), the chat ends, the visitor
rates it (stars or 满意/一般/不满意) and the agent sees the rating live; the emoji picker; the
reply sound; Esc and the keyboard."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, ConversationEvent
from merchants.models import Merchant

from . import test_widget_ui
from .conftest import agent_say, login, open_row, save_shot, shots_folder
from .test_widget_ui import HIDDEN, assert_full_width_fields, press, widget_errors

screen_page = test_widget_ui.screen_page  # the fixture: one visitor page per screen and locale

pytestmark = [pytest.mark.browser, pytest.mark.live]

XSS = '<img src=x onerror="window.__xss=1">好评'

TEXT = {
    "zh-CN": {
        "joined": "小美已加入会话。",
        "ended": "本次会话已结束。如需帮助，随时发消息即可继续。",
        "title": "您对本次服务满意吗？",
        "choose": "请先选择评价。",
        "thanks": "感谢您的评价！",
        "star4": "4 星（满分 5 星）",
        "faces": ["🙂 满意", "😐 一般", "🙁 不满意"],
        "emoji": "插入表情",
        "thumbs": "赞",
        "sound_off": "新回复提示音：关",
        "sound_on": "新回复提示音：开",
    },
    "en-US": {
        "joined": "小美 joined the conversation.",
        "ended": "The conversation has ended. Write again any time to reopen it.",
        "title": "How was your conversation?",
        "choose": "Please choose a rating first.",
        "thanks": "Thank you for your feedback!",
        "star4": "4 of 5 stars",
        "faces": ["🙂 Satisfied", "😐 So-so", "🙁 Dissatisfied"],
        "emoji": "Insert emoji",
        "thumbs": "thumbs up",
        "sound_off": "Sound for new replies: off",
        "sound_on": "Sound for new replies: on",
    },
}


SHOTS = shots_folder("widget")


@pytest.mark.parametrize(
    ("screen", "locale", "scale"),
    [
        ("phone", "zh-CN", "stars"),
        ("desktop", "en-US", "stars"),
        ("phone", "en-US", "three"),
        ("desktop", "zh-CN", "three"),
    ],
)
def test_agent_joins_ends_and_the_visitor_rates(
    daphne_server, shop, agent, screen_page, new_page, screen, locale, scale
):
    Merchant.objects.filter(pk=shop.pk).update(rating_scale=scale)
    base = daphne_server.url
    text = TEXT[locale]
    page, console = screen_page(screen, locale)
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    workspace, _ = new_page("en-US")
    login(workspace, base, "xiaomei")
    press(page, widget.locator(".launcher"), screen)
    expect(widget.locator(".status")).to_have_attribute("data-state", "online")
    widget.locator("textarea").fill("你好，我想问一下发货时间")
    press(page, widget.locator("form button[type=submit]"), screen)

    # The router gives it to the online agent at once: the header names her, with her initial,
    # and the thread says she joined.
    expect(widget.locator("header .name")).to_have_text("小美")
    expect(widget.locator("header .avatar")).to_have_text("小")
    expect(widget.locator(".msg.sys .sysline")).to_have_text([text["joined"]])
    open_row(workspace)
    agent_say(workspace, "您好，今天下午发货")
    expect(widget.locator(".msg.theirs .bubble")).to_have_text(["您好，今天下午发货"])
    # The joined line stays between the visitor's message and the reply.
    kinds = widget.locator(".list > li").evaluate_all(
        "lis => lis.map(li => li.classList.contains('sys') ? 'sys' : li.dataset.kind || 'welcome')"
    )
    assert kinds == ["welcome", "visitor", "sys", "agent"]

    # The agent resolves: the thread says so, the header is the shop's again, the card asks.
    workspace.click("#thread-resolve")
    expect(widget.locator(".msg.sys .sysline")).to_have_text([text["joined"], text["ended"]])
    expect(widget.locator("header .name")).to_have_text(shop.name)
    expect(widget.locator("header .avatar")).to_be_hidden()
    card = widget.locator(".rate")
    expect(card).to_be_visible()
    expect(card.locator(".rate-title")).to_have_text(text["title"])
    radios = card.locator("[role=radio]")
    # Sending without a choice: told so, nothing sent.
    press(page, card.locator(".rate-send"), screen)
    expect(card.locator(".rate-err")).to_have_text(text["choose"])
    if scale == "stars":
        expect(radios).to_have_count(5)
        assert radios.nth(3).get_attribute("aria-label") == text["star4"]
        press(page, radios.nth(3), screen)
        expect(radios.nth(3)).to_have_attribute("aria-checked", "true")
        expect(card.locator(".rate-options button.on")).to_have_count(4)
        expected = 4
    else:
        expect(radios).to_have_text(text["faces"])
        press(page, radios.nth(1), screen)  # 一般 / So-so
        expected = 3
    card.locator(".rate-comment").fill(XSS)
    save_shot(page, SHOTS, f"rating-{screen}-{locale}-{scale}.png")
    press(page, card.locator(".rate-send"), screen)
    expect(card.locator(".rate-thanks")).to_have_text(text["thanks"])

    conversation = Conversation.objects.get(merchant=shop)
    assert (conversation.rating, conversation.rating_comment) == (expected, XSS)
    assert (
        ConversationEvent.objects.filter(merchant=shop, kind=ConversationEvent.Kind.RATED).count()
        == 1
    )
    # The agent sees it live, the comment as text.
    chip = workspace.locator("#thread-rating")
    expect(chip).to_be_visible()
    expect(chip).to_contain_text("★" * expected + "☆" * (5 - expected))
    expect(chip).to_contain_text(XSS)
    expect(chip.locator("img")).to_have_count(0)
    save_shot(workspace, SHOTS, f"rating-workspace-{screen}-{locale}.png")
    # A reload: the card remembers it was rated (no second prompt).
    page.reload()  # the panel stays open across the reload
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator(".msg.theirs")).to_have_count(1)
    expect(card).to_be_hidden()
    assert page.evaluate("window.__xss") is None
    assert workspace.evaluate("window.__xss") is None
    assert not widget_errors(console)


@pytest.mark.parametrize(
    ("screen", "locale"),
    [("phone", "zh-CN"), ("desktop", "en-US"), ("phone", "en-US"), ("desktop", "zh-CN")],
)
def test_emoji_picker_keyboard_and_escape(daphne_server, shop, screen_page, screen, locale):
    text = TEXT[locale]
    page, console = screen_page(screen, locale)
    page.goto(f"{daphne_server.url}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    press(page, widget.locator(".launcher"), screen)
    opener = widget.locator(".emoji-open")
    assert opener.get_attribute("aria-label") == text["emoji"]
    expect(opener).to_have_attribute("aria-expanded", "false")
    box = widget.locator("textarea")
    box.fill("收到")
    press(page, opener, screen)
    picker = widget.locator(".emoji")
    expect(picker).to_be_visible()
    expect(opener).to_have_attribute("aria-expanded", "true")
    buttons = picker.locator("button")
    assert buttons.count() >= 20
    # Every emoji has a spoken name.
    labels = buttons.evaluate_all("bs => bs.map(b => b.getAttribute('aria-label'))")
    assert all(labels) and text["thumbs"] in labels
    if screen == "desktop":
        save_shot(page, SHOTS, f"emoji-{screen}-{locale}.png")
    thumbs = picker.get_by_role("button", name=text["thumbs"], exact=True)
    press(page, thumbs, screen)
    expect(picker).to_be_hidden()
    assert box.input_value() == "收到👍"
    expect(box).to_be_focused()
    # Keyboard: the picker opens, Esc closes it and only it; a second Esc closes the panel.
    opener.focus()
    page.keyboard.press("Enter")
    expect(picker).to_be_visible()
    expect(buttons.first).to_be_focused()
    page.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    expect(opener).to_be_focused()
    expect(widget.locator(".panel")).to_be_visible()
    inside = (
        "() => { const r = document.querySelector('#kefu-widget').shadowRoot; "
        "return !!r.activeElement && r.querySelector('.panel').contains(r.activeElement); }"
    )
    for key in ["Tab"] * 7 + ["Shift+Tab"] * 7:
        page.keyboard.press(key)
        assert page.evaluate(inside), f"focus left the panel after {key}"
    page.keyboard.press("Escape")
    expect(widget.locator(".panel")).to_be_hidden()
    assert not widget_errors(console)


@pytest.mark.parametrize(("screen", "locale"), [("phone", "en-US"), ("desktop", "zh-CN")])
def test_reply_sound_plays_only_when_switched_on_and_hidden(
    daphne_server, shop, agent, screen_page, new_page, screen, locale
):
    base = daphne_server.url
    text = TEXT[locale]
    page, console = screen_page(screen, locale)
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    press(page, widget.locator(".launcher"), screen)
    sound = widget.locator("header .sound")
    expect(sound).to_have_attribute("aria-pressed", "false")
    expect(sound).to_have_attribute("aria-label", text["sound_off"])
    widget.locator("textarea").fill("有人吗")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(1)
    workspace, _ = new_page("en-US")
    login(workspace, base, "xiaomei")
    open_row(workspace)

    page.evaluate(HIDDEN, True)
    agent_say(workspace, "在的")  # off: silent
    expect(widget.locator(".msg.theirs")).to_have_count(1)
    assert page.evaluate("window.KefuChimes || 0") == 0
    page.evaluate(HIDDEN, False)
    press(page, sound, screen)
    expect(sound).to_have_attribute("aria-pressed", "true")
    expect(sound).to_have_attribute("aria-label", text["sound_on"])
    agent_say(workspace, "请问需要什么帮助？")  # on but the tab is visible: silent
    expect(widget.locator(".msg.theirs")).to_have_count(2)
    assert page.evaluate("window.KefuChimes || 0") == 0
    page.evaluate(HIDDEN, True)
    agent_say(workspace, "还在吗？")  # on and hidden: two tones
    expect(widget.locator(".msg.theirs")).to_have_count(3)
    page.wait_for_function("window.KefuChimes === 1")
    # The choice survives a reload.
    page.reload()
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator("header .sound")).to_have_attribute("aria-pressed", "true")
    assert not widget_errors(console)


def test_system_line_placement_ignores_markup_in_agent_names(
    daphne_server, shop, agent, screen_page, new_page
):
    """An agent's display name is text in the header and the system line."""
    agent.display_name = '<b id="x">小美</b>'
    agent.save(update_fields=["display_name"])
    base = daphne_server.url
    page, console = screen_page("desktop", "zh-CN")
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    workspace, _ = new_page("en-US")
    login(workspace, base, "xiaomei")
    press(page, widget.locator(".launcher"), "desktop")
    expect(widget.locator(".status")).to_have_attribute("data-state", "online")
    widget.locator("textarea").fill("你好")
    widget.locator("textarea").press("Enter")
    expect(widget.locator("header .name")).to_have_text('<b id="x">小美</b>')
    expect(widget.locator(".msg.sys .sysline")).to_have_text(
        re.compile(re.escape('<b id="x">小美</b>'))
    )
    expect(widget.locator("b#x")).to_have_count(0)
    assert not widget_errors(console)


PRECHAT = {
    "zh-CN": {
        "intro": "开始咨询前，请留下您的信息。",
        "required": "此项为必填项。",
        "email": "请输入有效的邮箱地址。",
        "start": "开始咨询",
        "transcript": "把聊天记录发到我的邮箱",
        "sent": "聊天记录已发送到 li@example.com。",
    },
    "en-US": {
        "intro": "Before we start, please tell us a little about yourself.",
        "required": "This field is required.",
        "email": "Enter a valid email address.",
        "start": "Start the chat",
        "transcript": "Email me this conversation",
        "sent": "The transcript is on its way to li@example.com.",
    },
}


@pytest.mark.parametrize(
    ("screen", "locale"),
    [("phone", "zh-CN"), ("desktop", "en-US"), ("phone", "en-US"), ("desktop", "zh-CN")],
)
def test_prechat_form_then_transcript_by_email(daphne_server, shop, screen_page, screen, locale):
    Merchant.objects.filter(pk=shop.pk).update(
        prechat_name="required", prechat_email="optional", prechat_custom="订单号 Order no.*"
    )
    text = PRECHAT[locale]
    page, console = screen_page(screen, locale)
    page.goto(f"{daphne_server.url}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    press(page, widget.locator(".launcher"), screen)
    form = widget.locator("form.prechat")
    expect(form).to_be_visible()
    assert_full_width_fields(form)
    expect(form.locator(".pc-title")).to_have_text(text["intro"])
    expect(widget.locator("form:not(.prechat) textarea")).to_be_hidden()  # asked first
    expect(widget.locator("header .mail")).to_be_hidden()  # nothing to send yet
    form.locator("#kefu-pc-email").fill("not-an-email")
    press(page, form.locator(".submit"), screen)
    expect(form.locator("#kefu-pc-name-err")).to_have_text(text["required"])
    expect(form.locator("#kefu-pc-email-err")).to_have_text(text["email"])
    expect(form.locator("#kefu-pc-c1-err")).to_have_text(text["required"])
    expect(form.locator("#kefu-pc-name")).to_be_focused()
    expect(form.locator("#kefu-pc-name")).to_have_attribute("aria-invalid", "true")
    if screen == "phone":
        save_shot(page, SHOTS, f"prechat-errors-{screen}-{locale}.png")
    form.locator("#kefu-pc-name").fill("<b>李雷</b>")
    form.locator("#kefu-pc-email").fill("li@example.com")
    form.locator("#kefu-pc-c1").fill("A-1001")
    press(page, form.locator(".submit"), screen)
    expect(form).to_be_hidden()
    box = widget.locator("form:not(.prechat) textarea")
    expect(box).to_be_focused()
    visitor = shop.visitors.get()
    assert (visitor.name, visitor.email) == ("<b>李雷</b>", "li@example.com")
    assert visitor.attributes["订单号 Order no."] == "A-1001"
    box.fill("你好，我的订单 A-1001 到哪了？")
    box.press("Enter")
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(1)

    # The transcript: the envelope opens a one-field form; the address is sent the chat.
    mail_button = widget.locator("header .mail")
    expect(mail_button).to_be_visible()
    assert mail_button.get_attribute("aria-label") == text["transcript"]
    press(page, mail_button, screen)
    transcript = widget.locator(".transcript")
    expect(transcript).to_be_visible()
    expect(transcript.locator("input")).to_be_focused()
    transcript.locator("input").fill("li@example.com")
    press(page, transcript.locator(".tr-send"), screen)
    expect(transcript.locator(".tr-msg")).to_have_text(text["sent"])
    if screen == "desktop":
        save_shot(page, SHOTS, f"transcript-{screen}-{locale}.png")
    # A reload: the form is not asked again.
    page.reload()
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator(".msg.mine")).to_have_count(1)
    expect(form).to_be_hidden()
    assert not widget_errors(console)


HANDOVER = {
    "zh-CN": {
        "hello": "您好！请问有什么可以帮您？",
        "button": "转人工",
        "handed": "智能助手已将您转接给人工客服。",
        "joined": "小美已加入会话。",
        "moved": "您的会话已转接给大伟。",
    },
    "en-US": {
        "hello": "Hello! What can I help you with?",
        "button": "Talk to a human",
        "handed": "The assistant passed your conversation to our team.",
        "joined": "小美 joined the conversation.",
        "moved": "Your conversation was transferred to 大伟.",
    },
}


@pytest.mark.parametrize(("screen", "locale"), [("phone", "zh-CN"), ("desktop", "en-US")])
def test_small_talk_handover_and_transfer_lines(
    daphne_server, shop, agent, screen_page, new_page, screen, locale
):
    from merchants.models import Membership
    from tests import factories
    from tests.e2e.conftest import AGENT_PASSWORD

    factories.member(
        shop, "dawei", Membership.Role.AGENT, password=AGENT_PASSWORD, display_name="大伟"
    )
    Merchant.objects.filter(pk=shop.pk).update(bot_mode=Merchant.BotMode.BOT_FIRST)
    from knowledge import services as kb_services
    from knowledge import training as kb_training

    kb_services.faq_create(merchant_id=shop.pk, question="怎么退货", answer="7 天内可退。")
    kb_training.kb_train(merchant_id=shop.pk)  # a bot without a model hands over at once
    text = HANDOVER[locale]
    base = daphne_server.url
    page, console = screen_page(screen, locale)
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    workspace, _ = new_page("en-US")
    login(workspace, base, "xiaomei")
    press(page, widget.locator(".launcher"), screen)
    expect(widget.locator(".status")).to_have_attribute("data-state", "online")
    # Small talk: the bot answers politely, in the visitor's language.
    widget.locator("form:not(.prechat) textarea").fill("你好" if locale == "zh-CN" else "hello")
    widget.locator("form:not(.prechat) textarea").press("Enter")
    expect(widget.locator(".msg.bot .bubble")).to_have_text([text["hello"]])
    handover = widget.locator(".handover")
    expect(handover).to_have_text(text["button"])
    press(page, handover, screen)
    lines = widget.locator(".msg.sys .sysline")
    expect(lines).to_have_text([text["handed"], text["joined"]])
    expect(widget.locator("header .name")).to_have_text("小美")
    # 小美 hands the chat to 大伟: the visitor is told, and the header follows.
    open_row(workspace)
    workspace.click("#thread-transfer")
    workspace.select_option("#transfer-target", index=0)
    workspace.click("#transfer-submit")
    expect(lines).to_have_text([text["handed"], text["joined"], text["moved"]])
    expect(widget.locator("header .name")).to_have_text("大伟")
    expect(widget.locator("header .avatar")).to_have_text("大")
    save_shot(page, SHOTS, f"system-lines-{screen}-{locale}.png")
    assert not widget_errors(console)
