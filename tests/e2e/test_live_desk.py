"""Issue 13 in the browser: "Visitors now" with a proactive invitation that opens the visitor's
widget (desktop and phone), and the supervisor screen (load, watch, whisper, join), in Chinese
and in English. Screenshots go to $KEFU_SHOTS/live/ when KEFU_SHOTS is set (docs/img/ takes the ones the docs show)."""

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message, RoutingEvent
from merchants.models import Membership
from tests import factories

from .conftest import AGENT_PASSWORD, in_thread, login, save_shot, shots_folder, widget_say

pytestmark = [pytest.mark.browser, pytest.mark.live]

SHOTS = shots_folder("live")

WORDS = {
    "zh-CN": {
        "new": "新访客",
        "page": "聊天插件演示商店",
        "chatting": "正在与 老板 对话",
        "online": "在线",
        "blocked": "该访客已被拉黑，不能邀请。",
    },
    "en-US": {
        "new": "New",
        "page": "Widget demo shop",
        "chatting": "Chatting with 老板",
        "online": "Online",
        "blocked": "This visitor is blocked: they cannot be invited.",
    },
}


def shot(page, name: str) -> None:
    save_shot(page, SHOTS, name)


def visit(page, base: str, key: str):
    """The demo shop page with the widget closed (the visitor just browses)."""
    page.goto(f"{base}/widget/demo/?key={key}")
    widget = page.locator("#kefu-widget")
    expect(widget.locator(".launcher")).to_be_visible()
    return widget


