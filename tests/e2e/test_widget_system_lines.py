"""Issue 14: the system lines of the visitor's thread are stored (conversations/system_lines.py).
After the bot hands over, an agent joins, transfers the chat (with a private note) and another
resolves it, a reload, a second tab and the workspace show the same lines in the same place, in
each reader's language; the private note never reaches the visitor. Phone and desktop, zh and
en. And the pre-chat form's answers in the workspace's visitor pane, as text, in both
languages."""

import pytest
from playwright.sync_api import expect

from merchants.models import Membership, Merchant
from tests import factories

from . import test_widget_ui
from .conftest import AGENT_PASSWORD, login, open_row, save_shot, shots_folder
from .test_widget_rating import HANDOVER, TEXT
from .test_widget_ui import press, widget_errors

screen_page = test_widget_ui.screen_page

pytestmark = [pytest.mark.browser, pytest.mark.live]

SHOTS = shots_folder("widget")


def shot(page, name: str) -> None:
    save_shot(page, SHOTS, f"{name}.png")


def kinds(widget) -> list[str]:
    """The thread as the visitor's widget shows it, top to bottom."""
    return widget.locator(".list > li").evaluate_all(
        "lis => lis.map(li => li.classList.contains('sys') ? 'sys:' + li.dataset.line"
        " : li.dataset.kind || 'welcome')"
    )


def panel_open(page, widget, screen) -> None:
    """After a load: open the panel unless the widget reopened it by itself."""
    expect(widget.locator(".launcher, .panel:visible").first).to_be_visible()
    if not widget.locator(".panel").is_visible():
        press(page, widget.locator(".launcher"), screen)
    expect(widget.locator(".panel")).to_be_visible()


def bot_that_hands_over(shop):
    from knowledge import services as kb_services
    from knowledge import training as kb_training

    Merchant.objects.filter(pk=shop.pk).update(bot_mode=Merchant.BotMode.BOT_FIRST)
    kb_services.faq_create(merchant_id=shop.pk, question="怎么退货", answer="7 天内可退。")
    kb_training.kb_train(merchant_id=shop.pk)


@pytest.mark.parametrize(
    ("screen", "locale"),
    [("phone", "zh-CN"), ("desktop", "en-US"), ("phone", "en-US"), ("desktop", "zh-CN")],
)
def test_lines_survive_a_reload_a_second_tab_and_show_in_the_workspace(
    daphne_server, shop, agent, screen_page, new_page, screen, locale
):
    factories.member(
        shop, "dawei", Membership.Role.AGENT, password=AGENT_PASSWORD, display_name="大伟"
    )
    bot_that_hands_over(shop)
    text = {**TEXT[locale], **HANDOVER[locale]}
    base = daphne_server.url
    page, console = screen_page(screen, locale)
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    workspace, _ = new_page(locale)
    login(workspace, base, "xiaomei")
    press(page, widget.locator(".launcher"), screen)
    expect(widget.locator(".status")).to_have_attribute("data-state", "online")
    box = widget.locator("form:not(.prechat) textarea")
    box.fill("你好" if locale == "zh-CN" else "hello")
    box.press("Enter")
    expect(widget.locator(".msg.bot .bubble")).to_have_text([text["hello"]])
    press(page, widget.locator(".handover"), screen)
    lines = widget.locator(".msg.sys .sysline")
    expect(lines).to_have_text([text["handed"], text["joined"]])

    # 小美 answers, transfers to 大伟 with a note only agents see; 大伟 resolves.
    open_row(workspace)
    workspace.fill("#reply-body", "您好，我是小美")
    workspace.press("#reply-body", "Enter")
    expect(widget.locator(".msg.theirs:not(.bot) .bubble")).to_have_text(["您好，我是小美"])
    workspace.click("#thread-transfer")
    workspace.select_option("#transfer-target", index=0)
    if workspace.locator("#transfer-note").count():
        workspace.fill("#transfer-note", "VIP 客户，私下备注")
    workspace.click("#transfer-submit")
    expect(lines).to_have_text([text["handed"], text["joined"], text["moved"]])
    dawei, _ = new_page(locale)
    login(dawei, base, "dawei")
    open_row(dawei)
    dawei.click("#thread-resolve")
    expected = [text["handed"], text["joined"], text["moved"], text["ended"]]
    expect(lines).to_have_text(expected)
    live = kinds(widget)

    # A reload: the same lines at the same places, from the server.
    page.reload()
    panel_open(page, widget, screen)
    expect(lines).to_have_text(expected)
    assert kinds(widget) == live
    # (The bot says it is connecting the visitor: one or two bot bubbles before the lines.)
    assert "bot" in live and [k for k in live if k != "bot"] == [
        "welcome",
        "visitor",
        "sys:handover",
        "sys:joined",
        "agent",
        "sys:transferred",
        "sys:ended",
    ], live
    expect(widget.get_by_text("私下备注")).to_have_count(0)
    shot(page, f"system-lines-{screen}-{locale}")

    # A second tab of the same visitor shows the same thread.
    second = page.context.new_page()
    second.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    other = second.locator("#kefu-widget")
    panel_open(second, other, screen)
    expect(other.locator(".msg.sys .sysline")).to_have_text(expected)
    assert kinds(other) == live

    # The workspace shows the lines as the visitor saw them, in order among the messages.
    dawei.reload()
    open_row(dawei)
    ws_lines = dawei.locator("#messages li.sysline .line")
    expect(ws_lines).to_have_text(expected)
    order = dawei.locator("#messages > li[data-seq]").evaluate_all(
        "lis => lis.map(li => li.classList.contains('sysline') ? li.dataset.line"
        " : (li.dataset.private ? 'note' : li.className.match(/from-(\\w+)/)[1]))"
    )
    visible = [k for k in order if k not in ("system", "note", "bot")]
    assert "note" in order and visible == [
        "visitor",
        "handover",
        "joined",
        "agent",
        "transferred",
        "ended",
    ], order
    label = "访客看到的提示" if locale == "zh-CN" else "Shown to the visitor"
    expect(dawei.locator("#messages li.sysline .seen-label").first).to_have_text(label)
    if screen == "desktop":
        shot(dawei, f"workspace-system-lines-{locale}")
    assert not widget_errors(console)


