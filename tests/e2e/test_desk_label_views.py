"""Label views and managing labels in the workspace (issue 13), in Chinese and English, in real
Chromium: the inbox has one view per label with its count of open conversations; an admin adds,
renames, recolours and deletes labels from the workspace and an agent's page follows live (an
agent gets no way to manage them); a too-long or taken name and a label deleted under an agent's
picker are said plainly; another merchant's labels never appear."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Label
from merchants.models import Membership
from tests import factories

from .conftest import AGENT_PASSWORD, in_thread, login, open_row, save_shot, shots_folder

pytestmark = [pytest.mark.browser, pytest.mark.live]

SHOTS = shots_folder("desk")

WORDS = {
    "zh-CN": {
        "manage": "管理标签",
        "taken": "已有同名标签。",
        "gone": "该标签已不存在",
        "too_long": "50",
    },
    "en-US": {
        "manage": "Manage labels",
        "taken": "There is already a label with this name.",
        "gone": "That label no longer exists",
        "too_long": "50",
    },
}


def seed(shop) -> dict:
    made = {}
    for name, body in (("张三", "发票"), ("Li Si", "refund"), ("王五", "退货")):
        message = factories.visitor_message(factories.visitor(shop, name=name), body)
        made[name] = Conversation.objects.get(pk=message.conversation_id)
    vip = Label.objects.create(merchant=shop, name="VIP", colour="#dc2626")
    refund = Label.objects.create(merchant=shop, name="退款", colour="#2563eb")
    made["张三"].labels.add(vip)
    made["Li Si"].labels.add(vip, refund)
    Label.objects.create(merchant=factories.merchant("别家"), name="别家的标签")
    return {"vip": vip.pk, "refund": refund.pk}


def tab(page, name):
    return page.locator("#label-views button.view").filter(has_text=name)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_label_views_and_managing_labels(daphne_server, shop, agent, new_page, locale):
    words = WORDS[locale]
    base = daphne_server.url
    factories.member(
        shop, "boss", Membership.Role.ADMIN, password=AGENT_PASSWORD, display_name="老板"
    )
    ids = in_thread(seed, shop)

    admin, admin_watch = new_page(locale)
    login(admin, base, "boss")
    page, watch = new_page(locale)
    login(page, base, "xiaomei")
    for p in (admin, page):
        expect(p.locator("#label-views button.view")).to_have_count(2)
        expect(p.locator("#label-views .view-label-name")).to_have_text(["VIP", "退款"])
        expect(tab(p, "VIP").locator(".view-count")).to_have_text("2")
        expect(tab(p, "退款").locator(".view-count")).to_have_text("1")
        expect(p.get_by_text("别家的标签")).to_have_count(0)
    expect(admin.locator("#labels-manage")).to_have_text(words["manage"])
    expect(page.locator("#labels-manage")).to_have_count(0)  # agents apply, never manage
    expect(page.locator("#labels-dialog")).to_have_count(0)

    # A label view: the open conversations with it, kept in step when a label is applied.
    tab(page, "VIP").click()
    expect(tab(page, "VIP")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#conv-list .conv-name")).to_have_count(2)
    expect(page.locator("#conv-list .conv-name")).not_to_contain_text(["王五"])
    tab(page, "退款").click()
    expect(page.locator("#conv-list .conv-name")).to_have_text(["Li Si"])
    page.locator('#views [data-view="all"]').click()
    open_row(page, "王五")
    page.click("#thread-labels .label-add")
    page.locator("#label-menu label").filter(has_text="VIP").click()
    expect(page.locator("#thread-labels .label-chip")).to_contain_text(["VIP"])
    expect(tab(admin, "VIP").locator(".view-count")).to_have_text("3")  # live, elsewhere
    expect(tab(page, "VIP").locator(".view-count")).to_have_text("3")
    page.keyboard.press("Escape")

    # The admin manages them from the workspace; the agent's page follows live.
    admin.locator("#labels-manage").click()
    dialog = admin.locator("#labels-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#labels-rows .label-name")).to_have_count(2)
    admin.fill("#label-new-name", "投诉")
    admin.locator("#label-new-colour").fill("#16a34a")
    admin.click("#label-new-add")
    expect(tab(page, "投诉").locator(".view-count")).to_have_text("0")
    expect(dialog.locator("#labels-rows .label-name")).to_have_count(3)
    save_shot(admin, SHOTS, f"desktop-labels-{locale}.png")
    assert Label.objects.get(merchant=shop, name="投诉").colour == "#16a34a"
    # Too long, and taken: the field says so; nothing changes.
    admin.fill("#label-new-name", "长" * 60)
    admin.click("#label-new-add")
    expect(admin.locator("#label-new-error")).to_contain_text(words["too_long"])
    admin.fill("#label-new-name", "VIP")
    admin.click("#label-new-add")
    expect(admin.locator("#label-new-error")).to_have_text(words["taken"])
    assert Label.objects.filter(merchant=shop).count() == 3
    # Rename and recolour VIP.
    vip_row = dialog.locator(f'.label-row[data-label="{ids["vip"]}"]')
    vip_row.locator(".label-name").fill("重要客户")
    vip_row.locator(".label-colour").fill("#7c3aed")
    vip_row.get_by_role("button", name=re.compile("^(保存|Save)$")).click()
    expect(tab(page, "重要客户").locator(".view-count")).to_have_text("3")
    expect(page.locator("#thread-labels .label-chip").first).to_contain_text("重要客户")
    expect(page.locator("#thread-labels .label-chip").first).to_have_css(
        "background-color", "rgb(124, 58, 237)"
    )
    # Delete 投诉: a second click confirms. The agent looking at its view is back on "All".
    tab(page, "投诉").click()
    expect(page.locator("#conv-list li")).to_have_count(0)
    row = dialog.locator(".label-row").filter(has=admin.locator('input[value="投诉"]'))
    row.locator(".danger-link").click()
    expect(tab(page, "投诉")).to_have_count(1)  # not yet
    row.locator(".danger-link").click()
    expect(tab(page, "投诉")).to_have_count(0)
    assert not Label.objects.filter(merchant=shop, name="投诉").exists()
    expect(page.locator('#views [data-view="all"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#conv-list li")).to_have_count(3)
    admin.click("#labels-close")

    # A label deleted while the agent's picker is open leaves the picker at once; one whose
    # labels.changed never arrived (deleted here behind the pages' back) is refused plainly.
    page.click("#thread-labels .label-add")
    menu = page.locator("#label-menu label")
    expect(menu).to_have_text(["退款", "重要客户"])  # by name
    admin.locator("#labels-manage").click()
    refund_row = dialog.locator(f'.label-row[data-label="{ids["refund"]}"]')
    refund_row.locator(".danger-link").click()
    refund_row.locator(".danger-link").click()
    expect(tab(page, "退款")).to_have_count(0)
    expect(menu).to_have_text(["重要客户"])
    in_thread(lambda: Label.objects.filter(pk=ids["vip"]).delete())
    menu.filter(has_text="重要客户").click()  # unticks it: the label is gone
    expect(page.locator("#notice")).to_have_text(re.compile(words["gone"]))
    expect(page.locator("#thread-labels .label-chip")).to_have_count(1)  # unchanged, no crash

    assert not watch.errors, watch.errors
    assert not admin_watch.errors, admin_watch.errors
