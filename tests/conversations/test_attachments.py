"""Attachments: what the server decides a file is, the re-encoded image, the upload (stored once
per upload id, nothing half-stored on refusal), the message that carries it through the ordinary
message path, the signed links and their headers, tenant isolation and deletion with the files."""

from __future__ import annotations

import io
import time

import pytest
from django.core import signing
from PIL import Image

from conversations import attachments, realtime, selectors, services
from conversations.models import Attachment, Conversation, Message
from conversations.protocol import ErrorCode
from kefu.errors import KefuError, NotFound
from merchants.models import Merchant
from tests import factories
from tests.conversations.attachment_helpers import (
    POLYGLOT_HTML,
    SVG,
    attachment_storage,  # noqa: F401 (autouse fixture)
    jpeg_with_exif,
    pdf,
    png,
    stored_files,
    upload,
)


def upload_as_agent(membership, conversation_id, data, name, upload_id="u1"):
    return services.attachment_upload(
        merchant_id=membership.merchant_id,
        uploader_key=services.Sender.agent(membership).key,
        upload_id=upload_id,
        upload=upload(data, name),
        conversation_id=conversation_id,
    )


def upload_as_visitor(visitor, data, name, upload_id="v1"):
    return services.attachment_upload(
        merchant_id=visitor.merchant_id,
        uploader_key=f"visitor:{visitor.pk}",
        upload_id=upload_id,
        upload=upload(data, name),
        visitor_id=visitor.pk,
    )


def fetch(client, url):
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


# --- What a file is ---------------------------------------------------------------------------


def test_image_is_reencoded_without_exif_and_gets_a_thumbnail(bob, conversation, client):
    original = jpeg_with_exif(orientation=6)  # "rotate 90°": 1200x900 stored, 900x1200 shown
    assert b"SecretCam" in original

    attachment, created = upload_as_agent(bob, conversation.pk, original, "holiday.jpeg")

    assert created and attachment.kind == "image" and attachment.category == "image"
    assert (attachment.content_type, attachment.name) == ("image/jpeg", "holiday.jpeg")
    assert (attachment.width, attachment.height) == (900, 1200)  # turned upright
    stored = attachment.file.read()
    assert b"SecretCam" not in stored and stored != original
    image = Image.open(io.BytesIO(stored))
    assert image.size == (900, 1200)
    assert not image.getexif()  # no Make, no GPS, no orientation left to misapply
    thumb = Image.open(attachment.thumbnail)
    assert max(thumb.size) == 480


@pytest.mark.parametrize(
    "data,name,category,content_type,stored_name",
    [
        (pdf(), "invoice.pdf", "pdf", "application/pdf", "invoice.pdf"),
        (pdf(), "invoice.exe", "pdf", "application/pdf", "invoice.pdf"),
        ("订单号 A123\n".encode(), "notes.txt", "text", "text/plain", "notes.txt"),
        (b"a,b\n1,2\n", "table.csv", "text", "text/plain", "table.csv"),
        (png(mode="RGB"), "shot.gif", "image", "image/png", "shot.png"),
    ],
)
def test_type_comes_from_the_content_not_the_name(
    bob, conversation, data, name, category, content_type, stored_name
):
    attachment, _ = upload_as_agent(bob, conversation.pk, data, name)

    assert (attachment.category, attachment.content_type, attachment.name) == (
        category,
        content_type,
        stored_name,
    )


def test_office_documents_are_recognised_inside_the_zip(bob, conversation):
    from openpyxl import Workbook

    buffer = io.BytesIO()
    Workbook().save(buffer)

    attachment, _ = upload_as_agent(bob, conversation.pk, buffer.getvalue(), "报表")

    assert attachment.category == "office"
    assert attachment.content_type.endswith("spreadsheetml.sheet")
    assert attachment.name == "报表.xlsx"


