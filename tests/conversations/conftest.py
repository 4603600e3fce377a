"""Conversations fixtures. Clients for the REST API: acme's integration token, bob's workspace
session (with the merchant header), and charlie's token and session for the other-merchant
checks; carol and dave, two more agents of Acme for the routing tests; `shop`, Acme with the bot
answering first and a trained knowledge base (tests/conversations/bot_kb.py) for the bot tests.

Fixtures only some modules use as autouse live in helper modules those modules import:
realtime_helpers (fresh layer and presence store), routing_helpers (English reasons) and
bot_kb (a trained knowledge base)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from merchants.models import Merchant
from tests import factories
from tests.conversations.routing_helpers import carol, dave  # noqa: F401 (fixtures)


def token_client(raw_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client


def session_client(membership, merchant_id: int | None = None) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    client.credentials(HTTP_X_KEFU_MERCHANT=str(merchant_id or membership.merchant_id))
    return client


@pytest.fixture
def acme_token(acme) -> str:
    return factories.api_token(acme, name="CRM 集成")


@pytest.fixture
def token(acme_token) -> APIClient:
    return token_client(acme_token)


@pytest.fixture
def bob_session(bob) -> APIClient:
    return session_client(bob)


@pytest.fixture(params=["token", "bob_session"])
def api(request, alice) -> APIClient:
    """Each behaviour test runs once with acme's API token and once as bob in the workspace
    (alice exists in both runs, as the merchant's owner)."""
    client = request.getfixturevalue(request.param)
    client.kind = request.param
    return client


@pytest.fixture
def visitor(acme):
    return factories.visitor(
        acme,
        name="张三",
        email="zhang@example.com",
        page_url="https://shop.example.com/p/1",
        page_title="商品 1",
    )


@pytest.fixture
def conversation(visitor):
    """An open acme conversation with one visitor message (seq 1)."""
    return factories.visitor_message(visitor, "在吗？").conversation


@pytest.fixture
def shop(acme):
    """Acme with the bot answering first, a named bot and a trained knowledge base."""
    # Imported here: bot_kb allows Django's ORM under an event loop, which only the bot tests need.
    from tests.conversations.bot_kb import build_kb

    Merchant.objects.filter(pk=acme.pk).update(bot_mode=Merchant.BotMode.BOT_FIRST, bot_name="小墨")
    acme.refresh_from_db()
    acme.kb = build_kb(acme)
    return acme


def _is_mysql_proper() -> bool:
    """MySQL (not MariaDB) is the database of the run. Asked of the server directly: at
    collection Django's connection is not open to tests yet."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "mysql" not in db["ENGINE"]:
        return False
    import MySQLdb

    conn = MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 3306),
        user=db["USER"],
        passwd=db["PASSWORD"],
    )
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT VERSION()")
        return "mariadb" not in cursor.fetchone()[0].lower()
    finally:
        conn.close()


# Tests that read the index whatever the window (search.index_ids, or small windows).
INDEX_READING_TESTS = (
    "test_window_reading_on_and_the_index_agree",
    "test_an_erased_visitors_words_leave_the_search_index_at_once",
)


def pytest_collection_modifyitems(config, items):
    """MySQL's InnoDB full-text index takes rows in at commit: MATCH in the transaction that
    wrote a message does not see it (MySQL's documented behaviour; the product searches in
    later requests, after the commit). The search tests that reach the index therefore run
    committed there (transactional), instead of inside the usual rolled-back transaction."""
    searching = [
        item
        for item in items
        if item.module.__name__.endswith("conversations.test_search")
        and getattr(getattr(item, "callspec", None), "params", {}).get("window", 500) != 500
        or item.name.startswith(INDEX_READING_TESTS)
    ]
    if searching and _is_mysql_proper():
        for item in searching:
            item.add_marker(pytest.mark.django_db(transaction=True))
