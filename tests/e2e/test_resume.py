"""The channel layer delivers at most once. The workspace must notice a message that never
arrived on a live socket (a later seq shows up, or the inbox row says there is more) and fetch
it with `resume`, without reconnecting; and it catches up with `resume`, not a refetch, after
a reconnect."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation

from .conftest import SocketGate, login, open_row, open_widget, widget_say

pytestmark = [pytest.mark.browser, pytest.mark.live]


def lost(body: str):
    """Drop the broadcast of the message with this body (the first time only)."""
    state = {"done": False}

    def drop(frame):
        if state["done"] or frame["type"] != "message.created" or frame["message"]["body"] != body:
            return False
        state["done"] = True
        return True

    return drop


def test_a_lost_delivery_is_fetched_with_resume(daphne_server, shop, agent, new_page):
    base = daphne_server.url
    visitor, _ = new_page()
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "第一条")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))

    workspace, watch = new_page()
    gate = SocketGate(workspace.context, "/ws/agent/")
    api_calls = []
    workspace.on("request", lambda r: api_calls.append(r.url) if "/messages" in r.url else None)
    login(workspace, base, "xiaomei")
    open_row(workspace)
    texts = workspace.locator("#messages .msg .text")
    expect(texts).to_have_text(["第一条"])
    conversation_id = Conversation.objects.get(merchant=shop).pk
    # Opening it loaded its messages through the socket, from seq 0.
    assert gate.sent_of("resume")[0]["conversations"] == {str(conversation_id): 0}

    # Opening the chat claimed it: its "joined" line is seq 2 (muted in the thread, not a .msg).
    # A gap in the middle: seq 4 arrives, seq 3 never did.
    gate.drop = lost("中间丢失")
    widget_say(widget, "中间丢失")
    widget_say(widget, "第三条")
    expect(texts).to_have_text(["第一条", "中间丢失", "第三条"])
    assert gate.sent_of("resume")[-1]["conversations"] == {str(conversation_id): 2}

    # The last message is lost: only the inbox row (conversation.updated) says it exists.
    gate.drop = lost("最后一条")
    widget_say(widget, "最后一条")
    expect(texts).to_have_text(["第一条", "中间丢失", "第三条", "最后一条"])
    assert gate.sent_of("resume")[-1]["conversations"] == {str(conversation_id): 4}
    assert gate.opened == 1, "caught up on the same socket, without reconnecting"

    # A cut socket: the messages written meanwhile come back through resume on the new one.
    gate.cut()
    expect(workspace.locator("#conn")).to_have_class(re.compile("conn-reconnecting"))
    widget_say(widget, "断线期间")
    gate.restore()
    expect(workspace.locator("#conn")).to_have_class(re.compile("conn-online"), timeout=30_000)
    expect(texts).to_have_text(["第一条", "中间丢失", "第三条", "最后一条", "断线期间"])
    assert gate.sent_of("resume")[-1]["conversations"] == {str(conversation_id): 5}
    # Every message came over the socket; none from the REST messages endpoint.
    assert api_calls == []
    assert not watch.errors
