"""The visitor widget as a visitor sees it, on a phone (390x844, touch) and a desktop
(1280x800): layout, the status line, and the small things a visitor notices."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Message

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


@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_send_button_is_not_covered_by_the_launcher(daphne_server, shop, screen_page, screen):
    page, console = screen_page(screen)
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
