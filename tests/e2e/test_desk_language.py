"""Each agent reads the product's words in the language they chose, whatever the site's default
and whoever else is online: toast titles and routing reasons are decided once on the server
and said again per socket (kefu.localized) and per REST request. Two agents at once, one on a
Chinese browser who chose English and one on an English browser who chose Chinese, so neither
the site language nor Accept-Language can pass for the choice."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, RoutingEvent
from merchants.models import Membership
from tests import factories

from .conftest import AGENT_PASSWORD, login, open_widget, widget_say
from .test_routing_ui import name_visitor

pytestmark = [pytest.mark.browser, pytest.mark.live]

WORDS = {
    "en": {
        "toast": "王先生 is waiting in the queue",
        "queued": "queued: every online agent is at capacity",
        "claimed": "claimed by 小美",
        "kind": "Claimed · → 小美",
    },
    "zh-hans": {
        "toast": "王先生 正在排队等待",
        "queued": "进入排队：在线客服均已满负荷",
        "claimed": "小美 领取了会话",
        "kind": "已认领 · → 小美",
    },
}


def agent_page(new_page, base, username, browser_locale, chosen):
    page, watch = new_page(browser_locale)
    page.context.add_cookies([{"name": "django_language", "value": chosen, "url": base}])
    login(page, base, username)
    return page, watch


def test_toasts_and_routing_reasons_follow_each_agents_language(
    daphne_server, shop, agent, new_page, screenshots
):
    base = daphne_server.url
    factories.member(shop, "dawei", password=AGENT_PASSWORD, display_name="大伟")
    Membership.objects.filter(merchant=shop).update(max_concurrent=0)  # the visitor waits

    english, english_watch = agent_page(new_page, base, "xiaomei", "zh-CN", "en")
    chinese, chinese_watch = agent_page(new_page, base, "dawei", "en-US", "zh-hans")
    expect(english.locator("html")).to_have_attribute("lang", "en")
    expect(chinese.locator("html")).to_have_attribute("lang", "zh-hans")

    visitor, visitor_watch = new_page("zh-CN")
    widget = open_widget(visitor, base, shop.widget_key)
    name_visitor(visitor, shop, "王先生")
    widget_say(widget, "在吗")

    # One notification, raised once, titled in each agent's language.
    for page, lang in ((english, "en"), (chinese, "zh-hans")):
        expect(page.locator("#toasts .toast .toast-title")).to_have_text(WORDS[lang]["toast"])
    english.screenshot(path=str(screenshots / "language-toast-en.png"))
    chinese.screenshot(path=str(screenshots / "language-toast-zh.png"))

    # The English agent claims; both timelines give the reasons in their reader's language.
    english.locator("#queue-list li button.claim").click()
    expect(english.locator("#thread-assignee")).to_have_text("Assigned to you")
    chinese.locator("#conv-list li button").click()
    expect(chinese.locator("#thread-loading")).to_be_hidden()
    for page, lang in ((english, "en"), (chinese, "zh-hans")):
        words = WORDS[lang]
        expect(page.locator("#messages .routing-queued .routing-reason")).to_have_text(
            words["queued"]
        )
        expect(page.locator("#messages .routing-claimed .routing-reason")).to_have_text(
            words["claimed"]
        )
        expect(page.locator("#messages .routing-claimed .routing-kind")).to_have_text(words["kind"])
    # Live, then from the REST history after a reload: the same words.
    for page, lang in ((english, "en"), (chinese, "zh-hans")):
        page.reload()
        expect(page.locator("#thread-loading")).to_be_hidden()
        expect(page.locator("#messages .routing-claimed .routing-reason")).to_have_text(
            WORDS[lang]["claimed"]
        )

    # Stored once, in the site language (the admin, webhooks and mail read this).
    conversation = Conversation.objects.get(merchant=shop, visitor__name="王先生")
    claimed = RoutingEvent.objects.get(conversation=conversation, kind="claimed")
    assert claimed.reason == WORDS["zh-hans"]["claimed"]
    # The visitor's line stays in the visitor's language (their widget's: Chinese); each agent
    # reads it in their own, the English one with the visitor's words on hover.
    expect(widget.locator(".msg.sys .sysline").last).to_have_text("小美已加入会话。")
    english_line = english.locator("#messages li.sysline .line").last
    expect(english_line).to_have_text("小美 joined the conversation.")
    expect(english_line).to_have_attribute("title", "小美已加入会话。")
    chinese_line = chinese.locator("#messages li.sysline .line").last
    expect(chinese_line).to_have_text("小美已加入会话。")
    expect(chinese_line).not_to_have_attribute("title", "小美已加入会话。")
    # Times in each agent's language too, not their browser's (Chinese for one, English for
    # the other): no "04:13 PM" in the Chinese workspace.
    expect(english.locator("#messages .when").first).to_have_text(
        re.compile(r"^\d{1,2}:\d{2}\s?[AP]M$")
    )
    expect(chinese.locator("#messages .when").first).to_have_text(re.compile(r"^\d{2}:\d{2}$"))
    english.screenshot(path=str(screenshots / "language-timeline-en.png"))
    chinese.screenshot(path=str(screenshots / "language-timeline-zh.png"))
    for watch in (english_watch, chinese_watch, visitor_watch):
        assert not watch.errors
