"""Hostile JSON on the widget's unauthenticated endpoints (issue 16, finding 1): nesting deeper
than the parser allows is a 400 `invalid_json`, never a 500, and creates no visitor."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Visitor

DEEP = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize("path", ["bootstrap", "offline"])
@pytest.mark.parametrize("body", [DEEP, '{"page_url": ' + DEEP + "}", "[" * 100 + "]" * 100])
def test_deep_json_is_a_400(acme, client, path, body):
    response = client.post(
        f"/widget/api/{path}?key={acme.widget_key}",
        data=body,
        content_type="application/json",
        HTTP_ORIGIN="http://127.0.0.1",
    )
    assert response.status_code == 400, response.content[:200]
    assert response.json()["code"] == "invalid_json"
    assert not Visitor.objects.exists() and not Conversation.objects.exists()
