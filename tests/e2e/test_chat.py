"""End to end through a real browser: the widget on a host page, the agent workspace, and the
server between them."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.live]

HELLO = "你好，我想问一下订单 😀"
REPLY = "您好！订单已经发货了 📦"


def test_chat_end_to_end(daphne_server, shop, agent, new_page, screenshots):
    base = daphne_server.url
    workspace, agent_watch = new_page()
    login(workspace, base, "xiaomei")
    expect(workspace.locator("#conn")).to_have_class(re.compile("conn-online"))
    expect(workspace.locator("#conv-list li")).to_have_count(0)

    visitor, visitor_watch = new_page()
    visitor.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = visitor.locator("#kefu-widget")  # Playwright's CSS reaches into the open shadow root
    widget.locator(".launcher").click()
    expect(widget.locator(".welcome")).to_have_text("欢迎光临！有问题随时问我们。")
    expect(widget.locator("header .name")).to_have_text("墨中商城")
    widget.locator("textarea").fill(HELLO)
    widget.locator("textarea").press("Enter")
    # Shown at once, then acknowledged (no longer pending) once stored.
    mine = widget.locator(".msg.mine")
    expect(mine).to_have_count(1)
    expect(mine.locator(".bubble")).to_have_text(HELLO)
    expect(mine).not_to_have_class(re.compile("pending"))
    expect(widget.locator("textarea")).to_have_value("")

    # The conversation appears in the open workspace without a reload, unread.
    row = workspace.locator("#conv-list li")
    expect(row).to_have_count(1)
    expect(row.locator(".conv-preview")).to_have_text(HELLO)
    expect(row.locator(".badge")).to_have_text("1")
    expect(workspace).to_have_title(re.compile(r"^\(1\) "))

    row.locator("button").click()
    expect(workspace.locator("#messages .msg.from-visitor .text")).to_have_text(HELLO)
    # Opening it marks it read: the server's conversation.updated clears the badge.
    expect(row.locator(".badge")).to_have_count(0)
    expect(workspace.locator("#v-page-url")).to_have_text(re.compile(r"/widget/demo/\?key="))

    workspace.fill("#reply-body", REPLY)
    workspace.press("#reply-body", "Enter")
    sent = workspace.locator("#messages .msg.from-agent")
    expect(sent.locator(".text")).to_have_text(REPLY)
    expect(sent).not_to_have_class(re.compile("pending"))
    expect(sent.locator(".sender")).to_have_text("小美")

    # The visitor sees the reply live, with the agent's name.
    theirs = widget.locator(".msg.theirs")
    expect(theirs.locator(".bubble")).to_have_text(REPLY)
    expect(theirs.locator(".meta")).to_contain_text("小美")
    visitor.screenshot(path=str(screenshots / "widget.png"))
    workspace.screenshot(path=str(screenshots / "workspace.png"))

    # After a reload the same visitor gets the same conversation back (the panel stays open).
    visitor.reload()
    expect(widget.locator(".msg:not(.welcome) .bubble")).to_have_text([HELLO, REPLY])

    conversation = Conversation.objects.get(merchant=shop)
    messages = list(Message.objects.filter(conversation=conversation).order_by("seq"))
    # Opening the unassigned chat claimed it: the stored system line sits between the two.
    assert [(m.seq, m.sender_kind, m.body) for m in messages] == [
        (1, "visitor", HELLO),
        (2, "system", "小美已加入会话。"),
        (3, "agent", REPLY),
    ]
    assert not visitor_watch.errors and not agent_watch.errors, (
        visitor_watch.errors,
        agent_watch.errors,
    )


def test_unread_badge_and_private_note(daphne_server, shop, agent, new_page):
    """The launcher counts agent replies while the panel is closed; a private note never
    reaches the visitor."""
    base = daphne_server.url
    visitor, _ = new_page()
    visitor.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = visitor.locator("#kefu-widget")
    widget.locator(".launcher").click()
    widget.locator("textarea").fill("在吗？")
    widget.locator("form button.send").click()
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))
    widget.locator("header .x").click()
    expect(widget.locator(".panel")).to_be_hidden()

    workspace, _ = new_page()
    login(workspace, base, "xiaomei")
    workspace.locator("#conv-list li button").click()
    workspace.click("#reply-tab-note")
    workspace.fill("#reply-body", "内部备注：老客户")
    workspace.press("#reply-body", "Enter")
    note = workspace.locator("#messages .msg.note")
    expect(note).not_to_have_class(re.compile("pending"))
    expect(note.locator(".note-label")).to_be_visible()
    # After a note the composer is back on Reply by itself.
    expect(workspace.locator("#reply-tab-reply")).to_have_attribute("aria-selected", "true")
    workspace.fill("#reply-body", "在的")
    workspace.press("#reply-body", "Enter")
    expect(workspace.locator("#messages .msg.from-agent:not(.note):not(.pending)")).to_have_count(1)

    badge = widget.locator(".launcher .badge")
    expect(badge).to_have_text("1")
    widget.locator(".launcher").click()
    expect(badge).to_be_hidden()
    expect(widget.locator(".msg.theirs .bubble")).to_have_text(["在的"])
    conversation = Conversation.objects.get(merchant=shop)
    # The widget told the server it read the reply (seq 4; the claim's "joined" line is seq 2,
    # the note seq 3).
    for _ in range(50):
        conversation.refresh_from_db()
        if conversation.visitor_last_read_seq == 4:
            break
        visitor.wait_for_timeout(100)
    assert conversation.visitor_last_read_seq == 4 and conversation.unread_visitor_count == 0


def test_widget_refused_on_origin_not_allowed(daphne_server, new_page):
    """A page whose origin the merchant does not allow gets no widget and a clear console
    error, not a broken half-built panel or an exception."""
    from tests import factories

    elsewhere = factories.merchant("Elsewhere", allowed_origins="https://shop.example.com")
    page, watch = new_page()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    with page.expect_console_message(lambda msg: "[kefu]" in msg.text) as message:
        page.goto(f"{daphne_server.url}/widget/demo/?key={elsewhere.widget_key}")
    assert message.value.type == "error"
    assert "origin_not_allowed" in message.value.text and "403" in message.value.text
    page.wait_for_timeout(500)
    expect(page.locator("#kefu-widget")).to_have_count(0)
    assert sockets == [] and watch.errors == []
