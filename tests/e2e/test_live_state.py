"""What is live but never stored: typing (the visitor's draft, "agent is typing"), read ticks
and unread counts, the visitor's page and online state, agents' presence and who else has a
conversation open. Real daphne, real Chromium, one browser context per person."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message, Visitor
from merchants.models import Membership
from tests import factories

from .conftest import AGENT_PASSWORD, agent_say, login, open_row, open_widget, widget_say

pytestmark = [pytest.mark.browser, pytest.mark.live]


def bodies(shop) -> list[str]:
    return list(
        Message.objects.filter(merchant=shop).order_by("seq").values_list("body", flat=True)
    )


def test_typing_both_ways_and_the_visitors_page(daphne_server, shop, agent, new_page, screenshots):
    base = daphne_server.url
    visitor, visitor_watch = new_page()
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "你好")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))

    workspace, agent_watch = new_page()
    login(workspace, base, "xiaomei")
    row = open_row(workspace)
    expect(workspace.locator("#v-online .dot-online")).to_have_count(1)
    expect(row.locator(".dot-online")).to_have_count(1)

    # The visitor's draft shows up live, as they type it, and disappears when they clear it.
    draft_box = workspace.locator("#visitor-typing")
    expect(draft_box).to_be_hidden()
    widget.locator("textarea").press_sequentially("我想退货，订单号 1234", delay=40)
    expect(draft_box).to_be_visible()
    expect(workspace.locator("#visitor-draft")).to_have_text("我想退货，订单号 1234")
    expect(row).to_have_class(re.compile(r"\btyping\b"))
    workspace.screenshot(path=str(screenshots / "workspace-typing.png"))
    widget.locator("textarea").fill("")
    widget.locator("textarea").dispatch_event("input")
    expect(draft_box).to_be_hidden()
    expect(row).not_to_have_class(re.compile(r"\btyping\b"))

    # Typed and sent: the draft goes away and the message arrives once.
    widget.locator("textarea").press_sequentially("算了，换货吧", delay=30)
    expect(workspace.locator("#visitor-draft")).to_have_text("算了，换货吧")
    widget.locator("textarea").press("Enter")
    expect(draft_box).to_be_hidden()
    expect(workspace.locator("#messages .msg.from-visitor .text")).to_have_text(
        ["你好", "算了，换货吧"]
    )

    # The agent types: the visitor sees that someone is typing, never what.
    indicator = widget.locator(".typing")
    expect(indicator).to_be_hidden()
    workspace.locator("#reply-body").press_sequentially("稍等，我查一下", delay=30)
    expect(indicator).to_be_visible()
    expect(indicator).to_have_text("客服正在输入…")
    assert "稍等" not in widget.inner_text()
    visitor.screenshot(path=str(screenshots / "widget-agent-typing.png"))
    workspace.fill("#reply-body", "")
    workspace.locator("#reply-body").dispatch_event("input")
    expect(indicator).to_be_hidden()
    # Typing again and sending: the reply replaces the indicator.
    workspace.locator("#reply-body").press_sequentially("好的，已为您换货", delay=20)
    expect(indicator).to_be_visible()
    workspace.press("#reply-body", "Enter")
    expect(widget.locator(".msg.theirs .bubble")).to_have_text(["好的，已为您换货"])
    expect(indicator).to_be_hidden()

    # In-page navigation of a single-page site, and a new title: the agent sees the page.
    visitor.evaluate("""() => {
        history.pushState({}, "", location.pathname + location.search + "&step=checkout");
        document.title = "结算页 - 墨中商城";
    }""")
    expect(workspace.locator("#v-page-title")).to_have_text("结算页 - 墨中商城")
    expect(workspace.locator("#v-page-url")).to_have_text(re.compile(r"&step=checkout$"))
    visitor.evaluate("location.hash = '#pay'")
    expect(workspace.locator("#v-page-url")).to_have_text(re.compile(r"&step=checkout#pay$"))

    # Drafts were never stored: only what was sent is.
    # The agent's claim on opening the chat is stored as a system line, in its place.
    assert bodies(shop) == ["你好", "小美已加入会话。", "算了，换货吧", "好的，已为您换货"]
    trail = Visitor.objects.get(merchant=shop).page_views.values_list("title", flat=True)
    assert "结算页 - 墨中商城" in list(trail)

    # The visitor leaves: the agent sees them go offline.
    visitor.close()
    expect(workspace.locator("#v-online .dot-offline")).to_have_count(1)
    expect(row.locator(".dot-offline")).to_have_count(1)
    assert not visitor_watch.errors and not agent_watch.errors


def test_read_ticks_both_ways_and_unread_counts(daphne_server, shop, agent, new_page):
    base = daphne_server.url
    first, _ = new_page()
    widget = open_widget(first, base, shop.widget_key)
    widget_say(widget, "第一个问题")
    widget_say(widget, "第二个问题")
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(2)
    second, _ = new_page()
    other_widget = open_widget(second, base, shop.widget_key)
    widget_say(other_widget, "另一位访客")
    expect(other_widget.locator(".msg.mine:not(.pending)")).to_have_count(1)

    workspace, agent_watch = new_page()
    login(workspace, base, "xiaomei")
    rows = workspace.locator("#conv-list li")
    expect(rows).to_have_count(2)
    mine_row = rows.filter(has_text="第二个问题")
    other_row = rows.filter(has_text="另一位访客")
    expect(mine_row.locator(".badge")).to_have_text("2")
    expect(other_row.locator(".badge")).to_have_text("1")
    expect(workspace).to_have_title(re.compile(r"^\(3\) "))
    # Nobody has read the visitor's messages yet.
    expect(widget.locator(".msg.mine .tick")).to_have_count(0)

    # Opening the conversation reads it: the count drops, the visitor gets read ticks.
    mine_row.locator("button").click()
    expect(workspace.locator("#messages .msg.from-visitor")).to_have_count(2)
    expect(mine_row.locator(".badge")).to_have_count(0)
    expect(other_row.locator(".badge")).to_have_text("1")
    expect(workspace).to_have_title(re.compile(r"^\(1\) "))
    expect(widget.locator(".msg.mine.read .tick")).to_have_count(2)
    expect(widget.locator(".msg.mine .tick").first).to_have_text("✓ 已读")
    expect(other_widget.locator(".tick")).to_have_count(0)

    # Replies while the visitor's panel is closed: unread on the launcher, no tick yet.
    widget.locator("header .x").click()
    agent_say(workspace, "第一个回答")
    workspace.click("#reply-tab-note")
    agent_say(workspace, "内部备注")
    # After a note the composer is back on Reply by itself.
    expect(workspace.locator("#reply-tab-reply")).to_have_attribute("aria-selected", "true")
    agent_say(workspace, "第二个回答")
    expect(workspace.locator("#messages .msg.from-agent:not(.pending)")).to_have_count(3)
    expect(widget.locator(".launcher .badge")).to_have_text("2")
    expect(workspace.locator("#messages .tick")).to_have_count(0)

    # The visitor opens the panel: replies get read ticks, the private note never does.
    widget.locator(".launcher").click()
    expect(widget.locator(".launcher .badge")).to_be_hidden()
    replies = workspace.locator("#messages .msg.from-agent:not(.note)")
    expect(replies.locator(".tick")).to_have_count(2)
    expect(replies.locator(".tick").first).to_have_text("✓ 已读")
    expect(workspace.locator("#messages .msg.note .tick")).to_have_count(0)

    conversation = Conversation.objects.get(merchant=shop, messages__body="第一个问题")
    # Seq 3 is the "joined" line of the agent's claim on opening; the replies are 4 and 6.
    assert (conversation.unread_agent_count, conversation.agent_last_read_seq) == (0, 3)
    assert (conversation.unread_visitor_count, conversation.visitor_last_read_seq) == (0, 6)

    # After a reload both sides still show the ticks: the read positions come with the visitor's
    # session.ready and the agent's inbox rows, not only from live read events.
    first.reload()
    widget = first.locator("#kefu-widget")
    expect(widget.locator(".launcher")).to_be_visible()
    if not widget.locator(".panel").is_visible():  # the panel remembers it was open
        widget.locator(".launcher").click()
    expect(widget.locator(".msg.mine")).to_have_count(2)
    expect(widget.locator(".msg.mine.read .tick")).to_have_count(2)
    workspace.reload()
    open_row(workspace, "第二个回答")
    replies = workspace.locator("#messages .msg.from-agent:not(.note)")
    expect(replies).to_have_count(2)
    expect(replies.locator(".tick")).to_have_count(2)
    assert not agent_watch.errors


def test_presence_and_collision_between_two_agents(
    daphne_server, shop, agent, new_page, screenshots
):
    base = daphne_server.url
    dawei = factories.member(
        shop, "dawei", Membership.Role.AGENT, password=AGENT_PASSWORD, display_name="大伟"
    )
    visitor, _ = new_page()
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "有人在吗？")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))

    a, a_watch = new_page()
    login(a, base, "xiaomei")
    team = a.locator("#agent-list")
    b_entry = team.locator(f"li[data-user-id='{dawei.user_id}']")
    expect(team.locator(f"li[data-user-id='{agent.user_id}']")).to_have_attribute(
        "data-status", "online"
    )
    expect(b_entry).to_have_attribute("data-status", "offline")

    b, b_watch = new_page()
    login(b, base, "dawei")
    expect(b_entry).to_have_attribute("data-status", "online")
    expect(b_entry.locator(".agent-name")).to_have_text("大伟")
    expect(b.locator(f"#agent-list li[data-user-id='{agent.user_id}']")).to_have_attribute(
        "data-status", "online"
    )

    # B switches to away: A sees it, and it is remembered.
    b.select_option("#my-status", "away")
    expect(b_entry).to_have_attribute("data-status", "away")
    expect(b_entry.locator(".agent-status")).to_have_text("离开")
    expect(b.locator("#my-status")).to_have_value("away")
    dawei.refresh_from_db()
    assert dawei.is_away

    # Both open the same conversation: each sees the other.
    open_row(a)
    expect(a.locator("#viewers")).to_be_hidden()
    open_row(b)
    expect(a.locator("#viewers .viewer")).to_have_text(["大伟"])
    expect(b.locator("#viewers .viewer")).to_have_text(["小美"])
    # And A's inbox row says someone else has it open.
    expect(a.locator("#conv-list li .conv-viewers")).to_contain_text("大伟")

    # B types: A sees who is typing, the visitor sees that someone is.
    b.locator("#reply-body").press_sequentially("我来回复", delay=40)
    expect(a.locator("#viewers .viewer.typing")).to_have_text(["大伟（正在输入…）"])
    expect(widget.locator(".typing")).to_be_visible()
    a.screenshot(path=str(screenshots / "workspace-collision.png"))
    agent_say(b, "我来回复这位客户")
    expect(a.locator("#viewers .viewer.typing")).to_have_count(0)
    expect(a.locator("#viewers .viewer")).to_have_text(["大伟"])
    expect(a.locator("#messages .msg.from-agent .text")).to_have_text(["我来回复这位客户"])

    # B closes the conversation: A no longer sees them in it.
    b.click("#thread-close")
    expect(b.locator("#thread")).to_be_hidden()
    expect(a.locator("#viewers")).to_be_hidden()
    expect(a.locator("#conv-list li .conv-viewers")).to_have_count(0)

    # B's page goes away: offline for A, on the socket's close.
    b.close()
    expect(b_entry).to_have_attribute("data-status", "offline")
    assert not a_watch.errors and not b_watch.errors
