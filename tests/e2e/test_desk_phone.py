"""The workspace on a 390x844 phone (issue 13), in Chinese and English, in real Chromium: one pane
at a time (layout.js). The inbox with its views; a tap opens the conversation full screen with a
back button; the reply box sends (its Send button is the element under its own centre, nothing
covers it); the thread header's "Customer" button shows the visitor pane, which has its own way
back; nothing scrolls sideways but the top bar, whose edges glow where more of it lies. And the desktop layout at 1280x800 keeps its three panes.
Screenshots go to $KEFU_SHOTS/desk/ when KEFU_SHOTS is set (docs/desk.md uses two of them)."""

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from conversations.models import Conversation, Label, Message
from tests import factories

from .conftest import agent_say, in_thread, login, open_row, save_shot, shots_folder

pytestmark = [pytest.mark.browser, pytest.mark.live]

SHOTS = shots_folder("desk")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

WORDS = {
    "zh-CN": {"customer": "客户", "back": "返回会话", "visitor": "访客", "mine": "我的"},
    "en-US": {
        "customer": "Customer",
        "back": "Back to the conversation",
        "visitor": "Visitor",
        "mine": "Mine",
    },
}


def seed(shop) -> int:
    """Two visitors; 张三 (a long question, a label) is the one opened."""
    factories.visitor_message(
        factories.visitor(shop, name="Li Si", email="lisi@example.com"), "where is my refund?"
    )
    message = factories.visitor_message(
        factories.visitor(shop, name="张三", email="zhangsan@example.com"),
        "你好，我上周买的蓝牙耳机左耳没有声音，订单号 20261201-8842，可以换一副吗？",
    )
    vip = Label.objects.create(merchant=shop, name="VIP", colour="#dc2626")
    Conversation.objects.get(pk=message.conversation_id).labels.add(vip)
    Label.objects.create(merchant=factories.merchant("别家"), name="别家的标签")
    return message.conversation_id


@dataclass
class Desk:
    context: object
    page: object
    errors: list  # uncaught page errors
    conversation_id: int  # 张三's


def open_desk(daphne_server, shop, browser, locale: str, viewport: dict, **context_args) -> Desk:
    """The seeded shop's workspace, signed in as xiaomei and online."""
    conversation_id = in_thread(seed, shop)
    context = browser.new_context(locale=locale, viewport=viewport, **context_args)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, daphne_server.url, "xiaomei")
    expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
    return Desk(context, page, errors, conversation_id)


# What sticks out past the right edge of the page (named in a failure).
WIDE = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
  .slice(0, 5).map((e) => e.tagName + '#' + e.id + '.' + e.className)"""


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], (
        f"the page is {width} px wide",
        page.evaluate(WIDE),
    )


def edges_lit(page) -> tuple[bool, bool]:
    """Whether the top bar's left and right edges glow: a pixel of each, in the bar's top
    padding (no item there), brighter than the bar's own colour."""
    box = page.locator(".topbar").bounding_box()
    clip = {"x": box["x"], "y": box["y"] + 1, "width": box["width"], "height": 1}
    row = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
    bar = sum((17, 24, 39))  # #111827
    return tuple(sum(row.getpixel((x, 0))) > bar + 60 for x in (1, row.width - 2))


def shot(page, name: str, folder: Path | None = SHOTS) -> None:
    save_shot(page, folder, name)


