"""Issue 14, "XSS payloads in file names, captions and comments render as text": an image and a
file whose names and captions are hostile, sent by the visitor (socket) and by an integration
(API sender), shown as text in the widget and in the workspace. (Comments: the rating test in
test_widget_rating.py; names picked in the browser: test_attachments.py.)"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from conversations import services
from tests import factories
from tests.conversations.attachment_helpers import pdf, png

from . import test_widget_ui
from .conftest import login, open_row
from .test_widget_ui import widget_errors

screen_page = test_widget_ui.screen_page

pytestmark = [pytest.mark.browser, pytest.mark.live]

IMG = '<img src=x onerror="window.__xss=1">'
NAME = "<img src=x onerror=window.__xss=2>.pdf"


@pytest.mark.parametrize(("screen", "locale"), [("phone", "zh-CN"), ("desktop", "en-US")])
def test_hostile_captions_and_names_are_text_on_both_sides(
    daphne_server, shop, agent, screen_page, new_page, screen, locale
):
    base = daphne_server.url
    page, console = screen_page(screen, locale)
    page.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = page.locator("#kefu-widget")
    widget.locator(".launcher").click()
    widget.locator("form:not(.prechat) textarea").fill("你好")
    widget.locator("form:not(.prechat) textarea").press("Enter")
    expect(widget.locator(".msg.mine:not(.pending)")).to_have_count(1)
    visitor = shop.visitors.get()
    conversation = visitor.conversations.get()

    # The visitor's own upload with a caption (what a retried socket send stores).
    upload, _ = services.attachment_upload(
        merchant_id=shop.pk,
        uploader_key=f"visitor:{visitor.pk}",
        upload_id="v-xss",
        upload=SimpleUploadedFile(NAME, pdf(), content_type="application/pdf"),
        visitor_id=visitor.pk,
    )
    services.message_send_by_visitor(
        merchant_id=shop.pk,
        visitor_id=visitor.pk,
        client_msg_id="xss-cap-1",
        body=IMG,
        attachment_id=upload.pk,
    )
    # An image with a hostile caption from an agent (as the API sends one).
    sender = services.Sender.agent(agent)
    picture, _ = services.attachment_upload(
        merchant_id=shop.pk,
        uploader_key=sender.key,
        upload_id="a-xss",
        upload=SimpleUploadedFile("<b>x</b>.png", png(), content_type="image/png"),
        conversation_id=conversation.pk,
    )
    factories.agent_message(
        agent, conversation.pk, "<script>window.__xss=3</script>", attachment_id=picture.pk
    )

    # Read back from the server (this process's broadcasts reach daphne only through Redis).
    page.reload()
    # The widget builds itself after its bootstrap request and restores the open panel in the
    # same task; only then is the panel's state known (on a phone an open panel hides the
    # launcher, so clicking it then would wait forever).
    expect(widget.locator(".kf")).to_be_attached()
    if not widget.locator(".panel").is_visible():
        widget.locator(".launcher").click()
    expect(widget.locator(".msg.mine .cap")).to_have_text([IMG])
    expect(widget.locator(".msg.mine .fname")).to_have_text([NAME])
    expect(widget.locator(".msg.theirs .cap")).to_have_text(["<script>window.__xss=3</script>"])
    workspace, watch = new_page(locale)
    login(workspace, base, "xiaomei")
    open_row(workspace)
    texts = workspace.locator("#messages .msg:not(.sysline) .text")
    expect(texts).to_have_text(["你好", IMG, "<script>window.__xss=3</script>"])
    expect(workspace.locator("#messages .att-name")).to_have_text([NAME])
    for p in (page, workspace):
        assert p.evaluate("window.__xss") is None
        expect(p.locator("img[src=x]")).to_have_count(0)
    assert not watch.errors and not widget_errors(console)