@pytest.mark.parametrize(
    "data,name,code",
    [
        (b"", "empty.png", ErrorCode.FILE_EMPTY),
        (POLYGLOT_HTML, "cat.png", ErrorCode.FILE_TYPE),
        (SVG, "logo.svg", ErrorCode.FILE_TYPE),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "broken.png", ErrorCode.FILE_DAMAGED),
        (jpeg_with_exif()[:3000], "truncated.jpg", ErrorCode.FILE_DAMAGED),
        (b"MZ\x90\x00\x03" + b"\x00" * 200, "setup.exe", ErrorCode.FILE_TYPE),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(bob, conversation, data, name, code):
    with pytest.raises(KefuError) as refused:
        upload_as_agent(bob, conversation.pk, data, name)

    assert (refused.value.code, refused.value.field) == (code, "file")
    assert not Attachment.objects.exists()
    assert stored_files() == []


def test_merchant_limits_size_and_types(bob, acme, conversation):
    Merchant.objects.filter(pk=acme.pk).update(attachment_max_mb=1, attachment_types="image")

    with pytest.raises(KefuError) as too_large:
        upload_as_agent(bob, conversation.pk, b"x" * ((1 << 20) + 1), "big.txt")
    with pytest.raises(KefuError) as wrong_type:
        upload_as_agent(bob, conversation.pk, pdf(), "a.pdf")
    Merchant.objects.filter(pk=acme.pk).update(attachment_types="")
    with pytest.raises(KefuError) as off:
        upload_as_agent(bob, conversation.pk, png(), "a.png")

    assert too_large.value.code == ErrorCode.FILE_TOO_LARGE
    assert "1 MB" in too_large.value.message
    assert wrong_type.value.code == ErrorCode.FILE_TYPE
    assert off.value.code == ErrorCode.FILE_TYPE
    assert not Attachment.objects.exists()


def test_decompression_bomb_is_refused_before_decoding(bob, conversation, settings):
    settings.ATTACHMENT_MAX_PIXELS = 10_000

    with pytest.raises(KefuError) as refused:
        upload_as_agent(bob, conversation.pk, png(size=(200, 200)), "bomb.png")

    assert refused.value.code == ErrorCode.FILE_TOO_LARGE


def test_file_names_lose_paths_and_control_characters():
    assert attachments.clean_name("../../etc/passwd") == "passwd"
    assert attachments.clean_name("C:\\Users\\x\\a.pdf") == "a.pdf"
    assert attachments.clean_name("invoice\u202egpj.exe") == "invoicegpj.exe"
    assert attachments.clean_name("") == "file"
    assert len(attachments.clean_name("长" * 300 + ".pdf")) <= attachments.NAME_MAX


# --- Upload idempotency -------------------------------------------------------------------------


def test_a_retried_upload_is_stored_once(bob, conversation):
    first, created = upload_as_agent(bob, conversation.pk, png(), "a.png")
    again, created_again = upload_as_agent(bob, conversation.pk, png(), "a.png")

    assert created and not created_again and again.pk == first.pk
    assert Attachment.objects.count() == 1
    assert len(stored_files()) == 2  # the image and its thumbnail

    with pytest.raises(KefuError) as conflict:
        upload_as_agent(bob, conversation.pk, pdf(), "b.pdf")
    assert conflict.value.code == ErrorCode.UPLOAD_ID_CONFLICT
    assert len(stored_files()) == 2


# --- The message that carries it ----------------------------------------------------------------


def test_agent_sends_an_attachment_through_the_message_path(bob, conversation):
    attachment, _ = upload_as_agent(bob, conversation.pk, pdf(), "报价单.pdf")

    message = factories.agent_message(
        bob, conversation.pk, "", client_msg_id="m1", attachment_id=attachment.pk
    )
    retried = factories.agent_message(
        bob, conversation.pk, "", client_msg_id="m1", attachment_id=attachment.pk
    )

    assert retried.pk == message.pk
    # seq 2 is the visitor's line "Bob joined": sending claimed the conversation.
    assert (message.seq, message.kind, message.body) == (3, "file", "")
    conversation.refresh_from_db()
    assert conversation.last_seq == 3
    assert conversation.last_message_preview in ("[文件] 报价单.pdf", "[File] 报价单.pdf")
    out = realtime.message_out(message)
    assert out.attachment.name == "报价单.pdf" and out.attachment.kind == "file"
    assert out.attachment.url.startswith("/files/") and out.attachment.thumbnail_url is None


def test_an_upload_is_sent_once_and_only_by_its_uploader(bob, alice, conversation, visitor):
    attachment, _ = upload_as_agent(bob, conversation.pk, png(), "a.png")

    with pytest.raises(KefuError) as not_yours:
        factories.agent_message(alice, conversation.pk, "", attachment_id=attachment.pk)
    factories.agent_message(
        bob, conversation.pk, "看图", client_msg_id="img-1", attachment_id=attachment.pk
    )
    with pytest.raises(KefuError) as twice:
        factories.agent_message(bob, conversation.pk, "", attachment_id=attachment.pk)
    with pytest.raises(KefuError) as same_id_without_the_file:
        factories.agent_message(bob, conversation.pk, "看图", client_msg_id="img-1")

    assert not_yours.value.code == twice.value.code == ErrorCode.ATTACHMENT_INVALID
    assert not_yours.value.field == "attachment_id"
    assert same_id_without_the_file.value.code == ErrorCode.CLIENT_MSG_ID_CONFLICT
    assert Message.objects.filter(conversation=conversation).exclude(kind="event").count() == 2


def test_visitor_uploads_before_the_first_message(acme, bob):
    visitor = factories.visitor(acme, name="新访客")
    attachment, _ = upload_as_visitor(visitor, jpeg_with_exif(), "photo.jpg")
    assert attachment.conversation_id is None and attachment.visitor_id == visitor.pk

    message, created = services.message_send_by_visitor(
        merchant_id=acme.pk,
        visitor_id=visitor.pk,
        client_msg_id="c1",
        body="  ",
        attachment_id=attachment.pk,
    )

    attachment.refresh_from_db()
    assert created and message.seq == 1 and message.kind == "image" and message.body == ""
    assert (attachment.message_id, attachment.conversation_id) == (
        message.pk,
        message.conversation_id,
    )
    # Another visitor of the same merchant cannot send it.
    someone = factories.visitor(acme)
    with pytest.raises(KefuError) as refused:
        services.message_send_by_visitor(
            merchant_id=acme.pk,
            visitor_id=someone.pk,
            client_msg_id="c2",
            body="",
            attachment_id=attachment.pk,
        )
    assert refused.value.code == ErrorCode.ATTACHMENT_INVALID


def test_message_without_attachment_still_needs_a_body(visitor):
    with pytest.raises(KefuError) as refused:
        services.message_send_by_visitor(
            merchant_id=visitor.merchant_id, visitor_id=visitor.pk, client_msg_id="e", body=" "
        )
    assert refused.value.code == ErrorCode.MESSAGE_EMPTY


# --- Tenancy ----------------------------------------------------------------------------------


def test_upload_into_another_merchants_conversation_is_not_found(charlie, conversation):
    with pytest.raises(NotFound):
        upload_as_agent(charlie, conversation.pk, png(), "a.png")
    assert not Attachment.objects.exists()


def test_another_merchant_cannot_send_acmes_upload(bob, charlie, conversation, other):
    attachment, _ = upload_as_agent(bob, conversation.pk, png(), "a.png")
    theirs = factories.visitor_message(factories.visitor(other)).conversation

    with pytest.raises(KefuError) as refused:
        services.message_send_by_agent(
            merchant_id=other.pk,
            conversation_id=theirs.pk,
            sender=services.Sender(kind="agent", key=services.Sender.agent(bob).key, name="x"),
            client_msg_id="z",
            body="",
            attachment_id=attachment.pk,
        )
    assert refused.value.code == ErrorCode.ATTACHMENT_INVALID


# --- Signed links -------------------------------------------------------------------------------


def sent(bob, conversation, data, name):
    attachment, _ = upload_as_agent(bob, conversation.pk, data, name, upload_id=name)
    message = factories.agent_message(bob, conversation.pk, "", attachment_id=attachment.pk)
    return realtime.message_out(message).attachment


def test_image_is_served_inline_with_safe_headers(bob, conversation, client):
    out = sent(bob, conversation, png(), "a.png")

    response, body = fetch(client, out.url)
    thumb, _ = fetch(client, out.thumbnail_url)

    assert response.status_code == 200 and thumb.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert Image.open(io.BytesIO(body)).format == "PNG"
    assert thumb["Content-Type"] in ("image/png", "image/jpeg")
    saved, _ = fetch(client, out.url + "?download=1")
    assert saved["Content-Disposition"].startswith("attachment;")


def test_other_files_download_and_never_render(bob, conversation, client):
    out = sent(bob, conversation, "<b>hi</b> 不是网页\n".encode(), "note.txt")

    response, body = fetch(client, out.url)

    # Markup-looking text is refused at upload, plain text downloads as an opaque file.
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="note.txt"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_file_name_with_markup_is_only_a_name(bob, conversation, client):
    out = sent(bob, conversation, pdf(), '<img src=x onerror=alert(1)>".pdf')

    response, _ = fetch(client, out.url)

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "<img" not in response["Content-Disposition"].split("filename=")[0]


def test_forged_expired_and_foreign_links_get_nothing(bob, conversation, client, settings):
    out = sent(bob, conversation, png(), "a.png")
    token = out.url.split("/")[2]
    claims = signing.loads(token, salt=attachments.URL_SALT)

    forged = signing.dumps({**claims, "a": claims["a"] + 1}, salt="something else")
    other_merchant = signing.dumps({**claims, "m": claims["m"] + 1000}, salt=attachments.URL_SALT)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    assert fetch(client, f"/files/{forged}/a.png")[0].status_code == 404
    assert fetch(client, f"/files/{other_merchant}/a.png")[0].status_code == 404
    assert fetch(client, f"/files/{tampered}/a.png")[0].status_code == 404
    settings.ATTACHMENT_URL_MAX_AGE = 1
    time.sleep(2.1)
    assert fetch(client, out.url)[0].status_code == 404


def test_charlie_gets_nothing_of_acmes_attachments(bob, charlie, conversation, other):
    from tests.conversations.conftest import session_client

    out = sent(bob, conversation, png(), "a.png")
    charlie_api = session_client(charlie, other.pk)

    upload_response = charlie_api.post(
        f"/api/v1/conversations/{conversation.pk}/attachments/",
        {"file": upload(png(), "x.png"), "upload_id": "c1"},
        format="multipart",
    )
    listing = charlie_api.get(f"/api/v1/conversations/{conversation.pk}/messages/")
    send = charlie_api.post(
        f"/api/v1/conversations/{conversation.pk}/messages/",
        {"body": "", "attachment_id": out.id},
        format="json",
    )

    assert upload_response.status_code == 404
    assert listing.status_code == 404
    assert send.status_code == 404
    assert Attachment.objects.count() == 1


# --- REST API -----------------------------------------------------------------------------------


def test_api_upload_then_send(api, conversation):
    path = f"/api/v1/conversations/{conversation.pk}/attachments/"

    first = api.post(
        path, {"file": upload(png(), "a.png"), "upload_id": "up-1"}, format="multipart"
    )
    again = api.post(
        path, {"file": upload(png(), "a.png"), "upload_id": "up-1"}, format="multipart"
    )
    sent_message = api.post(
        f"/api/v1/conversations/{conversation.pk}/messages/",
        {"body": "截图", "attachment_id": first.json()["id"], "client_msg_id": "s-1"},
        format="json",
    )

    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert set(first.json()) == {
        "id",
        "kind",
        "name",
        "content_type",
        "size",
        "width",
        "height",
        "url",
        "thumbnail_url",
    }
    assert sent_message.status_code == 201
    body = sent_message.json()
    assert body["kind"] == "image" and body["body"] == "截图"
    assert body["attachment"]["id"] == first.json()["id"]


@pytest.mark.parametrize(
    "data,name,code",
    [
        (b"", "a.png", "file_empty"),
        (POLYGLOT_HTML, "a.png", "file_type"),
        (b"\x89PNG\r\n\x1a\n", "a.png", "file_damaged"),
    ],
)
def test_api_bad_files_are_field_errors(api, conversation, data, name, code):
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/attachments/",
        {"file": upload(data, name), "upload_id": "bad"},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["file"]


def test_api_refuses_a_declared_oversize_body_before_reading_it(api, acme, conversation):
    Merchant.objects.filter(pk=acme.pk).update(attachment_max_mb=1)

    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/attachments/",
        {"file": upload(b"x" * (2 << 20), "a.txt"), "upload_id": "big"},
        format="multipart",
    )

    assert response.status_code == 400 and response.json()["code"] == "file_too_large"


