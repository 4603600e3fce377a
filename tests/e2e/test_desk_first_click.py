"""The inbox's first load must not eat a click (issue 13): the agent presses a row while the
workspace is still starting, the list re-renders under the pointer (session.ready brings the
label catalogue, so the row gains its chips), and the release still opens the conversation on
that first click. The socket's session.ready is held by Playwright until the button is down, so
the re-render lands between press and release every time, not by luck."""

import json
import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Label
from tests import factories

from .conftest import in_thread, login

pytestmark = [pytest.mark.browser, pytest.mark.live]


def seed(shop) -> int:
    message = factories.visitor_message(factories.visitor(shop, name="张三"), "我要开发票")
    vip = Label.objects.create(merchant=shop, name="VIP", colour="#dc2626")
    Conversation.objects.get(pk=message.conversation_id).labels.add(vip)
    return message.conversation_id


class HoldReady:
    """The agent socket through Playwright, with session.ready kept back until `release()`."""

    def __init__(self, context):
        self.held: list[str] = []
        self.holding = True
        self.page_side = None
        context.route_web_socket(re.compile(r"/ws/agent/"), self._route)

    def _route(self, ws):
        server = ws.connect_to_server()
        self.page_side = ws

        def from_server(message):
            if self.holding and json.loads(message).get("type") == "session.ready":
                self.held.append(message)
            else:
                ws.send(message)

        ws.on_message(lambda message: server.send(message))
        server.on_message(from_server)

    def release(self):
        self.holding = False
        for message in self.held:
            self.page_side.send(message)
        self.held.clear()


@pytest.mark.parametrize("locale", ["zh-CN"])
def test_a_row_pressed_during_the_first_load_opens_on_the_first_click(
    daphne_server, shop, agent, browser, locale
):
    in_thread(seed, shop)
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    gate = HoldReady(context)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, daphne_server.url, "xiaomei")

    # The row is there (the REST list), but the session is not ready: no label chips yet.
    row = page.locator("#conv-list li.conv-row").filter(has_text="张三")
    expect(row).to_be_visible()
    page.wait_for_timeout(300)  # the socket is open and its session.ready held
    assert gate.held, "session.ready should be held by the test"
    expect(row.locator(".label-chip")).to_have_count(0)
    node = row.element_handle()

    box = row.locator(".conv-name").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    gate.release()  # the list renders again under the pressed button
    expect(row.locator(".label-chip")).to_have_text("VIP")
    page.mouse.up()

    expect(page.locator("#thread")).to_be_visible()
    expect(page.locator("#thread-title")).to_have_text("张三")
    expect(row).to_have_class(re.compile(r"\bactive\b"))
    # The same <li> throughout: the re-render updated it in place.
    assert node.evaluate("li => li.isConnected")
    assert not errors, errors
    context.close()
