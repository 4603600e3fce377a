"""API token scopes and the per-token rate limit: a read-only token can read everything and
write nothing, on every operation of the OpenAPI schema; past its limit a token gets 429 with
Retry-After while other tokens and login sessions go on. The limit lives in the cache (Redis
with REDIS_URL, so run this module with and without it)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from merchants.models import ApiToken
from tests import factories

WRITES = {"post", "put", "patch", "delete"}


def client_for(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def read_only(acme):
    return client_for(factories.api_token(acme, name="报表", scope=ApiToken.Scope.READ_ONLY))


def schema_operations(client) -> list[tuple[str, str]]:
    schema = client.get("/api/schema/", {"format": "json"}).json()
    return [
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_a_read_only_token_writes_nothing_on_any_operation(acme, alice, read_only):
    conversation = factories.visitor_message(factories.visitor(acme), "在吗").conversation
    before = (conversation.last_seq, conversation.status, conversation.assignee_id)
    operations = schema_operations(read_only)
    writes = [(m, p) for m, p in operations if m in WRITES]
    assert len(writes) >= 10  # the schema was read, not an empty list
    for method, path in writes:
        concrete = re.sub(r"\{[^}]+\}", str(conversation.pk), path)
        response = getattr(read_only, method)(concrete, {}, format="json")
        assert response.status_code == 403, (method, path, response.status_code)
        assert "read-only" in response.json()["detail"]
    conversation.refresh_from_db()
    assert (conversation.last_seq, conversation.status, conversation.assignee_id) == before
    # Reads work.
    assert read_only.get("/api/v1/conversations/").status_code == 200
    assert read_only.get(f"/api/v1/conversations/{conversation.pk}/messages/").status_code == 200


def test_a_read_write_token_writes(acme, alice):
    token = client_for(factories.api_token(acme))
    conversation = factories.visitor_message(factories.visitor(acme)).conversation
    response = token.post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "您好"}, format="json"
    )
    assert response.status_code == 201


@pytest.fixture
def fresh_limits():
    """Nothing to clear: the counters are keyed by each token's digest, new in every test (a
    cache.clear() would flush the Redis database the broker shares)."""
    return None


def test_past_the_limit_a_token_gets_429_with_retry_after(acme, settings, fresh_limits):
    settings.API_RATE_LIMIT = 3
    busy = client_for(factories.api_token(acme, name="busy"))
    calm = client_for(factories.api_token(acme, name="calm"))
    statuses = [busy.get("/api/v1/conversations/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = busy.get("/api/v1/visitors/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert calm.get("/api/v1/conversations/").status_code == 200  # per token


def test_a_tokens_own_limit_wins_and_sessions_are_not_limited(acme, bob, settings, fresh_limits):
    settings.API_RATE_LIMIT = 2
    raw = factories.api_token(acme, name="bulk")
    ApiToken.objects.filter(name="bulk").update(rate_limit=5)
    bulk = client_for(raw)
    assert [bulk.get("/api/v1/teams/").status_code for _ in range(6)] == [200] * 5 + [429]
    session = APIClient()
    session.force_login(bob.user)
    session.credentials(HTTP_X_KEFU_MERCHANT=str(acme.pk))
    assert {session.get("/api/v1/teams/").status_code for _ in range(4)} == {200}


def test_limit_zero_turns_it_off(acme, settings, fresh_limits):
    settings.API_RATE_LIMIT = 0
    token = client_for(factories.api_token(acme))
    assert {token.get("/api/v1/teams/").status_code for _ in range(5)} == {200}


def test_the_admin_shows_and_sets_the_scope(client, acme, alice):
    client.force_login(alice.user)
    response = client.post(
        reverse("admin:merchants_apitoken_add"),
        {"name": "看板", "scope": "read_only", "rate_limit": "120", "is_active": "on"},
    )
    assert response.status_code == 302
    token = ApiToken.objects.get(name="看板")
    assert (token.scope, token.rate_limit, token.merchant_id) == ("read_only", 120, acme.pk)
    page = client.get(reverse("admin:merchants_apitoken_changelist")).content.decode()
    assert "只读" in page  # the scope column, in the site's language