def test_api_upload_needs_a_file_and_an_upload_id(api, conversation):
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/attachments/", {}, format="multipart"
    )

    assert response.status_code == 400
    assert set(response.json()) >= {"file", "upload_id"}


def test_message_list_query_count_does_not_grow_with_attachments(
    api, bob, conversation, django_assert_num_queries
):
    path = f"/api/v1/conversations/{conversation.pk}/messages/"
    sent(bob, conversation, png(), "1.png")
    api.get(path)  # a token records its last use once a minute: not part of the count
    with django_assert_num_queries(_queries(api)) as few:
        api.get(path)
    for n in range(2, 6):
        sent(bob, conversation, pdf(), f"{n}.pdf")
    with django_assert_num_queries(len(few.captured_queries)):
        response = api.get(path)
    assert sum(1 for m in response.json()["results"] if m["attachment"]) == 5


def _queries(api) -> int:
    # The token, the conversation, the page; a session reads the session,
    # the user and the membership instead of the token.
    return 3 if api.kind == "token" else 5


# --- Deletion removes the files --------------------------------------------------------------


def test_deleting_a_conversation_or_visitor_removes_the_files(
    bob, conversation, visitor, django_capture_on_commit_callbacks
):
    sent(bob, conversation, png(), "a.png")
    sent(bob, conversation, pdf(), "b.pdf")
    single = sent(bob, conversation, pdf(), "c.pdf")
    unsent, _ = upload_as_visitor(visitor, png(), "c.png")
    assert len(stored_files()) == 6

    with django_capture_on_commit_callbacks(execute=True):
        Message.objects.filter(attachment__pk=single.id).delete()
    assert len(stored_files()) == 5

    with django_capture_on_commit_callbacks(execute=True):
        Conversation.objects.filter(pk=conversation.pk).delete()
    assert len(stored_files()) == 2  # the visitor's unsent upload is left
    with django_capture_on_commit_callbacks(execute=True):
        visitor.delete()

    assert stored_files() == []
    assert not Attachment.objects.exists()


