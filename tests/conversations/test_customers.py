"""Customer profiles (issue 13): the profile the visitor pane shows (identity, contact, page
trail, referrer, device, language, time on site, past conversations, custom attributes, notes,
labels) in a fixed number of queries; notes; custom attributes validated by type; blocking
(by visitor and by identity id) and what a blocked visitor can no longer do; bad input as 400;
charlie gets nothing of Acme's."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from conversations import realtime, selectors, services
from conversations.models import (
    AttributeDefinition,
    Conversation,
    CustomerNote,
    Label,
    Visitor,
    VisitorPageView,
)
from kefu.errors import KefuError
from tests import factories

from .conftest import session_client, token_client

UA_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)


@pytest.fixture
def sent(monkeypatch):
    frames: list[tuple[str, dict]] = []
    monkeypatch.setattr(realtime, "_group_send", lambda group, frame: frames.append((group, frame)))
    return frames


@pytest.fixture
def alice_session(alice):
    return session_client(alice)


@pytest.fixture
def charlie_session(charlie):
    return session_client(charlie)


@pytest.fixture
def plan(acme):
    return AttributeDefinition.objects.create(
        merchant=acme, key="plan", name="套餐", kind="choice", choices=["free", "pro"]
    )


@pytest.fixture
def orders(acme):
    return AttributeDefinition.objects.create(
        merchant=acme, key="orders", name="订单数", kind="number"
    )


@pytest.fixture
def since(acme):
    return AttributeDefinition.objects.create(
        merchant=acme, key="since", name="注册日期", kind="date"
    )


@pytest.fixture
def customer(acme):
    visitor = services.visitor_touch(
        merchant=acme,
        anonymous_id="anon-customer-000001",
        user_agent=UA_PHONE,
        page_url="https://shop.example/cart",
        page_title="购物车",
        referrer="https://www.baidu.com/s?wd=shop",
        language="zh-CN",
        identity={"name": "韩梅梅", "email": "mei@example.com", "phone": "13800000000"},
    )
    # The landing page the bootstrap recorded, replaced by a trail of known times.
    VisitorPageView.objects.filter(visitor=visitor).delete()
    now = timezone.now()
    for minutes, url in ((70, "/old"), (9, "/"), (5, "/p/1"), (1, "/cart")):
        VisitorPageView.objects.create(merchant=acme, visitor=visitor, url=url, title=url)
        VisitorPageView.objects.filter(url=url).update(
            viewed_at=now - datetime.timedelta(minutes=minutes)
        )
    Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=now)
    return visitor


def test_profile_has_what_the_pane_shows(
    api, acme, bob, customer, plan, orders, django_assert_num_queries
):
    first = factories.visitor_message(customer, "上次的订单").conversation
    Conversation.objects.filter(pk=first.pk).update(status="closed")  # a past one
    vip = Label.objects.create(merchant=acme, name="VIP")
    first.labels.add(vip)
    second = factories.visitor_message(customer, "又有问题").conversation
    assert second.pk != first.pk
    services.visitor_attributes_set(
        merchant_id=acme.pk, visitor_id=customer.pk, values={"plan": "pro"}
    )
    services.customer_note_create(
        merchant_id=acme.pk,
        visitor_id=customer.pk,
        author_id=bob.user_id,
        author_name="Bob",
        body="老客户，耐心",
    )
    services.visitor_block(
        merchant_id=acme.pk, visitor_id=customer.pk, actor_user_id=bob.user_id, reason="骚扰"
    )
    path = f"/api/v1/visitors/{customer.pk}/profile/"
    api.get(path)  # warm-up: the token's last_used_at write
    auth = {"token": 1, "bob_session": 3}[api.kind]
    # visitor, blocker's name, trail, conversations, their labels, notes, definitions
    with django_assert_num_queries(auth + 7):
        response = api.get(path)
    assert response.status_code == 200, response.content
    p = response.json()
    assert (p["name"], p["email"], p["phone"]) == ("韩梅梅", "mei@example.com", "13800000000")
    assert p["referrer"] == "https://www.baidu.com/s?wd=shop" and p["language"] == "zh-CN"
    assert p["device"] == {"browser": "Chrome", "os": "Android", "form": "phone"}
    assert [v["url"] for v in p["page_views"]] == ["/cart", "/p/1", "/", "/old"]
    # The visit began 9 minutes ago (the page 70 minutes ago was another visit).
    assert 9 * 60 - 5 <= p["time_on_site_seconds"] <= 9 * 60 + 5
    assert [c["id"] for c in p["conversations"]] == [second.pk, first.pk]
    assert p["conversations"][1]["label_ids"] == [vip.pk] and p["label_ids"] == [vip.pk]
    assert [(a["key"], a["value"]) for a in p["attributes"]] == [("plan", "pro"), ("orders", None)]
    assert [(n["body"], n["author_name"]) for n in p["notes"]] == [("老客户，耐心", "Bob")]
    assert p["blocked"] is True and p["blocked_by"] == "Bob" and p["block_reason"] == "骚扰"


def test_bootstrap_page_starts_the_trail(acme):
    """The widget's page.view after a bootstrap names the same page: the bootstrap records it."""
    touch = {"merchant": acme, "anonymous_id": "anon-trail-00000001", "page_title": "首页"}
    visitor = services.visitor_touch(**touch, page_url="https://shop.example/")
    services.visitor_page_view(
        merchant_id=acme.pk, visitor_id=visitor.pk, url="https://shop.example/", title="首页"
    )
    services.visitor_touch(**touch, page_url="https://shop.example/")  # a reload: no new row
    services.visitor_touch(**touch, page_url="https://shop.example/p/1")
    trail = VisitorPageView.objects.filter(visitor=visitor).order_by("id")
    assert [v.url for v in trail] == ["https://shop.example/", "https://shop.example/p/1"]


