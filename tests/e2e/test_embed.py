"""The widget on a merchant's own site: another origin than the server, as in production."""

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from conversations.models import Message, Visitor
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def merchant_site():
    """A merchant's own web server on another loopback port: another origin than daphne's.
    (Served for real rather than faked with page.route: Chromium's private-network checks
    refuse loopback scripts on a page whose address it does not know.)
    Set `.html` before loading a page; returns every path with that page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = site.html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if site.csp:
                self.send_header("Content-Security-Policy", site.csp)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site = type(
        "Site", (), {"html": "", "csp": "", "url": f"http://127.0.0.1:{server.server_port}"}
    )()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


def host_page(server_url: str, key: str, extra: str = "") -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>订单详情</title>"
        # Hostile host CSS: the widget's Shadow DOM must not inherit any of it.
        "<style>* { color: red !important; font-size: 40px !important; } "
        "button { display: none !important; }</style></head>"
        "<body><h1>My shop</h1>"
        f'<script src="{server_url}/widget/loader.js" data-merchant="{key}" {extra} async></script>'
        "</body></html>"
    )


def test_cross_origin_embed_with_signed_identity(daphne_server, merchant_site, new_page):
    shop = factories.merchant("跨域商店", allowed_origins=merchant_site.url)
    user_id = "u-42"
    expires = int(time.time()) + 3600
    digest = factories.signed_identity(
        shop, user_id, name="王小明", email="wang@example.com", expires=expires
    )["hash"]
    merchant_site.html = host_page(
        daphne_server.url,
        shop.widget_key,
        f'data-user-id="{user_id}" data-user-hash="{digest}" data-user-name="王小明" '
        f'data-user-email="wang@example.com" data-user-expires="{expires}"',
    )
    page, watch = new_page()
    page.goto(f"{merchant_site.url}/orders/1")
    widget = page.locator("#kefu-widget")
    launcher = widget.locator(".launcher")
    expect(launcher).to_be_visible()  # the host's `button { display: none }` does not reach it
    assert launcher.evaluate("b => getComputedStyle(b).color") == "rgb(255, 255, 255)"
    page.evaluate("window.Kefu.open()")
    expect(widget.locator(".panel")).to_be_visible()
    widget.locator("textarea").fill("跨域你好")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))

    visitor = Visitor.objects.get(merchant=shop)
    assert (visitor.external_id, visitor.name, visitor.email) == (
        "u-42",
        "王小明",
        "wang@example.com",
    )
    assert (visitor.page_url, visitor.page_title) == (f"{merchant_site.url}/orders/1", "订单详情")
    assert list(Message.objects.filter(merchant=shop).values_list("body", flat=True)) == [
        "跨域你好"
    ]
    assert watch.errors == []


def test_cross_origin_embed_refused_for_other_origin(daphne_server, merchant_site, new_page):
    """Cross-origin, a refused bootstrap carries no CORS header, so the browser hides the 403
    from the script: the console must still say what to check."""
    shop = factories.merchant("别人的店", allowed_origins="https://elsewhere.example")
    merchant_site.html = host_page(daphne_server.url, shop.widget_key)
    page, watch = new_page()
    with page.expect_console_message(lambda m: "[kefu]" in m.text, timeout=40_000) as message:
        page.goto(f"{merchant_site.url}/")
    assert "widget disabled" in message.value.text and merchant_site.url in message.value.text
    # Told at once that the origin is the problem, and no retries: one message from the
    # widget, one CORS error from the browser (the first attempt's), not one per attempt.
    assert "is not allowed for widget key" in message.value.text
    assert "allowed origins" in message.value.text
    page.wait_for_timeout(6000)  # the retries of the old loader came 1, 2, 4 s apart
    assert len([line for line in watch.console if "[kefu]" in line]) == 1, watch.console
    cors = [line for line in watch.console if "Access-Control" in line and "[kefu]" not in line]
    assert len(cors) <= 1, cors
    expect(page.locator("#kefu-widget")).to_have_count(0)
    assert watch.errors == []


@pytest.mark.parametrize("screen", [(390, 844), (1280, 800)])
def test_bad_identity_hash_falls_back_to_an_anonymous_chat(
    daphne_server, merchant_site, browser, screen
):
    shop = factories.merchant("签名错误的店", allowed_origins=merchant_site.url)
    merchant_site.html = host_page(
        daphne_server.url,
        shop.widget_key,
        'data-user-id="u-7" data-user-hash="0000beef" data-user-name="冒充者"',
    )
    width, height = screen
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    page.goto(f"{merchant_site.url}/account")
    widget = page.locator("#kefu-widget")
    expect(widget.locator(".launcher")).to_be_visible()  # not hidden: the chat still works
    warnings = [line for line in console if "[kefu]" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning:"), console
    assert "data-user-hash" in warnings[0] and "anonymous" in warnings[0]
    page.evaluate("window.Kefu.open()")
    widget.locator("textarea").fill("我的订单呢")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))
    visitor = Visitor.objects.get(merchant=shop)
    # Anonymous: nothing of the unverified identity was taken.
    assert (visitor.external_id, visitor.name) == ("", "")
    assert not [line for line in console if line.startswith(("pageerror", "error: [kefu]"))]
    context.close()


def test_the_widget_works_under_a_strict_host_policy(daphne_server, merchant_site, new_page):
    """A merchant whose page forbids inline styles and every other origin, except ours for
    the script and the connection (what docs/widget.md tells them to add): the widget is
    styled, chats, and sets off no violation."""
    shop = factories.merchant("严格的店", allowed_origins=merchant_site.url)
    server = daphne_server.url
    merchant_site.csp = (
        f"default-src 'self'; script-src 'self' {server}; style-src 'self'; "
        f"connect-src 'self' {server} {server.replace('http', 'ws', 1)}; img-src 'self' {server} data: blob:"
    )
    merchant_site.html = host_page(server, shop.widget_key).replace(
        "<style>* { color: red !important; font-size: 40px !important; } "
        "button { display: none !important; }</style>",
        "",
    )
    page, watch = new_page()
    page.goto(f"{merchant_site.url}/")
    widget = page.locator("#kefu-widget")
    launcher = widget.locator(".launcher")
    expect(launcher).to_be_visible()
    assert widget.locator(".kf").evaluate("e => getComputedStyle(e).position") == "fixed"
    assert launcher.evaluate("b => getComputedStyle(b).borderRadius") == "50%"
    assert launcher.evaluate("b => getComputedStyle(b).color") == "rgb(255, 255, 255)"
    page.evaluate("window.Kefu.open()")
    widget.locator("textarea").fill("严格策略下也能聊")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))
    violations = [line for line in watch.console if "Content Security Policy" in line]
    assert violations == [] and watch.errors == []
