"""Labels and customer profiles in the workspace (issue 13), in Chinese and English, in real
Chromium: an agent labels a conversation from the thread header and a colleague's inbox shows
it live; the visitor pane shows the customer (not signed in, device, the page trail, a past
conversation that opens in place), takes a note and a custom attribute, and blocks the visitor,
whose widget then shows a neutral closed chat; another merchant's labels never reach the page.
Screenshots of both languages go to $KEFU_SHOTS/desk/ when KEFU_SHOTS is set (docs/desk.md)."""

import shutil

import pytest
from playwright.sync_api import expect

from conversations.models import AttributeDefinition, Conversation, Label, Visitor
from merchants.models import Membership
from tests import factories

from .conftest import AGENT_PASSWORD, login, open_row, open_widget, shots_folder, widget_say

pytestmark = [pytest.mark.browser, pytest.mark.live]

SHOTS = shots_folder("desk")

WORDS = {
    "zh-CN": {
        "anonymous": "未登录",
        "blocked_by": "由 小美 屏蔽",
        "reason": "原因：发广告",
        "closed": "本次对话已结束，感谢您的访问。",
        "past": "历史会话",
        "add": "+ 标签",
    },
    "en-US": {
        "anonymous": "Not signed in",
        "blocked_by": "Blocked by 小美",
        "reason": "Reason: 发广告",
        "closed": "This chat is closed. Thank you for your visit.",
        "past": "Past conversations",
        "add": "+ Label",
    },
}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_labels_and_customer_profile(daphne_server, shop, agent, new_page, screenshots, locale):
    words = WORDS[locale]
    base = daphne_server.url
    vip = Label.objects.create(merchant=shop, name="VIP", colour="#dc2626")
    Label.objects.create(merchant=shop, name="退款", colour="#2563eb")
    Label.objects.create(merchant=factories.merchant("别家"), name="别家的标签")
    AttributeDefinition.objects.create(
        merchant=shop, key="plan", name="套餐", kind="choice", choices=["free", "pro"]
    )
    factories.member(
        shop, "ajie", Membership.Role.AGENT, password=AGENT_PASSWORD, display_name="阿杰"
    )

    visitor_page, _ = new_page(locale)
    widget = open_widget(visitor_page, base, shop.widget_key)
    widget_say(widget, "我想退货，订单 1234")
    for _ in range(100):
        visitor = Visitor.objects.filter(merchant=shop, conversations__isnull=False).first()
        if visitor:
            break
        visitor_page.wait_for_timeout(100)
    # A conversation from last week, closed: the profile lists it.
    Conversation.objects.create(
        merchant=shop, visitor=visitor, status="closed", last_message_preview="上周的发票问题"
    )

    workspace, watch = new_page(locale)
    login(workspace, base, "xiaomei")
    colleague, _ = new_page(locale)
    login(colleague, base, "ajie")
    row = open_row(workspace, "我想退货")
    expect(colleague.locator("#conv-list li.conv-row")).to_have_count(2)

    # Label from the thread header: the picker lists this merchant's labels only.
    workspace.click("#thread-labels .label-add")
    menu = workspace.locator("#label-menu")
    expect(menu).to_be_visible()
    expect(menu.locator("label")).to_have_text(["VIP", "退款"])
    menu.locator("label", has_text="VIP").click()
    expect(workspace.locator("#thread-labels .label-chip")).to_have_text(["VIP×"])
    workspace.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(row.locator(".conv-labels .label-chip")).to_have_text(["VIP"])
    # The colleague's inbox shows it without a reload (conversation.labels).
    live = colleague.locator("#conv-list li.conv-row").filter(has_text="我想退货")
    expect(live.locator(".label-chip")).to_have_text(["VIP"])
    conversation = Conversation.objects.get(merchant=shop, visitor=visitor, status="open")
    assert list(conversation.labels.values_list("id", flat=True)) == [vip.pk]

    # The customer profile.
    profile = workspace.locator("#profile")
    expect(profile).to_contain_text(words["anonymous"])
    expect(profile).to_contain_text("Chrome")
    expect(profile.locator(".trail li")).to_have_count(1)
    expect(profile.locator(".history-item")).to_have_count(1)
    expect(profile).to_contain_text(words["past"])

    # A note (untrusted text stays text) and a custom attribute.
    workspace.fill("#note-body", "<b>老客户</b>，喜欢电话联系")
    workspace.locator(".note-form button[type=submit]").click()
    expect(profile.locator(".customer-note .note-body")).to_have_text(
        ["<b>老客户</b>，喜欢电话联系"]
    )
    profile.locator("dd[data-key=plan] .attr-edit").click()
    profile.locator("dd[data-key=plan] select").select_option("pro")
    profile.locator("dd[data-key=plan] button[type=submit]").click()
    expect(profile.locator("dd[data-key=plan] .attr-value")).to_have_text("pro")
    assert Visitor.objects.get(pk=visitor.pk).attributes == {"plan": "pro"}

    if SHOTS:
        workspace.set_viewport_size({"width": 1280, "height": 1120})  # the whole pane
        workspace.evaluate("document.querySelector('aside.visitor').scrollTop = 0")
        workspace.screenshot(path=str(SHOTS / f"workspace-profile-{locale}.png"))
        workspace.set_viewport_size({"width": 1280, "height": 800})

    # A past conversation opens in place.
    profile.locator(".history-item").click()
    expect(workspace.locator("#thread-title")).to_have_text(visitor.display_name)
    expect(workspace.locator("#conv-list li.conv-row.active")).to_contain_text("上周的发票问题")
    row.locator("button").click()

    # Block: the agent sees who and why; the visitor's chat is closed, in neutral words.
    profile.locator("#profile-block").click()
    workspace.fill("#block-reason", "发广告")
    profile.locator(".block-form button[type=submit]").click()
    banner = profile.locator(".blocked-banner")
    expect(banner).to_contain_text(words["blocked_by"])
    expect(banner).to_contain_text(words["reason"])
    assert Visitor.objects.get(pk=visitor.pk).blocked_by_id == agent.user_id
    if SHOTS:
        workspace.evaluate("document.querySelector('aside.visitor').scrollTop = 0")
        workspace.screenshot(path=str(SHOTS / f"workspace-blocked-{locale}.png"))
    widget_say(widget, "再发一条广告")
    expect(widget.locator(".closed")).to_have_text(words["closed"])
    expect(widget.locator("form")).to_be_hidden()
    visitor_page.reload()
    widget = visitor_page.locator("#kefu-widget")
    expect(widget.locator(".launcher")).to_be_visible()
    if not widget.locator(".panel").is_visible():  # the widget may reopen as it was
        widget.locator(".launcher").click()
    expect(widget.locator(".closed")).to_be_visible()
    expect(widget.locator(".closed")).to_have_text(words["closed"])
    expect(widget.locator("textarea")).to_be_hidden()
    if SHOTS:
        visitor_page.screenshot(path=str(SHOTS / f"widget-closed-{locale}.png"))
    assert conversation.messages.filter(body="再发一条广告").count() == 0

    profile.locator("#profile-unblock").click()
    expect(profile.locator("#profile-block")).to_be_visible()
    assert Visitor.objects.get(pk=visitor.pk).blocked_at is None
    assert not watch.errors
    for name in ("workspace-profile", "workspace-blocked"):
        shot = SHOTS / f"{name}-{locale}.png" if SHOTS else None
        if shot and shot.exists():
            shutil.copy(shot, screenshots / shot.name)
