"""The first minute of a new agent at the desk (issue 13, "First-minute bugs"): a visitor who
writes while the agent is in the workspace, in Chinese and in English. Each assertion failed
before its fix: a literal "null" before the visitor's name, "—" as the status of a visitor who
is online, the private-note checkbox that stayed ticked, toasts stacked over the visitor pane,
the sentiment trend as one stray bar, a transfer dialog without the teams made after the page
connected, and the favicon 404 on every page."""

import json

import pytest
from playwright.sync_api import expect

from conversations.models import Message
from merchants.models import Team
from tests import factories

from .conftest import (
    AGENT_PASSWORD,
    SocketGate,
    agent_say,
    login,
    open_row,
    open_widget,
    widget_say,
)

pytestmark = [pytest.mark.browser, pytest.mark.live]

WORDS = {
    "zh-CN": {
        "online": "在线",
        "mood": "情绪",
        "add_note": "添加备注",
        "send": "发送",
        "agents": ["大伟 — 在线", "阿强 — 离开", "阿丽 — 离线"],
        "team": "售后 — 1 人在线",
        "more": "还有 2 条通知（全部关闭）",
        "count": "2 条通知",
    },
    "en-US": {
        "online": "Online",
        "mood": "Mood",
        "add_note": "Add note",
        "send": "Send",
        "agents": ["大伟 — Online", "阿强 — Away", "阿丽 — Offline"],
        "team": "售后 — 1 online",
        "more": "2 more notifications (dismiss all)",
        "count": "2 notifications",
    },
}


def boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_first_minute_at_the_desk(daphne_server, shop, agent, new_page, locale):
    words = WORDS[locale]
    base = daphne_server.url
    dawei = factories.member(shop, "dawei", password=AGENT_PASSWORD, display_name="大伟")
    factories.member(shop, "aqiang", password=AGENT_PASSWORD, display_name="阿强")
    factories.member(shop, "ali", password=AGENT_PASSWORD, display_name="阿丽")

    workspace, watch = new_page(locale)
    gate = SocketGate(workspace.context, "/ws/agent/")
    # Toasts expire on a timer; a fake clock (running normally until paused) lets the toast
    # checks below take as long as a loaded CI machine needs.
    workspace.clock.install()
    login(workspace, base, "xiaomei")
    # Colleagues: one online, one away, one never signs in (offline).
    colleague, _ = new_page(locale)
    login(colleague, base, "dawei")
    away, _ = new_page(locale)
    login(away, base, "aqiang")
    # The switch only works on a connected socket (otherwise it snaps back).
    expect(away.locator("#conn")).to_have_class("conn conn-online")
    away.select_option("#my-status", "away")
    expect(workspace.locator("#agent-list li[data-status=away]")).to_have_count(1)

    # A visitor writes while the agent watches: the conversation arrives through the socket.
    visitor, _ = new_page(locale)
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "太差了，我要退款！")
    open_row(workspace)
    head = workspace.locator(".thread-head")
    expect(workspace.locator("#thread-title")).not_to_be_empty()
    assert "null" not in head.inner_text()
    # The visitor is online, and the pane says so (the live frame carried no presence).
    expect(workspace.locator("#v-online")).to_have_text(words["online"])
    expect(workspace.locator("#thread-online .dot-online")).to_have_count(1)

    # The trend is a captioned row of slots, not one lone bar.
    trend = workspace.locator("#thread-trend")
    expect(trend.locator(".trend-caption")).to_have_text(words["mood"])
    expect(trend.locator(".bar")).to_have_count(1)
    expect(trend.locator(".slot")).to_have_count(7)

    # Reply / Note tabs: the note is visibly different and the next message is a reply again.
    send = workspace.locator("#reply-send")
    expect(send).to_have_text(words["send"])
    workspace.click("#reply-tab-note")
    expect(workspace.locator("#reply")).to_have_class("reply note-mode")
    expect(workspace.locator("#reply-tab-note")).to_have_attribute("aria-selected", "true")
    expect(workspace.locator("#note-hint")).to_be_visible()
    expect(send).to_have_text(words["add_note"])
    agent_say(workspace, "老客户，先安抚")
    expect(workspace.locator("#messages .msg.note .text")).to_have_text("老客户，先安抚")
    expect(workspace.locator("#reply-tab-reply")).to_have_attribute("aria-selected", "true")
    expect(workspace.locator("#reply")).to_have_class("reply")
    expect(send).to_have_text(words["send"])
    agent_say(workspace, "您好，马上为您处理")
    expect(widget.locator(".msg").filter(has_text="您好，马上为您处理")).to_have_count(1)
    stored = dict(Message.objects.filter(sender_kind="agent").values_list("body", "is_private"))
    assert stored == {"老客户，先安抚": True, "您好，马上为您处理": False}

    # Transfer: every colleague with their status, and a team made after the page connected.
    team = Team.objects.create(merchant=shop, name="售后")
    dawei.teams.add(team)
    workspace.click("#thread-transfer")
    expect(workspace.locator("#transfer-dialog")).to_be_visible()
    expect(workspace.locator("#transfer-agents option")).to_have_text(words["agents"])
    expect(workspace.locator("#transfer-teams option")).to_have_text([words["team"]])
    workspace.click("#transfer-cancel")

    # No 404 anywhere (the favicon was one on every page).
    assert not [line for line in watch.console if "404" in line], watch.console
    icon = workspace.evaluate("document.querySelector('link[rel=icon]').href")
    assert workspace.request.get(icon).status == 200
    assert workspace.request.get(f"{base}/favicon.ico").status == 200

    # Toasts: one per conversation (counted), three at most, never over the visitor pane.
    page_socket = gate.live[-1][0]
    workspace.clock.pause_at(workspace.evaluate("Date.now()") + 1000)
    for n, conversation_id in enumerate([101, 102, 103, 104, 101, 105]):
        page_socket.send(
            json.dumps(
                {
                    "type": "notification",
                    "reason": "new",
                    "conversation_id": conversation_id,
                    "title": f"访客 {conversation_id}",
                    "body": f"第 {n} 条",
                }
            )
        )
    toasts = workspace.locator("#toasts .toast:visible")
    expect(toasts).to_have_count(3)
    expect(workspace.locator("#toasts .toast")).to_have_count(5)
    expect(workspace.locator("#toasts .toast-more")).to_have_text(words["more"])
    grouped = workspace.locator("#toasts .toast[data-id='101']")
    expect(grouped.locator(".toast-count")).to_have_text(words["count"])
    pane = workspace.locator("aside.visitor").bounding_box()
    composer = workspace.locator("#reply").bounding_box()
    for i in range(3):
        box = toasts.nth(i).bounding_box()
        assert not boxes_overlap(box, pane) and not boxes_overlap(box, composer)
    # Opening a conversation dismisses its toast; "dismiss all" the rest.
    visible_before = workspace.locator("#toasts .toast").count()
    workspace.locator("#toasts .toast:visible").first.click()
    expect(workspace.locator("#toasts .toast")).to_have_count(visible_before - 1)
    workspace.click("#toasts .toast-more")
    expect(workspace.locator("#toasts .toast")).to_have_count(0)
    # A toast that nobody opens leaves by itself after its 8 seconds.
    page_socket.send(
        json.dumps(
            {
                "type": "notification",
                "reason": "new",
                "conversation_id": 106,
                "title": "访客 106",
                "body": "最后一条",
            }
        )
    )
    expect(workspace.locator("#toasts .toast")).to_have_count(1)
    workspace.clock.run_for(7000)
    expect(workspace.locator("#toasts .toast")).to_have_count(1)
    workspace.clock.run_for(1500)
    expect(workspace.locator("#toasts .toast")).to_have_count(0)