def test_referrer_from_the_shop_itself_is_not_kept(acme):
    visitor = services.visitor_touch(
        merchant=acme,
        anonymous_id="anon-referrer-0000001",
        page_url="https://shop.example/p/2",
        referrer="https://shop.example/p/1",
    )
    assert visitor.referrer == ""


def test_notes(
    api, alice_session, bob_session, acme, customer, sent, django_capture_on_commit_callbacks
):
    path = f"/api/v1/visitors/{customer.pk}/notes/"
    with django_capture_on_commit_callbacks(execute=True):
        created = bob_session.post(path, {"body": "  <b>喜欢电话联系</b>  "}, format="json")
    assert created.status_code == 201, created.content
    note = created.json()
    assert note["body"] == "<b>喜欢电话联系</b>" and note["author_name"] == "Bob"
    assert sent == [
        (
            realtime.agents_group(acme.pk),
            {
                "type": "visitor.profile_changed",
                "visitor_id": customer.pk,
                "what": "notes",
                "merged_into": None,
            },
        )
    ]
    for bad in ({"body": ""}, {"body": "   "}, {"body": "x" * 2001}, {"body": 3}, {}):
        assert api.post(path, bad, format="json").status_code == 400
    # Another agent's note: only its author or a manager deletes it.
    mine = alice_session.post(path, {"body": "alice"}, format="json").json()
    assert bob_session.delete(f"{path}{mine['id']}/").status_code == 403
    assert alice_session.delete(f"{path}{note['id']}/").status_code == 204
    assert bob_session.delete(f"{path}{mine['id']}/").status_code == 403
    assert CustomerNote.objects.filter(pk=mine["id"]).exists()


def test_attributes_are_validated_by_type(api, acme, customer, plan, orders, since):
    path = f"/api/v1/visitors/{customer.pk}/attributes/"
    ok = api.patch(path, {"plan": "pro", "orders": "12", "since": "2024-05-01"}, format="json")
    assert ok.status_code == 200, ok.content
    assert ok.json()["attributes"] == {"plan": "pro", "orders": 12, "since": "2024-05-01"}
    for bad, field in (
        ({"plan": "gold"}, "attributes.plan"),
        ({"orders": "many"}, "attributes.orders"),
        ({"orders": True}, "attributes.orders"),
        ({"since": "yesterday"}, "attributes.since"),
        ({"nope": "x"}, "attributes.nope"),
    ):
        response = api.patch(path, bad, format="json")
        assert response.status_code == 400 and field in response.json(), (bad, response.content)
    assert api.patch(path, ["x"], format="json").status_code == 400
    assert api.patch(path, {"orders": None}, format="json").json()["attributes"] == {
        "plan": "pro",
        "since": "2024-05-01",
    }
    assert Visitor.objects.get(pk=customer.pk).attributes == {"plan": "pro", "since": "2024-05-01"}