PRECHAT_PANE = {
    "zh-CN": {"title": "咨询前表单", "name": "姓名", "phone": "电话"},
    "en-US": {"title": "Pre-chat form", "name": "Name", "phone": "Phone"},
}


@pytest.mark.parametrize(("locale", "screen"), [("zh-CN", "phone"), ("en-US", "desktop")])
def test_prechat_answers_in_the_visitor_pane_as_text(
    daphne_server, shop, agent, screen_page, new_page, locale, screen
):
    Merchant.objects.filter(pk=shop.pk).update(
        prechat_name="required",
        prechat_phone="optional",
        prechat_custom='订单号 Order no.*\n<img src=x onerror="window.__xss=1">',
    )
    base = daphne_server.url
    page, console = screen_page(screen, locale)
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    workspace, watch = new_page(locale)
    login(workspace, base, "xiaomei")
    press(page, widget.locator(".launcher"), screen)
    form = widget.locator("form.prechat")
    expect(form).to_be_visible()
    form.locator("#kefu-pc-name").fill("<b>李雷</b>")
    form.locator("#kefu-pc-phone").fill("+86 138 0000 0001")
    form.locator("#kefu-pc-c1").fill("A-1001")
    form.locator("#kefu-pc-c2").fill("<script>window.__xss=2</script>")
    press(page, form.locator(".submit"), screen)
    expect(form).to_be_hidden()
    box = widget.locator("form:not(.prechat) textarea")
    box.fill("我的订单到哪了？")
    box.press("Enter")
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(1)

    open_row(workspace)
    words = PRECHAT_PANE[locale]
    part = workspace.locator("#profile-prechat")
    expect(part.locator(".profile-title")).to_have_text(words["title"])
    facts = part.locator("dl.prechat-answers")
    expect(facts.locator("dt")).to_have_text(
        [words["name"], words["phone"], "订单号 Order no.", '<img src=x onerror="window.__xss=1">']
    )
    expect(facts.locator("dd")).to_have_text(
        ["<b>李雷</b>", "+86 138 0000 0001", "A-1001", "<script>window.__xss=2</script>"]
    )
    expect(part.locator("img")).to_have_count(0)
    assert workspace.evaluate("window.__xss === undefined")
    part.scroll_into_view_if_needed()
    shot(workspace, f"workspace-prechat-{locale}")
    assert not watch.errors
    assert not widget_errors(console)