@pytest.fixture
def boss(shop):
    return factories.member(
        shop, "laoban", Membership.Role.OWNER, password=AGENT_PASSWORD, display_name="老板"
    )


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_visitors_now_and_an_invitation_that_opens_the_widget(
    daphne_server, shop, agent, boss, new_page, browser, locale
):
    words = WORDS[locale]
    base = daphne_server.url
    desk, desk_watch = new_page(locale)
    login(desk, base, "laoban")
    visitor, _ = new_page(locale)
    widget = visit(visitor, base, shop.widget_key)

    desk.click("#live-open")
    expect(desk.locator("#live-panel")).to_be_visible()
    rows = desk.locator("#live-visitors tbody tr")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row.locator(".chip-new")).to_have_text(words["new"])
    expect(row.locator(".lv-page-title")).to_have_text(words["page"])
    expect(row.locator(".lv-pages")).to_have_text("1")
    # The visitor moves on in a single-page site: the row follows.
    visitor.evaluate("history.pushState({}, '', location.pathname + location.search + '&p=shoes')")
    expect(row.locator(".lv-pages")).to_have_text("2")
    expect(row.locator(".lv-page-url")).to_contain_text("p=shoes")
    # A visitor on a phone arrives too; the list grows without a reload.
    phone_context = browser.new_context(
        locale=locale, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    phone = phone_context.new_page()
    phone_widget = visit(phone, base, shop.widget_key)
    expect(rows).to_have_count(2)
    shot(desk, f"visitors-now-{locale}.png")

    # Invite the desktop visitor (the row that has seen two pages).
    row.locator("button.lv-invite").click()
    expect(desk.locator("#invite-dialog")).to_be_visible()
    desk.fill("#invite-body", "您好，鞋子正在打折，需要帮忙挑尺码吗？")
    shot(desk, f"invite-dialog-{locale}.png")
    desk.click("#invite-send")
    # The widget opens on the visitor's page with the message; the desk shows the thread.
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator(".panel")).to_contain_text("鞋子正在打折")
    expect(desk.locator("#live-panel")).to_be_hidden()
    expect(desk.locator("#thread")).to_be_visible()
    expect(desk.locator("#messages")).to_contain_text("鞋子正在打折")
    shot(visitor, f"widget-invited-{locale}.png")
    conversation = Conversation.objects.get(merchant=shop)
    assert conversation.assignee_id == boss.user_id
    # The invitation is the thread's first line: no "joined" line above it (system_lines.py).
    assert list(conversation.messages.values_list("seq", "meta")) == [(1, {"invite": True})]
    # The visitor answers in that conversation.
    widget_say(widget, "好的，42 码")
    expect(desk.locator("#messages")).to_contain_text("42 码")

    # The phone visitor's widget opens too.
    desk.click("#live-open")
    expect(rows).to_have_count(2)
    invited_row = rows.filter(has=desk.locator(".lv-chatting"))
    expect(invited_row.locator(".lv-chatting")).to_have_text(words["chatting"])
    rows.filter(has=desk.locator("button.lv-invite")).locator("button.lv-invite").click()
    desk.fill("#invite-body", "Hi from the desk")
    desk.press("#invite-body", "Enter")
    expect(phone_widget.locator(".panel")).to_be_visible()
    expect(phone_widget.locator(".panel")).to_contain_text("Hi from the desk")
    # The page's focus stays where it was: no keyboard popping up over the page on a phone.
    assert phone.evaluate("document.activeElement === document.body")
    shot(phone, f"widget-invited-phone-{locale}.png")
    phone_context.close()
    assert not desk_watch.errors, desk_watch.errors


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_supervisor_watches_whispers_and_joins(daphne_server, shop, agent, boss, new_page, locale):
    words = WORDS[locale]
    base = daphne_server.url
    # 小美 (a plain agent) is online and gets the visitor's chat; she sees no supervisor screen.
    desk, _ = new_page(locale)
    login(desk, base, "xiaomei")
    expect(desk.locator("#live-open")).to_be_visible()
    expect(desk.locator("#supervisor-open")).to_have_count(0)
    visitor, _ = new_page(locale)
    visitor.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = visitor.locator("#kefu-widget")
    widget.locator(".launcher").click()
    widget_say(widget, "我的订单还没发货")
    expect(desk.locator("#conv-list li")).to_have_count(1)
    conversation = Conversation.objects.get(merchant=shop)

    boss_page, boss_watch = new_page(locale)
    login(boss_page, base, "laoban")
    boss_page.click("#supervisor-open")
    agents = boss_page.locator("#sv-agents tbody tr")
    expect(agents).to_have_count(2)
    xiaomei = agents.filter(has_text="小美")
    expect(xiaomei.locator(".sv-status")).to_have_text(words["online"])
    expect(xiaomei.locator(".sv-load .num")).to_have_text("1 / 10")
    convs = boss_page.locator("#sv-conversations tbody tr")
    expect(convs).to_have_count(1)
    convs.first.locator("button.sv-watch").click()
    expect(boss_page.locator("#sv-messages")).to_contain_text("我的订单还没发货")
    # 小美's "joined" line is drawn as a system line, not as a message from "system".
    expect(boss_page.locator("#sv-messages li.sysline")).to_have_count(1)
    expect(boss_page.locator("#sv-messages .sv-msg.sv-from-system")).to_have_count(0)
    # Live while watching.
    widget_say(widget, "订单号 20261203")
    expect(boss_page.locator("#sv-messages")).to_contain_text("20261203")
    # Whisper: the agent sees it as a note, the visitor never.
    boss_page.fill("#whisper-body", "先查一下物流单号")
    boss_page.click("#whisper-send")
    expect(boss_page.locator("#sv-messages .sv-note")).to_contain_text("先查一下物流单号")
    desk.locator("#conv-list li button").click()
    expect(desk.locator("#messages")).to_contain_text("先查一下物流单号")
    shot(boss_page, f"supervisor-{locale}.png")
    # Join, saying why: the conversation is the supervisor's now, the timeline says why.
    boss_page.fill("#join-reason", "VIP 客户")
    boss_page.click("#join-send")
    expect(xiaomei.locator(".sv-load .num")).to_have_text("0 / 10")
    expect(agents.filter(has_text="老板").locator(".sv-load .num")).to_have_text("1 / 10")
    conversation.refresh_from_db()
    assert conversation.assignee_id == boss.user_id
    event = RoutingEvent.objects.filter(conversation=conversation).latest("id")
    assert event.rule == "supervisor_join" and "VIP 客户" in event.reason
    expect(widget.locator(".panel")).not_to_contain_text("先查一下物流单号")
    assert Message.objects.filter(conversation=conversation, is_private=True).count() == 1
    assert not boss_watch.errors, boss_watch.errors