def test_attribute_definitions_api(alice_session, bob_session, acme):
    url = "/api/v1/attributes/"
    created = alice_session.post(
        url,
        {"key": "city", "name": "城市", "kind": "choice", "choices": ["北京", "上海"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert bob_session.get(url).json() == [created.json()]
    assert bob_session.post(url, {"key": "x", "name": "x"}, format="json").status_code == 403
    for bad in (
        {"key": "city", "name": "dup"},
        {"key": "bad key", "name": "x"},
        {"key": "c", "name": "x", "kind": "choice", "choices": []},
        {"key": "c", "name": "x", "kind": "colour"},
    ):
        assert alice_session.post(url, bad, format="json").status_code == 400, bad
    assert bob_session.delete(f"{url}{created.json()['id']}/").status_code == 403
    assert alice_session.delete(f"{url}{created.json()['id']}/").status_code == 204


def test_block_by_visitor_and_by_identity(api, acme, bob, customer):
    conversation = factories.visitor_message(customer, "在吗").conversation
    response = api.post(f"/api/v1/visitors/{customer.pk}/block/", {"reason": "广告"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "visitor_ids": [customer.pk],
        "blocked": True,
        "block_reason": "广告",
    }
    blocked = Visitor.objects.get(pk=customer.pk)
    assert blocked.blocked_at is not None
    assert blocked.blocked_by_id == (bob.user_id if api.kind == "bob_session" else None)
    with pytest.raises(KefuError) as refused:
        factories.visitor_message(customer, "再发一条")
    assert refused.value.code == "visitor_blocked"
    assert conversation.messages.count() == 1
    assert api.delete(f"/api/v1/visitors/{customer.pk}/block/").json()["blocked"] is False
    factories.visitor_message(customer, "解封了")

    signed = factories.visitor(acme, external_id="user-7", name="李雷")
    by_id = api.post("/api/v1/visitors/block/", {"external_id": "user-7"}, format="json")
    assert by_id.status_code == 200 and by_id.json()["visitor_ids"] == [signed.pk]
    assert Visitor.objects.get(pk=signed.pk).blocked_at is not None
    unknown = api.post("/api/v1/visitors/block/", {"external_id": "nobody"}, format="json")
    assert unknown.status_code == 404
    assert api.post("/api/v1/visitors/block/", {}, format="json").status_code == 400
    too_long = api.post(
        f"/api/v1/visitors/{customer.pk}/block/", {"reason": "x" * 301}, format="json"
    )
    assert too_long.status_code == 400 and "reason" in too_long.json()


def test_blocked_visitor_cannot_leave_a_message(acme, customer):
    services.visitor_block(merchant_id=acme.pk, visitor_id=customer.pk, actor_user_id=None)
    with pytest.raises(KefuError) as refused:
        services.offline_message_create(
            merchant_id=acme.pk, visitor_id=customer.pk, name="x", body="hi", email="a@b.c"
        )
    assert refused.value.code == "visitor_blocked"


def test_charlie_gets_nothing_of_acme(charlie_session, other, acme, customer, plan):
    note = CustomerNote.objects.create(merchant=acme, visitor=customer, body="内部")
    outsider = token_client(factories.api_token(other))
    base = f"/api/v1/visitors/{customer.pk}"
    for client in (charlie_session, outsider):
        assert client.get(f"{base}/profile/").status_code == 404
        assert client.post(f"{base}/notes/", {"body": "x"}, format="json").status_code == 404
        assert client.delete(f"{base}/notes/{note.pk}/").status_code == 404
        assert (
            client.patch(f"{base}/attributes/", {"plan": "pro"}, format="json").status_code == 404
        )
        assert client.post(f"{base}/block/", {}, format="json").status_code == 404
        assert client.delete(f"{base}/block/").status_code == 404
        customer_ids = {"external_id": "user-acme"}
        Visitor.objects.filter(pk=customer.pk).update(external_id="user-acme")
        assert (
            client.post("/api/v1/visitors/block/", customer_ids, format="json").status_code == 404
        )
        assert client.get("/api/v1/attributes/").json() == []
        assert client.delete(f"/api/v1/attributes/{plan.pk}/").status_code == 404
    fresh = Visitor.objects.get(pk=customer.pk)
    assert fresh.blocked_at is None and fresh.attributes == {} and fresh.notes.count() == 1


def test_device_summary():
    assert selectors.device_summary(UA_PHONE) == {
        "browser": "Chrome",
        "os": "Android",
        "form": "phone",
    }
    wechat = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0"
    )
    assert selectors.device_summary(wechat) == {"browser": "WeChat", "os": "iOS", "form": "phone"}
    assert selectors.device_summary("") == {"browser": "", "os": "", "form": ""}


def test_profile_shows_the_prechat_answers_as_given(api, acme, customer, plan, charlie_session):
    """The pre-chat form's answers (services.prechat keeps the merchant's own questions in
    Visitor.attributes under their label) come with the profile, apart from the custom
    attributes; null for a visitor who never answered; untrusted text, returned as written."""
    path = f"/api/v1/visitors/{customer.pk}/profile/"
    assert api.get(path).json()["prechat"] is None
    acme.prechat_phone = "required"
    acme.prechat_custom = "订单号*\n<img src=x onerror=alert(1)>"
    acme.save()
    errors = services.visitor_prechat_submit(
        merchant=acme,
        visitor_id=customer.pk,
        values={"phone": "+86 138 0000 0001", "c1": "A-1001", "c2": "<b>hi</b>"},
    )
    assert errors == {}
    services.visitor_attributes_set(
        merchant_id=acme.pk, visitor_id=customer.pk, values={"plan": "pro"}
    )
    p = api.get(path).json()
    f = p["prechat"]
    assert f["phone"] == "+86 138 0000 0001" and f["name"] == "韩梅梅"
    assert f["answers"] == [
        {"question": "订单号", "answer": "A-1001"},
        {"question": "<img src=x onerror=alert(1)>", "answer": "<b>hi</b>"},
    ]
    assert f["answered_at"]
    # The defined attribute stays in attributes, not among the answers.
    assert [(a["key"], a["value"]) for a in p["attributes"]] == [("plan", "pro")]
    assert charlie_session.get(path).status_code == 404
