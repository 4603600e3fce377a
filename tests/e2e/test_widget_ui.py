"""The visitor widget as a visitor sees it, on a phone (390x844, touch) and a desktop
(1280x800): layout, the status line, and the small things a visitor notices."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Message
from merchants.models import Membership

from .conftest import agent_say, login, open_row

pytestmark = [pytest.mark.browser, pytest.mark.live]

SCREENS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.fixture
def screen_page(browser, daphne_server):
    """screen_page(screen, locale) -> (page, console lines), in its own context."""
    contexts = []

    def make(screen: str, locale: str = "zh-CN"):
        context = browser.new_context(locale=locale, **SCREENS[screen])
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
        return page, console

    yield make
    for context in contexts:
        context.close()


def widget_errors(console: list[str]) -> list[str]:
    """Uncaught exceptions and the widget's own errors (the demo page has no favicon: its 404
    is the browser's, not the widget's)."""
    return [line for line in console if line.startswith(("pageerror", "error: [kefu]"))]


def press(page, locator, screen: str) -> None:
    """A tap on a phone, a click on a desktop."""
    if screen == "phone":
        locator.tap()
    else:
        locator.click()


# The element the browser hit-tests at the centre of `el` (inside the widget's shadow root).
TOPMOST_AT_CENTRE = """el => {
    const r = el.getBoundingClientRect();
    const hit = el.getRootNode().elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return hit === el || el.contains(hit);
}"""


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])  # "Send" is wider than "发送"
@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_send_button_is_not_covered_by_the_launcher(
    daphne_server, shop, screen_page, screen, locale
):
    page, console = screen_page(screen, locale)
    page.goto(f"{daphne_server.url}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    launcher = widget.locator(".launcher")
    expect(launcher).to_be_visible()
    press(page, launcher, screen)
    panel = widget.locator(".panel")
    expect(panel).to_be_visible()
    send = widget.locator("form button[type=submit]")
    expect(send).to_be_visible()
    assert send.evaluate(TOPMOST_AT_CENTRE), "something covers the Send button"
    if screen == "phone":
        # Full screen: the panel's own close button replaces the launcher.
        box = panel.bounding_box()
        assert (box["width"], box["height"]) == (390, 844)
        expect(launcher).to_be_hidden()
    widget.locator("textarea").fill("手机上发送")
    press(page, send, screen)
    expect(panel).to_be_visible()  # tapping Send did not close the chat
    mine = widget.locator(".msg.mine")
    expect(mine).to_have_count(1)
    expect(mine).not_to_have_class(re.compile("pending"))
    assert list(Message.objects.filter(merchant=shop).values_list("body", flat=True)) == [
        "手机上发送"
    ]
    # Closing brings the launcher back.
    press(page, widget.locator("header .x"), screen)
    expect(panel).to_be_hidden()
    expect(launcher).to_be_visible()
    assert not widget_errors(console)


# --- The status line ----------------------------------------------------------------------------

STATUS_TEXT = {
    "zh-CN": {
        "offline": "当前没有客服在线。",
        "online": "客服在线，会在这里回复您。",
        "away": "客服暂时离开，我们会尽快回复您。",
        "queued": "马上就轮到您了",
        "served": "客服正在为您服务。",
        "leave": "给我们留言",
    },
    "en-US": {
        "offline": "No agent is online right now.",
        "online": "We are online: an agent will answer you here.",
        "away": "Our agents are away right now; we will reply as soon as we can.",
        "queued": "You are next in line",
        "served": "An agent is with you.",
        "leave": "Leave us a message",
    },
}


@pytest.mark.parametrize(
    ("screen", "locale"),
    [("phone", "zh-CN"), ("desktop", "en-US"), ("phone", "en-US"), ("desktop", "zh-CN")],
)
def test_one_status_line_follows_presence_queue_and_the_agent(
    daphne_server, shop, agent, screen_page, new_page, screen, locale
):
    """offline -> online -> away -> online -> queued -> served, live, one line at a time; the
    "nobody online" text never shows beside the queue place and is gone once an agent is on."""
    base = daphne_server.url
    text = STATUS_TEXT[locale]
    page, console = screen_page(screen, locale)
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    press(page, widget.locator(".launcher"), screen)
    status = widget.locator(".status")
    line = status.locator(".status-text")
    leave = status.locator(".to-offline")

    def shows(state: str, offer: bool) -> None:
        expect(status).to_have_attribute("data-state", state)
        expect(line).to_have_text(text[state])
        expect(status).to_have_count(1)
        if offer:
            expect(leave).to_be_visible()
            expect(leave).to_have_text(text["leave"])
        else:
            expect(leave).to_be_hidden()

    shows("offline", offer=True)

    workspace, _ = new_page("en-US")
    login(workspace, base, "xiaomei")
    shows("online", offer=False)
    workspace.select_option("#my-status", "away")
    shows("away", offer=True)
    workspace.select_option("#my-status", "online")
    shows("online", offer=False)

    # Capacity 0: the visitor waits in the queue although the agent is online.
    Membership.objects.filter(merchant=shop).update(max_concurrent=0)
    widget.locator("textarea").fill("在吗")
    press(page, widget.locator("form button[type=submit]"), screen)
    shows("queued", offer=False)

    # The agent claims and replies: the queue place is gone, and no availability text returns.
    workspace.locator("#queue-list li button.claim").click()
    shows("served", offer=False)
    agent_say(workspace, "您好，我来帮您")
    expect(widget.locator(".msg.theirs .bubble")).to_have_text(["您好，我来帮您"])
    shows("served", offer=False)
    # The agent's page closes: still served (the conversation is theirs), never "offline".
    workspace.close()
    page.wait_for_timeout(1500)
    shows("served", offer=False)
    assert not widget_errors(console)


def assert_full_width_fields(form) -> None:
    """A column form: each field as wide as the form (the message box's row layout, applied to
    every form, once pulled them to the right at their narrow size)."""
    width = form.evaluate(
        "f => { const s = getComputedStyle(f);"
        " return f.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }"
    )
    fields = form.locator("input:not([type=hidden]), textarea").all()
    assert fields
    for field in fields:
        assert field.bounding_box()["width"] >= width - 1, (field.get_attribute("id"), width)


def test_leave_a_message_from_the_status_line(daphne_server, shop, screen_page):
    page, console = screen_page("phone", "en-US")
    page.goto(f"{daphne_server.url}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    press(page, widget.locator(".launcher"), "phone")
    press(page, widget.locator(".status .to-offline"), "phone")
    expect(widget.locator(".offline")).to_be_visible()
    expect(widget.locator(".status")).to_be_hidden()  # the form says what happens instead
    assert_full_width_fields(widget.locator(".offline form"))
    press(page, widget.locator(".offline .to-chat"), "phone")
    expect(widget.locator(".status")).to_have_attribute("data-state", "offline")
    assert not widget_errors(console)


# --- Polish -------------------------------------------------------------------------------------

COUNTER_OVER = {
    "zh-CN": "6000 / 5000：超出 1000 个字，请删减后再发送。",
    "en-US": "6000 / 5000: 1000 characters too many. Shorten the message to send it.",
}


@pytest.mark.parametrize(("screen", "locale"), [("phone", "zh-CN"), ("desktop", "en-US")])
def test_a_long_paste_is_counted_and_kept_never_cut(
    daphne_server, shop, screen_page, settings, screen, locale
):
    assert settings.MESSAGE_MAX_LENGTH == 5000
    page, console = screen_page(screen, locale)
    page.goto(f"{daphne_server.url}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    press(page, widget.locator(".launcher"), screen)
    box = widget.locator("textarea")
    counter = widget.locator(".count")
    send = widget.locator("form button[type=submit]")
    box.focus()
    assert round(box.bounding_box()["height"]) == 42  # one line while empty
    assert box.get_attribute("enterkeyhint") == "send"  # a phone keyboard's Enter says so
    page.keyboard.insert_text("好" * 3000)  # as a paste: inserted text, limits apply
    expect(counter).to_be_hidden()  # well below the limit: no noise
    # The box grew with the draft to its cap (then it scrolls); Send kept its one-line height,
    # at the box's foot.
    grown, button = box.bounding_box(), send.bounding_box()
    assert 120 <= grown["height"] <= 132, grown
    assert box.evaluate("t => t.scrollHeight > t.clientHeight")
    assert round(button["height"]) == 42, button
    assert abs(button["y"] + button["height"] - grown["y"] - grown["height"]) <= 1
    # The box shares its row with Send alone: the clip and emoji buttons are above it (beside
    # it they left it about 170 px of the desktop's 360).
    form = widget.locator("form.composer").bounding_box()
    assert grown["width"] >= form["width"] - 2 * 10 - 8 - button["width"] - 1, (grown, form)
    for tool in (widget.locator("button.attach"), widget.locator("button.emoji-open")):
        assert tool.bounding_box()["y"] + tool.bounding_box()["height"] <= grown["y"], tool
    page.keyboard.insert_text("好" * 3000)
    assert len(box.input_value()) == 6000  # nothing cut
    expect(counter).to_have_text(COUNTER_OVER[locale])
    expect(counter).to_have_class(re.compile(r"\bover\b"))
    expect(send).to_be_disabled()
    box.press("Enter")  # refused: the text stays, nothing is sent
    page.wait_for_timeout(300)
    assert len(box.input_value()) == 6000
    expect(widget.locator(".msg.mine")).to_have_count(0)

    box.fill("好" * 4500)  # near the limit: counted, allowed
    expect(counter).to_have_text("4500 / 5000")
    expect(counter).not_to_have_class(re.compile(r"\bover\b"))
    expect(send).to_be_enabled()
    press(page, send, screen)
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(1)
    expect(counter).to_be_hidden()
    assert round(box.bounding_box()["height"]) == 42  # sent: one line again
    assert [len(b) for b in Message.objects.values_list("body", flat=True)] == [4500]
    assert not widget_errors(console)


LINKED = (
    "订单 https://example.com/track?id=7。问题见（https://example.com/faq） "
    "javascript:alert(1) data:text/html,<b>x</b> mailto:help@example.com "
    '<img src=x onerror="window.__xss=1">'
)


@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_links_are_clickable_only_for_http_and_mailto(daphne_server, shop, screen_page, screen):
    page, console = screen_page(screen, "en-US")
    page.goto(f"{daphne_server.url}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    press(page, widget.locator(".launcher"), screen)
    widget.locator("textarea").fill(LINKED)
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(1)
    page.reload()  # from history too
    bubble = widget.locator(".msg.mine .bubble")
    expect(bubble).to_have_text(LINKED)  # every character still there, as text
    links = bubble.locator("a")
    expect(links).to_have_count(3)
    assert [links.nth(i).get_attribute("href") for i in range(3)] == [
        "https://example.com/track?id=7",
        "https://example.com/faq",
        "mailto:help@example.com",
    ]
    for i in range(3):
        assert links.nth(i).get_attribute("rel") == "noopener noreferrer nofollow"
        assert links.nth(i).get_attribute("target") == "_blank"
    expect(bubble.locator("img")).to_have_count(0)
    expect(widget.locator(".msg .meta .when").first).not_to_be_empty()  # the message's time
    assert page.evaluate("window.__xss") is None
    assert not widget_errors(console)


@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_escape_closes_and_tab_stays_inside_the_panel(daphne_server, shop, screen_page, screen):
    page, console = screen_page(screen, "zh-CN")
    page.goto(f"{daphne_server.url}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    widget.locator(".launcher").focus()
    page.keyboard.press("Enter")  # the keyboard alone opens it
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator("textarea")).to_be_focused()
    inside = (
        "() => { const r = document.querySelector('#kefu-widget').shadowRoot; "
        "return !!r.activeElement && r.querySelector('.panel').contains(r.activeElement); }"
    )
    for key in ["Tab"] * 8 + ["Shift+Tab"] * 8:
        page.keyboard.press(key)
        assert page.evaluate(inside), f"focus left the panel after {key}"
    page.keyboard.press("Escape")
    expect(widget.locator(".panel")).to_be_hidden()
    expect(widget.locator(".launcher")).to_be_focused()
    assert not widget_errors(console)


HIDDEN = """hidden => {
    Object.defineProperty(document, "visibilityState", {configurable: true,
        get: () => hidden ? "hidden" : "visible"});
    document.dispatchEvent(new Event("visibilitychange"));
}"""


@pytest.mark.parametrize(("screen", "locale"), [("phone", "zh-CN"), ("desktop", "en-US")])
def test_title_flashes_for_a_reply_while_the_tab_is_hidden(
    daphne_server, shop, agent, screen_page, new_page, screen, locale
):
    base = daphne_server.url
    page, console = screen_page(screen, locale)
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    title = page.title()
    widget = page.locator("#kefu-widget")
    press(page, widget.locator(".launcher"), screen)
    widget.locator("textarea").fill("有人吗")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(1)
    workspace, _ = new_page("en-US")
    login(workspace, base, "xiaomei")
    open_row(workspace)

    page.evaluate(HIDDEN, True)
    agent_say(workspace, "在的")
    flashed = {"zh-CN": "(1) 新消息", "en-US": "(1) New message"}[locale]
    expect(page).to_have_title(flashed, timeout=10_000)
    expect(page).to_have_title(title, timeout=5_000)  # it alternates
    page.evaluate(HIDDEN, False)
    page.wait_for_timeout(1500)
    assert page.title() == title  # back for good once the visitor looks
    assert not widget_errors(console)


# --- Screenshots for docs/widget.md -------------------------------------------------------------


def shoot(page, screen: str, path) -> None:
    """The phone's whole screen; on a desktop, the corner with the panel and the launcher."""
    if screen == "phone":
        page.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), clip={"x": 840, "y": 150, "width": 440, "height": 650})


