"""GET /api/v1/visitors/, /api/v1/visitors/{id}/ and /api/v1/canned-responses/."""

from __future__ import annotations

import datetime

from django.utils import timezone

from conversations.models import Visitor
from tests import factories

VISITOR_FIELDS = {
    "id",
    "name",
    "email",
    "phone",
    "external_id",
    "attributes",
    "first_seen_at",
    "last_seen_at",
    "referrer",
    "language",
    "blocked_at",
    "block_reason",
    "ip",
    "user_agent",
    "page_url",
    "page_title",
}


def test_visitor_detail(api, acme):
    visitor = factories.visitor(
        acme,
        anonymous_id="secret-anon-id-123",
        name="李四 🌸",
        email="li@example.com",
        phone="+86 138 0000 0000",
        external_id="u-42",
        ip="203.0.113.9",
        user_agent="Mozilla/5.0",
        page_url="https://shop.example.com/cart",
        page_title="购物车",
    )
    Visitor.objects.filter(pk=visitor.pk).update(attributes={"plan": "金卡", "orders": 3})

    response = api.get(f"/api/v1/visitors/{visitor.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == VISITOR_FIELDS
    # The anonymous id is the visitor's credential for the widget: never handed out.
    assert "secret-anon-id-123" not in response.content.decode()
    assert body["name"] == "李四 🌸"
    assert body["phone"] == "+86 138 0000 0000"
    assert body["external_id"] == "u-42"
    assert body["attributes"] == {"plan": "金卡", "orders": 3}
    assert body["ip"] == "203.0.113.9"
    assert body["page_title"] == "购物车"
    visitor.refresh_from_db()
    # UTC, like the socket's datetimes, whatever TIME_ZONE the server runs in.
    assert body["last_seen_at"] == visitor.last_seen_at.astimezone(
        datetime.UTC
    ).isoformat().replace("+00:00", "Z")


def test_visitor_list_most_recently_seen_first(api, acme):
    visitors = [factories.visitor(acme, name=f"V{i}") for i in range(4)]
    now = timezone.now()
    for offset, visitor in zip((3, 1, 4, 2), visitors):
        seen = now - datetime.timedelta(minutes=offset)
        Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=seen)
    expected = [visitors[1].pk, visitors[3].pk, visitors[0].pk, visitors[2].pk]

    body = api.get("/api/v1/visitors/").json()
    assert [v["id"] for v in body["results"]] == expected
    assert set(body["results"][0]) == VISITOR_FIELDS

    page = api.get("/api/v1/visitors/", {"page_size": 3}).json()
    rest = api.get(page["next"]).json()
    assert [v["id"] for v in page["results"] + rest["results"]] == expected
    assert rest["next"] is None


def test_missing_visitor_is_404(api, acme):
    assert api.get("/api/v1/visitors/999999/").status_code == 404


def test_canned_responses_by_shortcut_unpaginated(api, acme):
    factories.canned(acme, "退款", "退款将在 3 个工作日内到账 💰")
    factories.canned(acme, "hello", "您好！")
    factories.canned(acme, "bye", "再见")

    response = api.get("/api/v1/canned-responses/")

    assert response.status_code == 200
    assert [c["shortcut"] for c in response.json()] == ["bye", "hello", "退款"]
    assert response.json()[2] == {
        "id": response.json()[2]["id"],
        "shortcut": "退款",
        "title": "",
        "text": "退款将在 3 个工作日内到账 💰",
        "personal": False,
        "usage_count": 0,
        "search_key": "tuikuan tk",
    }
