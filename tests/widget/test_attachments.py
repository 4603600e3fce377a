"""The visitor's side of attachments: POST /widget/api/attachments (origin, token, merchant,
bad files as field errors, a retried upload stored once), then `message.send` with the upload's
`attachment_id` on the visitor socket, seen by the agent with a working signed link."""

from __future__ import annotations

import asyncio

import pytest

from conversations.models import Attachment, Message
from conversations.tokens import visitor_token_issue
from tests import factories
from tests.conversations.attachment_helpers import (
    POLYGLOT_HTML,
    attachment_storage,  # noqa: F401 (autouse fixture)
    jpeg_with_exif,
    pdf,
    png,
    stored_files,
    upload,
)
from tests.wsclient import auth_visitor, open_agent, receive_until, session_cookie

ORIGIN = "http://127.0.0.1"


@pytest.fixture
def site(acme):
    acme.allowed_origins = ORIGIN
    acme.save(update_fields=["allowed_origins"])
    return acme


def post_file(client, merchant, visitor, data, name, upload_id="u-1", origin=ORIGIN, token=None):
    return client.post(
        f"/widget/api/attachments?key={merchant.widget_key}",
        {
            "token": token or visitor_token_issue(merchant_id=merchant.pk, visitor_id=visitor.pk),
            "upload_id": upload_id,
            "file": upload(data, name),
        },
        HTTP_ORIGIN=origin,
    )


def test_upload_answers_with_cors_and_is_stored_once(client, site):
    visitor = factories.visitor(site)

    first = post_file(client, site, visitor, jpeg_with_exif(), "me.jpg")
    again = post_file(client, site, visitor, jpeg_with_exif(), "me.jpg")

    assert first.status_code == 201 and again.status_code == 200
    assert first["Access-Control-Allow-Origin"] == ORIGIN
    body = first.json()
    assert body["kind"] == "image" and body["name"] == "me.jpg"
    assert body["url"].startswith("/files/") and body["thumbnail_url"].startswith("/files/")
    assert again.json()["id"] == body["id"]
    assert Attachment.objects.get().uploader_key == f"visitor:{visitor.pk}"


def test_bad_input_is_a_field_error_and_stores_nothing(client, site):
    visitor = factories.visitor(site)

    empty = post_file(client, site, visitor, b"", "a.png")
    html = post_file(client, site, visitor, POLYGLOT_HTML, "cat.png", upload_id="u-2")
    truncated = post_file(client, site, visitor, png()[:40], "a.png", upload_id="u-3")
    no_file = client.post(
        f"/widget/api/attachments?key={site.widget_key}", {"token": "x"}, HTTP_ORIGIN=ORIGIN
    )

    assert (empty.status_code, empty.json()["code"]) == (400, "file_empty")
    assert (html.status_code, html.json()["code"]) == (400, "file_type")
    assert (truncated.status_code, truncated.json()["code"]) == (400, "file_damaged")
    assert empty.json()["errors"]["file"]
    assert no_file.status_code == 400 and set(no_file.json()["errors"]) >= {"file", "upload_id"}
    assert not Attachment.objects.exists() and stored_files() == []


def test_oversized_upload_is_refused_by_its_declared_length(client, site):
    site.attachment_max_mb = 1
    site.save(update_fields=["attachment_max_mb"])
    visitor = factories.visitor(site)

    response = post_file(client, site, visitor, b"a" * (2 << 20), "big.txt")

    assert response.status_code == 400 and response.json()["code"] == "file_too_large"
    assert "1 MB" in response.json()["errors"]["file"][0]


def test_refused_origin_token_and_merchant(client, site, other):
    visitor = factories.visitor(site)
    outsider = factories.visitor(other)

    bad_origin = post_file(client, site, visitor, pdf(), "a.pdf", origin="https://evil.example")
    bad_token = post_file(client, site, visitor, pdf(), "a.pdf", token="forged")
    # A token of Other's widget used with Acme's key: nothing of Acme's is touched.
    foreign = post_file(
        client,
        site,
        visitor,
        pdf(),
        "a.pdf",
        token=visitor_token_issue(merchant_id=other.pk, visitor_id=outsider.pk),
    )

    assert bad_origin.status_code == 403
    assert bad_token.status_code == 400 and "token" in bad_token.json()["errors"]
    assert foreign.status_code == 403 and foreign.json()["code"] == "merchant_mismatch"
    assert not Attachment.objects.exists()


def test_bootstrap_tells_the_widget_the_limits(client, site):
    response = client.post(
        f"/widget/api/bootstrap?key={site.widget_key}",
        data="{}",
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
    )

    attachments = response.json()["attachments"]
    assert attachments["max_mb"] == 10
    assert "image" in attachments["types"] and "pdf" in attachments["types"]


@pytest.mark.django_db(transaction=True)
def test_visitor_sends_an_upload_over_the_socket_and_the_agent_sees_it(site, bob, client):
    visitor = factories.visitor(site, name="张三")
    uploaded = post_file(client, site, visitor, png(size=(800, 600)), "屏幕截图.png").json()
    cookie = session_cookie(bob.user)

    async def scenario():
        agent, connected, _ = await open_agent(site.pk, cookie)
        assert connected
        comm, _ = await auth_visitor(site, visitor)
        frame = {"type": "message.send", "client_msg_id": "c1", "body": "", "attachment_id": 0}
        await comm.send_json_to(frame)
        refused, _ = await receive_until(comm, "error")
        await comm.send_json_to({**frame, "attachment_id": uploaded["id"] + 1})
        unknown, _ = await receive_until(comm, "error")
        await comm.send_json_to({**frame, "attachment_id": uploaded["id"]})
        ack, _ = await receive_until(comm, "message.ack")
        await comm.send_json_to({**frame, "attachment_id": uploaded["id"]})
        retried, _ = await receive_until(comm, "message.ack")
        created, _ = await receive_until(agent, "message.created")
        await comm.disconnect()
        await agent.disconnect()
        return refused, unknown, ack, retried, created

    refused, unknown, ack, retried, created = asyncio.run(asyncio.wait_for(scenario(), 30))

    assert refused["code"] == "invalid_frame" and "attachment_id" in refused["fields"]
    assert unknown["code"] == "attachment_invalid" and unknown["ref"] == "c1"
    assert ack["duplicate"] is False and retried["duplicate"] is True
    message = ack["message"]
    assert (message["seq"], message["kind"], message["body"]) == (1, "image", "")
    assert message["attachment"]["name"] == "屏幕截图.png"
    seen = created["message"]["attachment"]
    assert (seen["width"], seen["height"]) == (800, 600)
    response = client.get(seen["thumbnail_url"])
    assert response.status_code == 200 and response["Content-Type"].startswith("image/")
    # The one message, and the line saying bob joined (he was online: routed to him).
    assert Message.objects.exclude(kind="event").count() == 1


def test_uploads_per_hour_are_bounded(client, site, monkeypatch):
    from conversations.services import attachments as attachment_services

    monkeypatch.setattr(attachment_services, "UPLOADS_PER_HOUR", 2)
    visitor = factories.visitor(site)

    codes = [
        post_file(client, site, visitor, pdf(), "a.pdf", upload_id=f"u-{n}").status_code
        for n in range(3)
    ]
    retried = post_file(client, site, visitor, pdf(), "a.pdf", upload_id="u-0")

    assert codes == [201, 201, 429]
    assert retried.status_code == 200  # a retry of a stored upload is not a new one
    assert Attachment.objects.count() == 2
