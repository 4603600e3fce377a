"""The widget's HTTP side: bootstrap (key, origin, CORS, identity, bad input) and the loader."""

import hashlib
import hmac
import json
import time

import pytest

from conversations.models import Visitor
from conversations.tokens import visitor_token_verify
from tests import factories

ORIGIN = "http://127.0.0.1"


def boot(client, merchant, body=None, origin=ORIGIN, key=None, **headers):
    if origin:
        headers["HTTP_ORIGIN"] = origin
    return client.post(
        f"/widget/api/bootstrap?key={key or merchant.widget_key}",
        data=body if isinstance(body, str) else json.dumps(body or {}),
        content_type="application/json",
        **headers,
    )


def test_bootstrap_creates_visitor_and_signed_token(client, acme):
    response = boot(
        client,
        acme,
        {"page_url": "https://shop/p/1", "page_title": "商品 1"},
        HTTP_USER_AGENT="Mozilla/5.0 test",
        HTTP_ACCEPT_LANGUAGE="zh-CN",
    )
    assert response.status_code == 200
    data = response.json()
    claims = visitor_token_verify(data["token"])
    assert claims.merchant_id == acme.pk and claims.visitor_id == data["visitor_id"]
    visitor = Visitor.objects.get(pk=data["visitor_id"])
    assert visitor.anonymous_id == data["anonymous_id"] and len(data["anonymous_id"]) >= 16
    assert (visitor.page_title, visitor.user_agent) == ("商品 1", "Mozilla/5.0 test")
    assert visitor.ip == "127.0.0.1"
    assert data["ws_path"] == f"/ws/visitor/?key={acme.widget_key}"
    assert data["merchant"]["name"] == acme.name
    assert data["max_length"] == 5000
    # CORS answer for an allowed origin
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_same_anonymous_id_is_the_same_visitor(client, acme):
    first = boot(client, acme).json()
    again = boot(
        client, acme, {"anonymous_id": first["anonymous_id"], "page_title": "second"}
    ).json()
    assert again["visitor_id"] == first["visitor_id"]
    assert Visitor.objects.count() == 1
    assert Visitor.objects.get().page_title == "second"


def test_widget_strings_follow_the_browser_language(client, acme):
    zh = boot(client, acme, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").json()["strings"]
    en = boot(client, acme, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").json()["strings"]
    assert en["send"] == "Send"
    assert zh["send"] == "发送"


def test_unknown_or_inactive_key_is_404(client, acme):
    assert boot(client, acme, key="nope").json()["code"] == "unknown_widget_key"
    acme.is_active = False
    acme.save()
    response = boot(client, acme)
    assert response.status_code == 404 and response.json()["code"] == "unknown_widget_key"
    assert not Visitor.objects.exists()


@pytest.mark.parametrize("origin", ["https://evil.example", None, "http://127.0.0.1.evil.example"])
def test_origin_not_allowed_is_403_without_cors(client, acme, origin):
    response = boot(client, acme, origin=origin)
    assert response.status_code == 403
    assert response.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    assert not Visitor.objects.exists()


def test_cors_preflight_only_for_allowed_origins(client, acme):
    ok = client.options(
        f"/widget/api/bootstrap?key={acme.widget_key}",
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    bad = client.options(
        f"/widget/api/bootstrap?key={acme.widget_key}",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert ok.status_code == 204
    assert ok["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in ok["Access-Control-Allow-Methods"]
    assert bad.status_code == 403
    assert "Access-Control-Allow-Origin" not in bad


@pytest.mark.parametrize(
    "body, field",
    [
        ({"anonymous_id": "short"}, "anonymous_id"),
        ({"anonymous_id": "bad id with spaces and more"}, "anonymous_id"),
        ({"page_url": "x" * 2001}, "page_url"),
        ({"identity": {"id": "u1"}}, "identity"),
        ({"identity": "not an object"}, "identity"),
    ],
)
def test_bad_fields_are_400_with_field_errors(client, acme, body, field):
    response = boot(client, acme, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Visitor.objects.exists()


@pytest.mark.parametrize("raw", ["not json", "[1,2]", "null"])
def test_junk_body_is_400(client, acme, raw):
    response = boot(client, acme, raw)
    assert response.status_code == 400
    assert not Visitor.objects.exists()


def _signed(merchant, user_id):
    return hmac.new(merchant.identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def test_signed_identity_is_applied(client, acme):
    body = {
        "identity": factories.signed_identity(
            acme, "user-42", name="李雷", email="li@example.com", phone="13800000000"
        )
    }
    data = boot(client, acme, body).json()
    visitor = Visitor.objects.get(pk=data["visitor_id"])
    assert (visitor.external_id, visitor.name, visitor.email, visitor.phone) == (
        "user-42",
        "李雷",
        "li@example.com",
        "13800000000",
    )
    assert "identity_notice" not in data


def test_an_id_only_hash_vouches_for_the_id_alone(client, acme):
    """Issue 16, finding 11: the first form signs the id; name and e-mail riding along could be
    anyone's words, so they are ignored (and the page is told), the id still joins the chats."""
    body = {
        "identity": {
            "id": "user-42",
            "hash": _signed(acme, "user-42"),
            "name": "Mallory",
            "email": "victim@example.com",
        }
    }
    data = boot(client, acme, body).json()
    visitor = Visitor.objects.get(pk=data["visitor_id"])
    assert (visitor.external_id, visitor.name, visitor.email) == ("user-42", "", "")
    assert data["identity_notice"] == "unsigned_fields_ignored"


def test_a_changed_field_breaks_the_signature(client, acme):
    identity = factories.signed_identity(acme, "user-42", name="李雷", email="li@example.com")
    response = boot(client, acme, {"identity": {**identity, "email": "mallory@example.com"}})
    assert response.status_code == 400 and response.json()["code"] == "identity_invalid"
    assert not Visitor.objects.exists()


def test_a_signature_counts_until_it_expires(client, acme):
    future = int(time.time()) + 600
    fresh = factories.signed_identity(acme, "user-42", name="李雷", expires=future)
    assert boot(client, acme, {"identity": fresh}).status_code == 200
    stale = factories.signed_identity(acme, "user-43", name="韩梅梅", expires=int(time.time()) - 1)
    response = boot(client, acme, {"identity": stale})
    assert response.status_code == 400 and response.json()["errors"] == {"identity": ["expired"]}
    # A later expiry written on the page without a new signature does not help.
    assert boot(client, acme, {"identity": {**stale, "expires": future}}).status_code == 400
    assert not Visitor.objects.filter(external_id="user-43").exists()


def test_forged_identity_is_refused(client, acme, other):
    body = {"identity": {"id": "user-42", "hash": _signed(other, "user-42"), "name": "Mallory"}}
    response = boot(client, acme, body)
    assert response.status_code == 400 and response.json()["code"] == "identity_invalid"
    assert not Visitor.objects.exists()


def test_bootstrap_is_post_only(client, acme):
    assert client.get(f"/widget/api/bootstrap?key={acme.widget_key}").status_code == 405


def test_loader_is_served_as_javascript_from_the_app(client):
    response = client.get("/widget/loader.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"/widget/api/bootstrap" in body
    # No third-party hosts: everything comes from the server that served the loader.
    assert b"cdn" not in body.lower()
