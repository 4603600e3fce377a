"""The pre-chat form (POST /widget/api/prechat and the bootstrap's `prechat`): asked as the
merchant configured it, every field's error at once, nothing half-stored, skipped for visitors
the site identified and for those who answered; another merchant's token gets nothing."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from conversations.models import Visitor
from conversations.tokens import visitor_token_issue
from merchants.models import Merchant
from tests import factories
from tests.widget.test_offline import ORIGIN, post


@pytest.fixture
def form(acme):
    Merchant.objects.filter(pk=acme.pk).update(
        prechat_name="required",
        prechat_email="optional",
        prechat_phone="off",
        prechat_custom="订单号*\n  \n购买渠道\n",
    )
    acme.refresh_from_db()
    return acme


def boot(client, merchant, **body):
    response = post(client, "bootstrap", merchant, body)
    assert response.status_code == 200
    return response.json()


def test_the_bootstrap_lists_the_configured_fields(client, form):
    data = boot(client, form)
    assert [(f["key"], f["required"], f["type"]) for f in data["prechat"]] == [
        ("name", True, "text"),
        ("email", False, "email"),
        ("c1", True, "text"),
        ("c2", False, "text"),
    ]
    assert [f["label"] for f in data["prechat"]][2:] == ["订单号", "购买渠道"]


def test_no_form_by_default(client, acme):
    assert boot(client, acme)["prechat"] == []


def test_answers_are_stored_and_the_form_is_not_asked_again(client, form):
    data = boot(client, form)
    token = data["token"]
    response = post(
        client,
        "prechat",
        form,
        {"token": token, "fields": {"name": " 李雷 ", "email": "li@example.com", "c1": "A-1001"}},
    )
    assert response.status_code == 200, response.content
    visitor = Visitor.objects.get(pk=data["visitor_id"])
    assert (visitor.name, visitor.email) == ("李雷", "li@example.com")
    assert visitor.attributes["订单号"] == "A-1001"
    assert "购买渠道" not in visitor.attributes  # optional, left empty
    again = boot(client, form, anonymous_id=data["anonymous_id"])
    assert again["prechat"] == []


def test_every_bad_field_is_reported_and_nothing_is_stored(client, form):
    data = boot(client, form)
    response = post(
        client,
        "prechat",
        form,
        {
            "token": data["token"],
            "fields": {"name": "", "email": "nope", "c2": "x" * 201, "evil": "1", "c1": 5},
        },
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "email", "c1", "c2", "evil"}
    visitor = Visitor.objects.get(pk=data["visitor_id"])
    assert (visitor.name, visitor.email, visitor.attributes) == ("", "", {})
    for body in ["nope", {"token": data["token"]}, {"token": "forged", "fields": {}}]:
        assert post(client, "prechat", form, body).status_code == 400


def test_identified_visitors_never_see_it(client, form):
    user_hash = hmac.new(form.identity_secret.encode(), b"u-7", hashlib.sha256).hexdigest()
    data = boot(client, form, identity={"id": "u-7", "hash": user_hash, "name": "Han"})
    assert data["prechat"] == []


def test_another_merchants_token_is_refused(client, form, other):
    other.allowed_origins = ORIGIN
    other.save(update_fields=["allowed_origins"])
    stranger = factories.visitor(other)
    token = visitor_token_issue(merchant_id=other.pk, visitor_id=stranger.pk)
    response = post(client, "prechat", form, {"token": token, "fields": {"name": "x", "c1": "1"}})
    assert response.status_code == 403
    stranger.refresh_from_db()
    assert stranger.name == "" and stranger.attributes == {}
