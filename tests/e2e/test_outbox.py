"""The widget's outbox survives a reload: what the visitor wrote while the line was down is kept
in localStorage, shown as pending, and sent after the reload with the same client_msg_id, so
the server stores each message exactly once, even one whose acknowledgement was lost."""

import json
import re

import pytest
from playwright.sync_api import expect

from conversations.models import Message

from .conftest import SocketGate, login, open_row, open_widget, widget_say

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_outbox_survives_a_reload_while_offline(daphne_server, shop, agent, new_page, screenshots):
    base = daphne_server.url
    visitor, visitor_watch = new_page()
    gate = SocketGate(visitor.context, "/ws/visitor/")
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "第一条")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))

    workspace, agent_watch = new_page()
    login(workspace, base, "xiaomei")
    open_row(workspace)
    agent_texts = workspace.locator("#messages .msg .text")
    expect(agent_texts).to_have_text(["第一条"])

    # Stored, but the acknowledgement (and the broadcast copy) never reaches the page.
    gate.drop = lambda frame: frame["type"] in ("message.ack", "message.created")
    widget_say(widget, "离线一")
    expect(agent_texts).to_have_text(["第一条", "离线一"])
    # The first, the "joined" line of the agent's claim on opening, and the lost-ack one.
    assert Message.objects.filter(merchant=shop).count() == 3
    expect(widget.locator(".msg.pending .bubble")).to_have_text(["离线一"])

    # Now the line goes down entirely; the next message cannot even be sent.
    gate.cut()
    expect(widget.locator(".status.conn")).to_be_visible()
    widget_say(widget, "离线二")
    expect(widget.locator(".msg.pending .bubble")).to_have_text(["离线一", "离线二"])
    stored = json.loads(visitor.evaluate(f"localStorage.getItem('kefu:{shop.widget_key}:outbox')"))
    assert sorted(e["body"] for e in stored.values()) == ["离线一", "离线二"]

    # A reload while still offline: the outbox comes back from localStorage, still pending.
    visitor.reload()
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator(".msg.pending .bubble")).to_have_text(["离线一", "离线二"])
    expect(widget.locator(".status.conn")).to_be_visible()
    visitor.screenshot(path=str(screenshots / "widget-offline-outbox.png"))

    gate.restore()
    expect(widget.locator(".status.conn")).to_be_hidden(timeout=30_000)
    expect(widget.locator(".msg.pending")).to_have_count(0)
    expect(widget.locator(".msg:not(.welcome) .bubble")).to_have_text(
        ["第一条", "离线一", "离线二"]
    )
    expect(agent_texts).to_have_text(["第一条", "离线一", "离线二"])
    assert visitor.evaluate(f"localStorage.getItem('kefu:{shop.widget_key}:outbox')") is None

    # Exactly once in the database, in order.
    rows = list(Message.objects.filter(merchant=shop).order_by("seq").values_list("seq", "body"))
    assert rows == [(1, "第一条"), (2, "小美已加入会话。"), (3, "离线一"), (4, "离线二")]
    # The same client_msg_id before and after the reload; the repeat was answered duplicate.
    (lost_ack_id,) = gate.ids_sent_for("离线一")
    (offline_id,) = gate.ids_sent_for("离线二")
    assert gate.acks_for(lost_ack_id)[-1]["duplicate"] is True
    assert [a["duplicate"] for a in gate.acks_for(offline_id)] == [False]
    assert Message.objects.get(merchant=shop, seq=3).client_msg_id == lost_ack_id

    # Nothing shows twice after another reload, now online (full history from seq 0).
    visitor.reload()
    expect(widget.locator(".msg:not(.welcome) .bubble")).to_have_text(
        ["第一条", "离线一", "离线二"]
    )
    expect(widget.locator(".status.conn")).to_be_hidden()
    assert not visitor_watch.errors and not agent_watch.errors