@pytest.mark.parametrize(
    ("screen", "locale"),
    [("phone", "zh-CN"), ("desktop", "zh-CN"), ("phone", "en-US"), ("desktop", "en-US")],
)
def test_widget_screenshots(
    daphne_server, shop, agent, screen_page, new_page, screenshots, screen, locale
):
    """The states of docs/widget.md as a visitor sees them (var/screenshots/widget-*.png)."""
    base = daphne_server.url
    lang = "zh" if locale == "zh-CN" else "en"
    page, console = screen_page(screen, locale)
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    press(page, widget.locator(".launcher"), screen)
    expect(widget.locator(".status")).to_have_attribute("data-state", "offline")
    shoot(page, screen, screenshots / f"widget-{screen}-{lang}-offline.png")

    workspace, _ = new_page("en-US")
    login(workspace, base, "xiaomei")
    expect(widget.locator(".status")).to_have_attribute("data-state", "online")
    shoot(page, screen, screenshots / f"widget-{screen}-{lang}-online.png")
    hello = "你好，我的订单什么时候发货？" if lang == "zh" else "Hi, when will my order ship?"
    widget.locator("textarea").fill(hello)
    widget.locator("textarea").press("Enter")
    open_row(workspace)
    reply = (
        "您好！已经发货了，物流信息见 https://example.com/track?id=7 。"
        if lang == "zh"
        else "Hello! It shipped today, tracking: https://example.com/track?id=7"
    )
    agent_say(workspace, reply)
    expect(widget.locator(".msg.theirs .bubble")).to_have_count(1)
    expect(widget.locator(".status")).to_have_attribute("data-state", "served")
    widget.locator("textarea").fill("好" * 4200 if lang == "zh" else "a" * 4200)
    expect(widget.locator(".count")).to_be_visible()
    shoot(page, screen, screenshots / f"widget-{screen}-{lang}-chat.png")
    assert not widget_errors(console)