def test_attachments_delete_service_for_retention(
    bob, conversation, django_capture_on_commit_callbacks
):
    out = sent(bob, conversation, png(), "a.png")

    with django_capture_on_commit_callbacks(execute=True):
        deleted = services.attachments_delete(
            merchant_id=conversation.merchant_id + 999, conversation_ids=[conversation.pk]
        )
    assert deleted == 0 and len(stored_files()) == 2
    with django_capture_on_commit_callbacks(execute=True):
        deleted = services.attachments_delete(
            merchant_id=conversation.merchant_id, conversation_ids=[conversation.pk]
        )

    assert deleted == 1 and stored_files() == []
    assert Message.objects.filter(
        pk=selectors.message_list(
            merchant_id=conversation.merchant_id, conversation_id=conversation.pk
        )
        .last()
        .pk
    ).exists()
    assert out.id not in Attachment.objects.values_list("pk", flat=True)


def test_unsent_uploads_are_purged_after_a_day(visitor, django_capture_on_commit_callbacks):
    upload_as_visitor(visitor, png(), "c.png")

    with django_capture_on_commit_callbacks(execute=True):
        assert services.attachments_purge_unsent() == 0
        assert services.attachments_purge_unsent(older_than_hours=-1) == 1

    assert stored_files() == []


