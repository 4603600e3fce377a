"""Bad input is a 400 naming the field (or a JSON 404 for a URL that names nothing), never a 500,
and never a write."""

from __future__ import annotations

import base64
import json

import pytest

from conversations.models import Message

SEND_ERRORS = [
    ({}, "body"),
    ({"body": None}, "body"),
    ({"body": 123}, "body"),
    ({"body": ["hi"]}, "body"),
    ({"body": {"text": "hi"}}, "body"),
    ({"body": True}, "body"),
    ({"body": "hi", "client_msg_id": ""}, "client_msg_id"),
    ({"body": "hi", "client_msg_id": "has space"}, "client_msg_id"),
    ({"body": "hi", "client_msg_id": "中文"}, "client_msg_id"),
    ({"body": "hi", "client_msg_id": "x" * 65}, "client_msg_id"),
    ({"body": "hi", "client_msg_id": 5}, "client_msg_id"),
    ({"body": "hi", "private": "maybe"}, "private"),
    ({"body": "hi", "private": [True]}, "private"),
    ({"body": "hi", "user_id": "abc"}, "user_id"),
    ({"body": "hi", "user_id": 0}, "user_id"),
    ({"body": "hi", "user_id": -3}, "user_id"),
    ({"body": "hi", "user_id": 1.5}, "user_id"),
    ({"body": "hi", "user_id": 10**30}, "user_id"),
]


@pytest.mark.parametrize("data, field", SEND_ERRORS)
def test_send_field_errors(token, conversation, data, field):
    response = token.post(f"/api/v1/conversations/{conversation.pk}/messages/", data, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert Message.objects.count() == 1


def test_client_msg_id_accepts_what_the_socket_accepts(token, conversation):
    response = token.post(
        f"/api/v1/conversations/{conversation.pk}/messages/",
        {"body": "ok", "client_msg_id": "A-z_0.9:" + "x" * 56},
        format="json",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "raw, content_type",
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"hi"', "application/json"),
        (b"null", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"body=hi", "application/x-www-form-urlencoded"),
        (b"hi", "text/plain"),
    ],
)
def test_junk_bodies(api, conversation, raw, content_type):
    response = api.generic(
        "POST", f"/api/v1/conversations/{conversation.pk}/messages/", raw, content_type=content_type
    )
    # 415 for a body that is not JSON at all; 400 for broken or non-object JSON.
    assert response.status_code in (400, 415), (raw, response.status_code, response.content)
    assert response["Content-Type"] == "application/json"
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/conversations/abc/",
        "/api/v1/conversations/-1/",
        "/api/v1/conversations/1.5/",
        "/api/v1/conversations/0/",
        "/api/v1/conversations/99999999999999999999999999/",
        "/api/v1/conversations/abc/messages/",
        "/api/v1/conversations/99999999999999999999999999/messages/",
        "/api/v1/visitors/abc/",
        "/api/v1/visitors/99999999999999999999999999/",
        "/api/v1/nothing-here/",
    ],
)
def test_urls_that_name_nothing_are_json_404(api, conversation, path):
    responses = [api.get(path)]
    if path.endswith("/messages/") or "nothing" in path:
        responses.append(api.post(path, {"body": "hi"}, format="json"))
    for response in responses:
        assert response.status_code == 404, (path, response.status_code)
        assert response.json()["code"] == "not_found"
    assert Message.objects.count() == 1


def _cursor(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


BAD_CURSORS = [
    "junk",
    "%%%",
    "",
    _cursor([1, 2]),
    _cursor({"k": [], "r": False}),
    _cursor({"k": ["2025-01-01T00:00:00+00:00"], "r": False}),
    _cursor({"k": ["not a date", 1], "r": False}),
    _cursor({"k": ["2025-01-01T00:00:00", 1], "r": False}),  # naive
    _cursor({"k": ["0001-01-01T00:00:00+14:00", 1], "r": False}),  # before year 1 in UTC
    _cursor({"k": ["2025-01-01T00:00:00+00:00", "x"], "r": False}),
    _cursor({"k": ["2025-01-01T00:00:00+00:00", None], "r": False}),
    _cursor({"k": ["2025-01-01T00:00:00+00:00", 1], "r": "yes"}),
    _cursor({"k": [{"a": 1}, 1], "r": False}),
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_bad_cursor_is_a_field_error(api, conversation, cursor):
    response = api.get("/api/v1/conversations/", {"cursor": cursor})
    assert response.status_code == 400, (cursor, response.content)
    assert "cursor" in response.json()


def test_tampered_cursor_values_that_parse_are_just_positions(api, conversation):
    for key in (["2025-01-01T00:00:00+00:00", 10**30], [None, 5], ["9999-12-31T23:59:59+00:00", 1]):
        response = api.get("/api/v1/conversations/", {"cursor": _cursor({"k": key, "r": False})})
        assert response.status_code == 200, (key, response.content)
    message_cursor = _cursor({"k": [10**30], "r": True})
    path = f"/api/v1/conversations/{conversation.pk}/messages/"
    response = api.get(path, {"cursor": message_cursor})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("/api/v1/conversations/", {"page_size": "0"}, "page_size"),
        ("/api/v1/conversations/", {"page_size": "-5"}, "page_size"),
        ("/api/v1/conversations/", {"page_size": "abc"}, "page_size"),
        ("/api/v1/visitors/", {"page_size": "1e3"}, "page_size"),
        ("/api/v1/conversations/", {"status": "nope"}, "status"),
        ("MESSAGES", {"after_seq": "-1"}, "after_seq"),
        ("MESSAGES", {"after_seq": "abc"}, "after_seq"),
        ("MESSAGES", {"page_size": "²"}, "page_size"),
    ],
)
def test_bad_query_parameters(api, conversation, path, params, field):
    if path == "MESSAGES":
        path = f"/api/v1/conversations/{conversation.pk}/messages/"
    response = api.get(path, params)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_options_and_head_are_not_errors(api, conversation, visitor):
    for path in (
        "/api/v1/conversations/",
        f"/api/v1/conversations/{conversation.pk}/",
        f"/api/v1/conversations/{conversation.pk}/messages/",
        "/api/v1/visitors/",
        f"/api/v1/visitors/{visitor.pk}/",
        "/api/v1/canned-responses/",
    ):
        assert api.options(path).status_code == 200, path
        assert api.head(path).status_code == 200, path
    options = api.options(f"/api/v1/conversations/{conversation.pk}/messages/").json()
    assert set(options["actions"]["POST"]) == {
        "body",
        "client_msg_id",
        "private",
        "user_id",
        "attachment_id",
    }