def test_a_blocked_visitor_cannot_be_invited(daphne_server, shop, boss, new_page):
    base = daphne_server.url
    visitor, _ = new_page("en-US")
    visit(visitor, base, shop.widget_key)
    desk, _ = new_page("en-US")
    login(desk, base, "laoban")
    desk.click("#live-open")
    rows = desk.locator("#live-visitors tbody tr")
    expect(rows).to_have_count(1)
    from conversations import services

    visitor_row = shop.visitors.get()
    services.visitor_block(
        merchant_id=shop.pk, visitor_id=visitor_row.pk, actor_user_id=boss.user_id
    )
    # The button was drawn before the block: the server refuses, the dialog says why.
    rows.first.locator("button.lv-invite").click()
    desk.fill("#invite-body", "hello")
    desk.click("#invite-send")
    expect(desk.locator("#invite-error")).to_have_text(WORDS["en-US"]["blocked"])
    assert not Conversation.objects.filter(merchant=shop).exists()


def test_an_invitation_sent_while_the_visitor_was_away_opens_the_widget_on_return(
    daphne_server, shop, boss, new_page
):
    """The visitor left before the invitation reached them: when they come back (the message
    arrives in the replay, not live) the panel opens while the invitation is fresh and unread;
    an old one only waits in the thread, with the launcher's unread badge (docs/desk.md)."""
    import time
    from datetime import timedelta

    from django.utils import timezone

    from conversations import services
    from conversations.models import Visitor

    base = daphne_server.url
    visitor, _ = new_page("en-US")
    widget = visit(visitor, base, shop.widget_key)
    expect(widget.locator(".panel")).to_be_hidden()
    anonymous_id = visitor.evaluate(f"localStorage.getItem('kefu:{shop.widget_key}:anon')")
    context = visitor.context
    visitor.close()  # gone to another site
    person = Visitor.objects.get(merchant=shop, anonymous_id=anonymous_id)

    def invite(body: str, key: str):
        return in_thread(
            services.visitor_invite,
            merchant_id=shop.pk,
            visitor_id=person.pk,
            user_id=boss.user_id,
            client_msg_id=key,
            body=body,
        )[0]

    invite("Still looking for shoes? We have your size.", "away-1")
    back = context.new_page()
    widget = visit(back, base, shop.widget_key)
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator(".panel")).to_contain_text("We have your size.")
    assert back.evaluate("document.activeElement === document.body")  # focus stays on the page
    shot(back, "widget-invited-on-return.png")
    # Seen (the open panel told the server): it does not open again on the next page.
    deadline = time.monotonic() + 15
    while Conversation.objects.get(merchant=shop).visitor_last_read_seq < 1:
        assert time.monotonic() < deadline, "the visitor's read never reached the server"
        back.wait_for_timeout(100)
    back.close()
    again = context.new_page()
    widget = visit(again, base, shop.widget_key)
    expect(widget.locator(".launcher")).to_be_visible()
    again.wait_for_timeout(1000)  # the replay has arrived (the thread holds the invitation)
    expect(widget.locator(".panel")).to_be_hidden()
    again.close()

    # An invitation two hours old when they come back: no panel; it waits in the thread.
    stale = invite("Our sale ends tonight.", "away-2")
    Message.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=2))
    late = context.new_page()
    widget = visit(late, base, shop.widget_key)
    late.wait_for_timeout(1500)  # the replay has arrived
    expect(widget.locator(".panel")).to_be_hidden()
    widget.locator(".launcher").click()
    expect(widget.locator(".panel")).to_contain_text("Our sale ends tonight.")
