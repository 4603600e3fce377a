"""Hostile text from both sides is shown as text everywhere, never run."""

import re

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Visitor
from tests import factories

from .conftest import AGENT_PASSWORD, login

pytestmark = [pytest.mark.browser, pytest.mark.live]

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"


def test_xss_payloads_render_as_text(daphne_server, shop, agent, new_page, screenshots):
    base = daphne_server.url
    visitor, visitor_watch = new_page()
    visitor.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = visitor.locator("#kefu-widget")
    widget.locator(".launcher").click()
    for body in (IMG, SCRIPT):
        widget.locator("textarea").fill(body)
        widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.mine:not(.pending) .bubble")).to_have_text([IMG, SCRIPT])

    # The visitor's name and page title come from the merchant's site: make them hostile too.
    anonymous_id = visitor.evaluate(f"localStorage.getItem('kefu:{shop.widget_key}:anon')")
    Visitor.objects.get(merchant=shop, anonymous_id=anonymous_id)
    services.visitor_touch(
        merchant=shop,
        anonymous_id=anonymous_id,
        page_url=f"{base}/?q={IMG}",
        page_title=SCRIPT,
        identity={"name": IMG, "email": ""},
    )

    workspace, agent_watch = new_page()
    login(workspace, base, "xiaomei")
    row = workspace.locator("#conv-list li")
    expect(row.locator(".conv-name")).to_have_text(IMG)
    expect(row.locator(".conv-preview")).to_have_text(SCRIPT)
    row.locator("button").click()
    expect(workspace.locator("#messages .msg.from-visitor .text")).to_have_text([IMG, SCRIPT])
    expect(workspace.locator("#messages .msg.from-visitor .sender").first).to_be_visible()
    expect(workspace.locator("#thread-title")).to_have_text(IMG)
    expect(workspace.locator("#v-name")).to_have_text(IMG)
    expect(workspace.locator("#v-page-title")).to_have_text(SCRIPT)
    expect(workspace.locator("#v-page-url")).to_have_text(f"{base}/?q={IMG}")

    for body, private in ((IMG, False), (SCRIPT, True), (SCRIPT, False)):
        workspace.click("#reply-tab-note" if private else "#reply-tab-reply")
        workspace.fill("#reply-body", body)
        workspace.press("#reply-body", "Enter")
    expect(workspace.locator("#messages .msg.from-agent:not(.pending) .text")).to_have_text(
        [IMG, SCRIPT, SCRIPT]
    )
    expect(widget.locator(".msg.theirs .bubble")).to_have_text([IMG, SCRIPT])
    expect(row.locator(".conv-preview")).to_have_text(re.compile(re.escape(SCRIPT)))

    # Live text is hostile too: the visitor's draft and page title, another agent's name.
    widget.locator("textarea").fill(IMG)
    widget.locator("textarea").dispatch_event("input")
    expect(workspace.locator("#visitor-draft")).to_have_text(IMG)
    visitor.evaluate("title => { document.title = title; }", IMG + " 标题")
    expect(workspace.locator("#v-page-title")).to_have_text(IMG + " 标题")
    rogue = factories.member(shop, "rogue", password=AGENT_PASSWORD, display_name=SCRIPT)
    colleague, colleague_watch = new_page()
    login(colleague, base, "rogue", AGENT_PASSWORD)
    colleague.locator("#conv-list li button").click()
    expect(workspace.locator("#viewers .viewer")).to_have_text([SCRIPT])
    expect(row.locator(".conv-viewers")).to_have_text(SCRIPT)
    expect(
        workspace.locator(f"#agent-list li[data-user-id='{rogue.user_id}'] .agent-name")
    ).to_have_text(SCRIPT)
    colleague.locator("#reply-body").press_sequentially("typing", delay=20)
    expect(workspace.locator("#viewers .viewer.typing")).to_have_text([SCRIPT + "（正在输入…）"])
    expect(colleague.locator("#viewers .viewer")).to_have_text(["小美"])

    visitor.screenshot(path=str(screenshots / "xss-widget.png"))
    workspace.screenshot(path=str(screenshots / "xss-workspace.png"))
    for page in (visitor, workspace, colleague):
        assert page.evaluate("window.__xss") is None
        # No element was made from the payloads (the locator also searches shadow roots).
        expect(page.locator("img[src=x]")).to_have_count(0)
        assert page.locator("script", has_text="window.__xss").count() == 0
    assert not visitor_watch.errors and not agent_watch.errors and not colleague_watch.errors


def test_the_policy_stops_markup_that_slipped_through(daphne_server, shop, agent, new_page):
    """Defence in depth (issue 16, finding 6): were a renderer ever to insert hostile markup,
    the Content-Security-Policy keeps it from running; our own scripts, and Swagger UI's, run."""
    base = daphne_server.url
    page, watch = new_page()
    login(page, base, "xiaomei", AGENT_PASSWORD)
    expect(page.locator("#conn")).to_have_class("conn conn-online")  # our modules ran
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            """() => {
                const s = document.createElement("script");
                s.textContent = "window.__xss = 1";
                document.body.append(s);
                document.body.insertAdjacentHTML("beforeend", '<img src="data:," onload="window.__xss = 2">');
            }"""
        )
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    blocked = [line for line in watch.console if "Content Security Policy" in line]
    assert len(blocked) == 2 and "inline event handler" in blocked[1]
    page.goto(f"{base}/api/docs/")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert [line for line in watch.console if "Content Security Policy" in line] == blocked