def test_admin_transcript_names_attachments_as_text(alice, bob, conversation, client):
    sent(bob, conversation, png(), "<img src=x onerror=alert(1)>.png")
    client.force_login(alice.user)

    page = client.get(f"/admin/conversations/conversation/{conversation.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in html and "<img src=x" not in html


def test_reply_email_names_the_agents_file(bob, conversation, mailoutbox, settings):
    from notifications.services import visitor_reply_email_send

    sent(bob, conversation, pdf(), "报价单.pdf")

    assert visitor_reply_email_send(
        merchant_id=conversation.merchant_id, conversation_id=conversation.pk
    )
    email = mailoutbox[0]
    assert "报价单.pdf" in email.body and ("[文件]" in email.body or "[File]" in email.body)


def test_merchant_attachment_settings_are_validated(acme):
    from django.core.exceptions import ValidationError

    acme.attachment_types = "image, exe"
    with pytest.raises(ValidationError) as refused:
        acme.full_clean()
    assert "attachment_types" in refused.value.message_dict
    acme.attachment_types, acme.attachment_max_mb = "image,pdf", 0
    with pytest.raises(ValidationError) as zero:
        acme.full_clean()
    assert set(zero.value.message_dict) == {"attachment_max_mb"}
    assert Merchant(name="x").attachment_type_set() == {"image", "pdf", "office", "text", "archive"}


def test_animated_gif_keeps_its_frames_and_appended_data_is_dropped(bob, conversation):
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    data = buffer.getvalue() + b"<script>alert(1)</script>"

    attachment, _ = upload_as_agent(bob, conversation.pk, data, "dance.gif")

    stored = attachment.file.read()
    assert b"<script>" not in stored
    image = Image.open(io.BytesIO(stored))
    assert (image.format, image.n_frames) == ("GIF", 3)
    assert attachment.content_type == "image/gif" and attachment.thumbnail