def pane_shown(page, pane: str) -> None:
    expect(page.locator("#workspace")).to_have_attribute("data-pane", pane)
    for name, selector in (
        ("inbox", "aside.inbox"),
        ("thread", "section.thread"),
        ("visitor", "aside.visitor"),
    ):
        if name == pane:
            expect(page.locator(selector)).to_be_visible()
        else:
            expect(page.locator(selector)).to_be_hidden()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_workspace_on_a_phone(daphne_server, shop, agent, browser, locale):
    words = WORDS[locale]
    desk = open_desk(daphne_server, shop, browser, locale, PHONE, has_touch=True)
    context, page, errors, conversation_id = (
        desk.context,
        desk.page,
        desk.errors,
        desk.conversation_id,
    )

    # The inbox alone, its views reachable.
    pane_shown(page, "inbox")
    expect(page.locator("#conv-list li")).to_have_count(2)
    expect(page.locator("#conv-list .label-chip")).to_have_text(["VIP"])  # never 别家的标签
    page.locator('#views [data-view="mine"]').click()
    expect(page.locator('#views [data-view="mine"]')).to_have_text(re.compile(words["mine"]))
    expect(page.locator('#views [data-view="mine"]')).to_have_attribute("aria-pressed", "true")
    page.locator('#views [data-view="all"]').click()
    expect(page.locator("#conv-list li")).to_have_count(2)
    no_sideways_scroll(page)
    shot(page, f"phone-inbox-{locale}.png")

    # A tap: the conversation full screen, with a way back.
    open_row(page, "张三")
    pane_shown(page, "thread")
    expect(page.locator("#thread-back")).to_be_visible()
    expect(page.locator("#thread-close")).to_be_hidden()
    expect(page.locator("#thread-title")).to_have_text("张三")
    no_sideways_scroll(page)
    send = page.locator("#reply-send")
    expect(send).to_be_in_viewport(ratio=1)
    # Enter sends here: the phone keyboard's Enter key says "Send".
    expect(page.locator("#reply-body")).to_have_attribute("enterkeyhint", "send")
    assert (
        page.evaluate(
            """() => { const b = document.getElementById('reply-send').getBoundingClientRect();
        return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2)?.id; }"""
        )
        == "reply-send"
    )
    agent_say(page, "您好，可以换的，我们马上给您寄一副新的。")
    expect(page.locator("#messages li.msg").last).to_contain_text("马上给您寄一副新的")
    expect(page.locator("#messages li.msg.pending")).to_have_count(0)
    assert Message.objects.filter(
        conversation_id=conversation_id, body__contains="马上给您寄"
    ).exists()
    page.fill("#reply-body", "")
    page.locator("#reply-body").blur()
    # The new-conversation toasts (at the top on a phone) go by themselves after 8 s.
    expect(page.locator("#toasts .toast")).to_have_count(0)
    shot(page, f"phone-thread-{locale}.png")
    # The top bar is one line wider than the phone; its scrollbar is hidden, so the edge with
    # more of the bar beyond it glows: the right one first, the left one once scrolled.
    bar = page.locator(".topbar")
    assert bar.evaluate("b => b.scrollWidth - b.clientWidth") > 20
    assert edges_lit(page) == (False, True)
    bar.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
    assert edges_lit(page) == (True, False)
    bar.evaluate("b => { b.scrollLeft = 0; }")
    # The thread's actions keep to one row at 390 px, in English too (Resolve once wrapped alone;
    # in Chinese "Customer" fits on the title's line, so it is not counted).
    tops = page.evaluate(
        """() => ['thread-priority', 'thread-snooze', 'thread-transfer', 'thread-resolve']
        .map((id) => document.getElementById(id).getBoundingClientRect().top)"""
    )
    assert max(tops) - min(tops) <= 4, tops

    # The customer, then back to the conversation.
    page.locator("#thread-customer").click()
    expect(page.locator("#thread-customer")).to_have_text(words["customer"])
    pane_shown(page, "visitor")
    expect(page.locator("aside.visitor .pane-title").first).to_have_text(words["visitor"])
    expect(page.locator("#v-name")).to_have_text("张三")
    expect(page.locator("#v-email")).to_have_text("zhangsan@example.com")
    no_sideways_scroll(page)
    shot(page, f"phone-customer-{locale}.png")
    page.locator("#visitor-back").click()
    expect(page.locator("#visitor-back")).to_be_hidden()
    pane_shown(page, "thread")

    # Back: the inbox again, the conversation closed.
    page.locator("#thread-back").click()
    pane_shown(page, "inbox")
    expect(page.locator("#thread")).to_be_hidden()
    expect(page.locator("#conv-list li.active")).to_have_count(0)
    no_sideways_scroll(page)

    assert not errors, errors
    context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_desktop_keeps_three_panes(daphne_server, shop, agent, browser, locale):
    desk = open_desk(daphne_server, shop, browser, locale, DESKTOP)
    context, page = desk.context, desk.page
    open_row(page, "张三")
    for selector in ("aside.inbox", "section.thread", "aside.visitor", "#thread-close"):
        expect(page.locator(selector)).to_be_visible()
    for selector in ("#thread-back", "#thread-customer", "#visitor-back"):
        expect(page.locator(selector)).to_be_hidden()
    expect(page.locator("#v-name")).to_have_text("张三")
    no_sideways_scroll(page)
    expect(page.locator("#toasts .toast")).to_have_count(0)
    assert edges_lit(page) == (False, False)  # the whole bar shows: nothing to point at
    shot(page, f"desktop-{locale}.png")
    context.close()
