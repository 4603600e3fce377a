"""Attachments in the browser, both directions, on a phone (390x844) and a desktop, in Chinese
and English: the visitor sends a screenshot (picked, pasted, dropped) and a document, the agent
sends an image and a file back; thumbnails load through their signed links and open full size,
files are named cards that download; a hostile file name stays text and an HTML page named
.png is refused with a message the visitor can read."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from conversations.models import Attachment, Message

from .conftest import login, open_row, save_shot, shots_folder

pytestmark = [pytest.mark.browser, pytest.mark.live]

SHOTS = shots_folder("attachments")
SCREENS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
XSS_NAME = "<img src=x onerror=window.__xss=1>.pdf"  # no quotes: browsers send them as %22
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
POLYGLOT = b"<!DOCTYPE html><html><body><script>window.__xss=1</script></body></html>"
TEXT = {
    "zh-CN": {"too_large_or_type": "无法发送这种类型的文件", "attach": "发送文件或图片"},
    "en-US": {"too_large_or_type": "This type of file cannot be sent here.", "attach": "Attach"},
}


def picture(color=(37, 99, 235), size=(640, 400)) -> bytes:
    image = Image.new("RGB", size, color)
    image.paste((250, 250, 250), (40, 40, 300, 120))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def screen_page(browser, daphne_server):
    contexts = []

    def make(screen: str, locale: str):
        context = browser.new_context(locale=locale, **SCREENS[screen])
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page, errors

    yield make
    for context in contexts:
        context.close()


def drop_file(page, target_js: str, name: str, mime: str, data: bytes, event: str) -> None:
    """A file dropped on (event "drop") or pasted into (event "paste") the element target_js
    finds, as the browser delivers it: a DataTransfer holding a File."""
    page.evaluate(
        """([target, name, mime, bytes, event]) => {
            const el = eval(target);
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            if (event === "paste") {
                el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
            } else {
                for (const type of ["dragenter", "dragover", "drop"]) {
                    el.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
                }
            }
        }""",
        [target_js, name, mime, list(data), event],
    )


def loaded(image_locator) -> bool:
    return image_locator.evaluate("img => img.complete && img.naturalWidth > 0")


@pytest.mark.parametrize(
    "screen,locale",
    [("phone", "zh-CN"), ("desktop", "en-US"), ("phone", "en-US"), ("desktop", "zh-CN")],
)
def test_images_and_files_both_ways(daphne_server, shop, agent, screen_page, screen, locale):
    base = daphne_server.url
    tag = f"{screen}-{locale}"
    visitor, visitor_errors = screen_page(screen, locale)
    visitor.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = visitor.locator("#kefu-widget")
    widget.locator(".launcher").click()
    expect(widget.locator(".panel")).to_be_visible()
    attach = widget.locator("button.attach")
    expect(attach).to_be_visible()

    # Picked with the clip button's file chooser: a screenshot and a document.
    with visitor.expect_file_chooser() as chooser:
        attach.click()
    chooser.value.set_files(
        [
            {"name": "截图.png", "mimeType": "image/png", "buffer": picture()},
            {"name": XSS_NAME, "mimeType": "application/pdf", "buffer": PDF},
        ]
    )
    mine = widget.locator(".msg.mine:not(.pending)")
    expect(mine).to_have_count(2)
    thumb = widget.locator(".msg.mine .thumb img").first
    expect(thumb).to_be_visible()
    assert loaded(thumb)
    card = widget.locator(".msg.mine .file")
    expect(card.locator(".fname")).to_have_text(XSS_NAME)  # a name, shown as text
    assert card.get_attribute("href").startswith(f"{base}/files/")
    download = visitor.request.get(card.get_attribute("href"))
    assert download.status == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"

    # Pasted into the box and dropped on the panel.
    drop_file(
        visitor,
        "document.querySelector('#kefu-widget').shadowRoot.querySelector('textarea')",
        "image.png",
        "image/png",
        picture((22, 163, 74)),
        "paste",
    )
    drop_file(
        visitor,
        "document.querySelector('#kefu-widget').shadowRoot.querySelector('.panel')",
        "notes.txt",
        "text/plain",
        "订单号 A-1024\n".encode(),
        "drop",
    )
    expect(mine).to_have_count(4)

    # An HTML page named .png: refused, with the reason, and nothing reaches the agent.
    with visitor.expect_file_chooser() as chooser:
        attach.click()
    chooser.value.set_files([{"name": "cat.png", "mimeType": "image/png", "buffer": POLYGLOT}])
    refusal = widget.locator(".msg.failed .err")
    expect(refusal).to_contain_text(re.compile(r"类型|type"))
    save_shot(visitor, SHOTS, f"widget-{tag}.png")
    assert Attachment.objects.count() == 4
    assert Message.objects.filter(kind__in=["image", "file"]).count() == 4

    # The viewer opens the full-size image and Esc closes it.
    widget.locator(".msg.mine .thumb").first.click()
    full = widget.locator(".viewer img")
    expect(full).to_be_visible()
    assert loaded(full)
    assert full.evaluate("img => img.naturalWidth") == 640
    save_shot(visitor, SHOTS, f"widget-viewer-{tag}.png")
    visitor.keyboard.press("Escape")
    expect(widget.locator(".viewer")).to_have_count(0)

    # The agent sees them, and answers with an image and a file.
    workspace, agent_errors = screen_page(screen, locale)
    login(workspace, base, "xiaomei")
    open_row(workspace)
    messages = workspace.locator("#messages .msg.from-visitor")
    expect(messages.locator(".att-thumb img")).to_have_count(2)
    expect(messages.locator(".att-name")).to_have_text([XSS_NAME, "notes.txt"])
    for image in messages.locator(".att-thumb img").all():
        image.scroll_into_view_if_needed()
        expect(image).to_be_visible()
        workspace.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
    workspace.set_input_files(
        "#reply-file",
        [
            {"name": "发货单.png", "mimeType": "image/png", "buffer": picture((220, 38, 38))},
            {"name": "报价单.pdf", "mimeType": "application/pdf", "buffer": PDF},
        ],
    )
    expect(workspace.locator("#messages .msg.from-agent:not(.pending) .att")).to_have_count(2)
    save_shot(workspace, SHOTS, f"workspace-{tag}.png")

    theirs = widget.locator(".msg.theirs")
    expect(theirs.locator(".thumb img")).to_have_count(1)
    expect(theirs.locator(".file .fname")).to_have_text("报价单.pdf")
    theirs.locator(".thumb img").scroll_into_view_if_needed()
    visitor.wait_for_function(
        "img => img.complete && img.naturalWidth > 0",
        arg=theirs.locator(".thumb img").element_handle(),
    )
    save_shot(visitor, SHOTS, f"widget-reply-{tag}.png")
    assert visitor.evaluate("window.__xss") is None
    assert workspace.evaluate("window.__xss") is None
    assert visitor_errors == [] and agent_errors == []


def test_an_upload_sent_while_offline_waits_survives_a_reload_and_is_stored_once(
    daphne_server, shop, agent, new_page
):
    from .conftest import SocketGate, open_widget

    base = daphne_server.url
    visitor, watch = new_page("en-US")
    gate = SocketGate(visitor.context, "/ws/visitor/")
    widget = open_widget(visitor, base, shop.widget_key)
    expect(widget.locator(".status")).not_to_have_class(re.compile("conn"))

    # The socket is down, HTTP is not: the file goes up, its message waits in the outbox.
    gate.cut()
    with visitor.expect_file_chooser() as chooser:
        widget.locator("button.attach").click()
    chooser.value.set_files([{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    expect(widget.locator(".msg.mine.pending .file .fname")).to_have_text("invoice.pdf")
    # Uploaded: the outbox (kept in localStorage for a reload) holds the message with its upload.
    visitor.wait_for_function(
        "key => (localStorage.getItem(`kefu:${key}:outbox`) || '').includes('invoice.pdf')",
        arg=shop.widget_key,
    )
    assert Attachment.objects.count() == 1 and not Message.objects.exists()

    # A reload while still offline keeps it (localStorage), and the socket's return sends it.
    visitor.reload()
    widget.locator(".launcher").click()
    expect(widget.locator(".msg.mine.pending .file .fname")).to_have_text("invoice.pdf")
    gate.restore()
    visitor.reload()
    widget.locator(".launcher").click()
    expect(widget.locator(".msg.mine:not(.pending) .file .fname")).to_have_text("invoice.pdf")
    expect(widget.locator(".msg.mine")).to_have_count(1)
    stored = Message.objects.get()
    assert stored.kind == "file" and stored.attachment.name == "invoice.pdf"
    assert watch.errors == []
