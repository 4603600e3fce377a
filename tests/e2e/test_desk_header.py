"""The workspace's bars as a demanding agent sees them, in Chinese and English, on a desktop
(1280x800) and a phone (390x844): the thread header keeps its actions on one line with each
button's words unbroken ("Resolve" once wrapped onto two lines in English), and the phone's
top bar is one line (it took three). Screenshots go to $KEFU_SHOTS/desk/ when KEFU_SHOTS is
set."""

import pytest
from playwright.sync_api import expect

from .conftest import open_row, shots_folder
from .test_desk_phone import DESKTOP, PHONE, no_sideways_scroll, open_desk, shot

pytestmark = [pytest.mark.browser, pytest.mark.live]

SHOTS = shots_folder("desk")

# Each element's box: how many text lines it spans and where its top is.
BOXES = """(selectors) => selectors.map((s) => {
  const e = document.querySelector(s);
  if (!e || !e.offsetParent) return null;
  const r = e.getBoundingClientRect();
  const line = parseFloat(getComputedStyle(e).lineHeight) || parseFloat(getComputedStyle(e).fontSize) * 1.3;
  return { s, top: Math.round(r.top), bottom: Math.round(r.bottom), h: r.height, line };
})"""


def one_line(page, selectors: list[str]) -> list[dict]:
    boxes = [b for b in page.evaluate(BOXES, selectors) if b]
    for box in boxes:
        # Padding and border add a few pixels; a second line of text adds a whole line.
        assert box["h"] < 2 * box["line"], f"{box['s']} wraps: {box}"
    return boxes


def same_row(boxes: list[dict]) -> None:
    """Every box overlaps the first one vertically: one visual row."""
    first = boxes[0]
    for box in boxes[1:]:
        assert box["top"] < first["bottom"] and box["bottom"] > first["top"], (first, box)


ACTIONS = ["#thread-priority", "#thread-snooze", "#thread-transfer", "#thread-resolve"]


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_thread_header_and_top_bar_on_a_desktop(daphne_server, shop, agent, browser, locale):
    desk = open_desk(daphne_server, shop, browser, locale, DESKTOP)
    context, page = desk.context, desk.page
    open_row(page, "张三")
    expect(page.locator("#thread-resolve")).not_to_be_empty()
    same_row(one_line(page, ["#thread-title", *ACTIONS, "#thread-close"]))
    # Who has the conversation is read in full, not cut to "Assigned to …" (English was, at
    # this width, while the mood bars shared the line).
    assignee = page.locator("#thread-assignee")
    expect(assignee).not_to_be_empty()
    clipped = assignee.evaluate("(e) => e.scrollWidth > e.clientWidth")
    assert not clipped, assignee.text_content()
    topbar = page.locator(".topbar").bounding_box()
    assert topbar["height"] < 56, topbar  # one line
    no_sideways_scroll(page)
    shot(page, f"desktop-{locale}.png", SHOTS)
    context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_bars_on_a_phone(daphne_server, shop, agent, browser, locale):
    desk = open_desk(daphne_server, shop, browser, locale, PHONE, has_touch=True)
    context, page = desk.context, desk.page
    topbar = page.locator(".topbar").bounding_box()
    assert topbar["height"] < 56, topbar  # one line, not three
    # New-conversation notifications (one per seeded visitor): one shown at a time, in one strip
    # over the top bar, not a tower over the pane below it.
    shown = page.locator("#toasts .toast:not([hidden])")
    expect(shown).to_have_count(1)
    strip = page.locator("#toasts").bounding_box()
    assert strip["y"] + strip["height"] <= topbar["y"] + topbar["height"] + 12, (strip, topbar)
    # The connection and the agent's status are in sight; the rest of the row scrolls to.
    for selector in ("#conn", "#my-status"):
        expect(page.locator(selector)).to_be_in_viewport(ratio=1)
    sign_out = page.locator(".topbar form[action$='/logout/'] button")
    sign_out.scroll_into_view_if_needed()
    expect(sign_out).to_be_in_viewport(ratio=1)
    no_sideways_scroll(page)
    shot(page, f"phone-inbox-{locale}.png", SHOTS)
    open_row(page, "张三")
    one_line(page, ["#thread-title", *ACTIONS])
    no_sideways_scroll(page)
    shot(page, f"phone-thread-{locale}.png", SHOTS)
    page.locator("#thread-customer").click()
    expect(page.locator("#v-name")).to_have_text("张三")
    shot(page, f"phone-customer-{locale}.png", SHOTS)
    context.close()
