"""Quick replies in the workspace composer (issue 13), in Chinese and English: "/" opens the
picker (most used first), typing filters by shortcut, title, text and pinyin initials ("/tk"
finds 退款说明), arrows + Enter insert with the variables filled (Enter does not send), Esc
closes, the use is counted; the dialog adds, edits and deletes the agent's own replies, shows
field errors from the API, and offers no edit of shared replies to an agent."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import CannedResponse, Message
from merchants.models import Membership
from tests import factories

from .conftest import AGENT_PASSWORD, login, open_row, open_widget, widget_say

pytestmark = [pytest.mark.browser, pytest.mark.live]

WORDS = {
    "zh-CN": {"mine": "我的", "shared": "共享", "edit": "编辑", "none": "没有匹配的快捷回复。"},
    "en-US": {
        "mine": "Mine",
        "shared": "Shared",
        "edit": "Edit",
        "none": "No quick reply matches.",
    },
}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_quick_reply_picker_and_manager(daphne_server, shop, agent, new_page, locale):
    words = WORDS[locale]
    base = daphne_server.url
    refund = factories.canned(
        shop,
        "refund",
        "您好 {visitor_name}，退款三天内到账。{agent_name}@{merchant_name}",
        "退款说明",
    )
    hello = factories.canned(shop, "hello", "您好，请问有什么可以帮您？", "问候")
    CannedResponse.objects.filter(pk=hello.pk).update(usage_count=3)
    CannedResponse.objects.create(
        merchant=shop,
        owner=agent.user,
        shortcut="fp",
        title="发票",
        text="发票在订单页申请。",
        search_key="fp f fapiao fp",
    )
    other_shop = factories.merchant("别家")
    factories.canned(other_shop, "secret", "别家的话术")

    visitor, _ = new_page(locale)
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "我要退款")
    workspace, watch = new_page(locale)
    login(workspace, base, "xiaomei")
    open_row(workspace)
    visitor_name = workspace.locator("#thread-title").inner_text()

    body = workspace.locator("#reply-body")
    picker = workspace.locator("#qr-picker")
    items = workspace.locator("#qr-list .qr-item")
    body.press("/")
    expect(picker).to_be_visible()
    # Most used first; another merchant's replies never reach the page.
    expect(items.locator(".qr-shortcut")).to_have_text(["/hello", "/fp", "/refund"])
    expect(items.nth(1).locator(".qr-mine")).to_have_text(words["mine"])
    body.type("tk")
    expect(items.locator(".qr-shortcut")).to_have_text(["/refund"])  # pinyin initials of 退款说明
    body.fill("/到账")
    expect(items.locator(".qr-shortcut")).to_have_text(["/refund"])  # by text
    body.fill("/zzz")
    expect(workspace.locator("#qr-list .qr-none")).to_have_text(words["none"])
    body.press("Escape")
    expect(picker).to_be_hidden()
    expect(body).to_have_value("/zzz")

    body.fill("/")
    expect(items).to_have_count(3)
    body.press("ArrowDown")
    body.press("ArrowDown")
    expect(items.nth(2)).to_have_class(re.compile(r"\bchosen\b"))
    body.press("ArrowUp")
    body.press("ArrowDown")
    body.press("Enter")
    expect(picker).to_be_hidden()
    expect(body).to_have_value(f"您好 {visitor_name}，退款三天内到账。小美@墨中商城")
    assert not Message.objects.filter(sender_kind="agent").exists()  # Enter inserted, not sent
    # The use is counted by a background request: poll the database.
    for _ in range(50):
        if CannedResponse.objects.get(pk=refund.pk).usage_count == 1:
            break
        workspace.wait_for_timeout(100)
    assert CannedResponse.objects.get(pk=refund.pk).usage_count == 1
    body.press("Enter")
    expect(widget.locator(".msg").filter(has_text="退款三天内到账")).to_have_count(1)

    # The manager: the agent's own replies are editable, shared ones are not.
    workspace.click("#qr-open")
    dialog = workspace.locator("#qr-dialog")
    expect(dialog).to_be_visible()
    rows = dialog.locator(".qr-row")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="/hello").locator(".qr-shared")).to_have_text(words["shared"])
    expect(rows.filter(has_text="/hello").locator(".qr-edit")).to_have_count(0)
    expect(workspace.locator("#qr-personal-row")).to_be_hidden()
    # Bad input: the API's field error, shown under the field.
    workspace.fill("#qr-shortcut", "two words")
    workspace.fill("#qr-text", "再见")
    workspace.click("#qr-save")
    expect(workspace.locator("#qr-shortcut-error")).to_be_visible()
    workspace.fill("#qr-shortcut", "bye")
    workspace.fill("#qr-text", "<img src=x onerror=window.__xss=1>再见 {visitor_name}")
    workspace.click("#qr-save")
    expect(rows).to_have_count(4)
    bye = CannedResponse.objects.get(merchant=shop, shortcut="bye")
    assert bye.owner_id == agent.user_id
    expect(rows.filter(has_text="/bye").locator(".qr-text")).to_have_text(
        "<img src=x onerror=window.__xss=1>再见 {visitor_name}"
    )
    rows.filter(has_text="/bye").locator(".qr-edit").click()
    expect(workspace.locator("#qr-shortcut")).to_have_value("bye")
    workspace.fill("#qr-title", "告别")
    workspace.click("#qr-save")
    expect(rows.filter(has_text="/bye").locator(".qr-title")).to_have_text("告别")
    assert CannedResponse.objects.get(pk=bye.pk).title == "告别"
    workspace.once("dialog", lambda d: d.accept())
    rows.filter(has_text="/bye").locator(".qr-delete").click()
    expect(rows).to_have_count(3)
    assert not CannedResponse.objects.filter(pk=bye.pk).exists()
    workspace.click("#qr-close")
    assert workspace.evaluate("window.__xss") is None
    assert not watch.errors


@pytest.mark.parametrize(
    "locale, label",
    [
        ("zh-CN", "仅自己使用（不勾选则全体客服共享）"),
        ("en-US", "Only for me (unticked: shared with every agent)"),
    ],
)
def test_an_admin_adds_a_shared_reply_every_agent_gets(
    daphne_server, shop, agent, new_page, locale, label
):
    base = daphne_server.url
    factories.member(
        shop, "boss", Membership.Role.ADMIN, password=AGENT_PASSWORD, display_name="店长"
    )
    boss, _ = new_page(locale)
    boss.goto(f"{base}/workspace/")
    boss.fill("#id_username", "boss")
    boss.fill("#id_password", AGENT_PASSWORD)
    boss.click("form[action$='/accounts/login/'] button[type=submit]")
    boss.wait_for_url(re.compile(r"/workspace/\d+/"))
    # Once in CI the click opened nothing (cause unknown: the button's handler is attached as
    # the module loads), and the unticking below passed on the closed dialog's box, which starts
    # unticked. Now the dialog must be open and the box ticked, and the test first waits for the
    # socket, as the other workspace tests do.
    expect(boss.locator("#conn")).to_have_class(re.compile("conn-online"))
    boss.click("#qr-manage")  # in the top bar: no conversation needs to be open
    expect(boss.locator("#qr-dialog")).to_be_visible()
    expect(boss.locator("#qr-personal")).to_be_checked()  # personal unless unticked
    expect(boss.locator("#qr-personal-row")).to_have_text(label)
    boss.uncheck("#qr-personal")
    boss.fill("#qr-shortcut", "营业时间")
    boss.fill("#qr-title", "营业时间")
    boss.fill("#qr-text", "{merchant_name}每天 9:00-21:00 在线。")
    boss.click("#qr-save")
    expect(boss.locator("#qr-rows .qr-row")).to_have_count(1)
    shared = CannedResponse.objects.get(merchant=shop, shortcut="营业时间")
    assert shared.owner_id is None and shared.search_key == "yingyeshijian yysj"

    # An agent's picker has it ("/yysj"), not editable in the agent's manager.
    visitor, _ = new_page(locale)
    widget = open_widget(visitor, base, shop.widget_key)
    widget_say(widget, "几点下班？")
    workspace, _ = new_page(locale)
    login(workspace, base, "xiaomei")
    open_row(workspace)
    workspace.locator("#reply-body").press("/")
    workspace.locator("#reply-body").type("yysj")
    expect(workspace.locator("#qr-list .qr-shortcut")).to_have_text(["/营业时间"])
    workspace.locator("#reply-body").press("Tab")
    expect(workspace.locator("#reply-body")).to_have_value("墨中商城每天 9:00-21:00 在线。")
    workspace.click("#qr-open")
    expect(workspace.locator("#qr-rows .qr-row")).to_have_count(1)
    expect(workspace.locator("#qr-rows .qr-edit")).to_have_count(0)
