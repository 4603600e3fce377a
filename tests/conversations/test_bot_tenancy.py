"""Tenant isolation of the bot and of agent assist: another merchant's sockets hear nothing of
acme's bot, merchants never answer from each other's knowledge base, and the suggestions
endpoint is acme's only (charlie, the outsider, gets 403/404). Query count pinned."""

import pytest
from django.test import Client

from conversations.models import Conversation, Message
from merchants.models import Merchant
from tests import factories
from tests.conversations.bot_kb import (  # noqa: F401 (fresh_*: autouse)
    RETURNS,
    fresh_engine_cache,
    fresh_realtime,
)
from tests.conversations.realtime_helpers import agent_sock, quiet_all, run, visitor_sock
from tests.conversations.test_bot_dialogue import ask
from tests.wsclient import session_cookie


@pytest.mark.django_db(transaction=True)
def test_other_merchants_and_visitors_hear_nothing_and_never_get_acme_answers(
    shop, bob, other, charlie
):
    # Other's bot answers first too, but it has no knowledge base of its own.
    Merchant.objects.filter(pk=other.pk).update(bot_mode=Merchant.BotMode.BOT_FIRST)
    va, vb, vo = factories.visitor(shop), factories.visitor(shop), factories.visitor(other)
    cookies = {m.user.username: session_cookie(m.user) for m in (bob, charlie)}

    async def scenario():
        charlie_sock = await agent_sock(other.pk, cookies["charlie"], "charlie")
        vo_sock = await visitor_sock(other, vo, "vo")
        vb_sock = await visitor_sock(shop, vb, "vb")
        bob_sock = await agent_sock(shop.pk, cookies["bob"], "bob")
        await quiet_all(charlie_sock, vo_sock, vb_sock, bob_sock)
        va_sock = await visitor_sock(shop, va, "va")
        answer = await ask(va_sock, "怎么退货")
        await ask(va_sock, "转人工")
        await bob_sock.until_match(
            lambda f: f["type"] == "message.created" and f["message"]["private"]
        )
        got = await quiet_all(charlie_sock, vo_sock, vb_sock, bob_sock, va_sock)
        del got["bob"], got["va"]  # acme's own people: they hear acme's conversation
        # Other's visitor asks acme's question: acme's knowledge base is not other's.
        own = await ask(vo_sock, "怎么退货")
        heard = await quiet_all(bob_sock, va_sock, vb_sock)
        for sock in (charlie_sock, vo_sock, vb_sock, bob_sock, va_sock):
            await sock.close()
        return answer, got, own, heard

    answer, got, own, heard = run(scenario())
    assert answer["body"] == RETURNS
    assert got == {"charlie": [], "vo": [], "vb": []}
    assert own["body"] != RETURNS and own["meta"]["handover"] == "no_kb"
    assert heard["va"] == [] and heard["vb"] == []
    assert not [f for f in heard["bob"] if f.get("conversation", {}).get("merchant_id") == other.pk]
    assert not [
        f
        for f in heard["bob"]
        if f["type"] == "message.created"
        and f["message"]["conversation_id"] == Conversation.objects.get(visitor=vo).pk
    ]
    assert not Message.objects.filter(merchant=other, body=RETURNS).exists()


# --- Agent assist -------------------------------------------------------------------------------


def _get(client, conversation_id, merchant_id=None, token=None):
    headers = {}
    if merchant_id is not None:
        headers["HTTP_X_KEFU_MERCHANT"] = str(merchant_id)
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.get(f"/api/v1/conversations/{conversation_id}/suggestions/", **headers)


@pytest.fixture
def asked(shop):
    """A conversation whose last visitor message is about returns (the bot answered it)."""
    visitor = factories.visitor(shop)
    factories.visitor_message(visitor, "怎么退货呢")
    return Conversation.objects.get(visitor=visitor)


@pytest.mark.django_db
def test_suggestions_give_the_best_faq_answers_for_the_last_visitor_message(shop, bob, asked):
    client = Client()
    client.force_login(bob.user)
    response = _get(client, asked.pk, shop.pk)
    assert response.status_code == 200
    items = response.json()
    assert items[0]["faq_id"] == shop.kb.returns.pk
    assert items[0]["question"] == "怎么退货"
    assert items[0]["answer_text"] == RETURNS and items[0]["answer"] == f"<p>{RETURNS}</p>"
    assert 0.6 <= items[0]["confidence"] <= 1
    assert [i["confidence"] for i in items] == sorted(
        (i["confidence"] for i in items), reverse=True
    )
    assert len(items) <= 3
    # A newer visitor message changes the suggestions.
    factories.visitor_message(asked.visitor, "发票怎么开")
    items = _get(client, asked.pk, shop.pk).json()
    assert items[0]["faq_id"] == shop.kb.invoice.pk


@pytest.mark.django_db
def test_suggestions_skip_disabled_entries_and_are_empty_without_a_model(shop, acme, bob, asked):
    from knowledge import services as kb_services
    from knowledge.models import BotModel

    kb_services.faq_set_enabled(merchant_id=shop.pk, faq_ids=[shop.kb.returns.pk], enabled=False)
    client = Client()
    client.force_login(bob.user)
    ids = [i["faq_id"] for i in _get(client, asked.pk, shop.pk).json()]
    assert shop.kb.returns.pk not in ids  # the loaded model still knows it; it is off now
    BotModel.objects.filter(merchant=shop).delete()
    from knowledge import selectors

    selectors.engine_cache_clear()
    assert _get(client, asked.pk, shop.pk).json() == []


@pytest.mark.django_db
def test_suggestions_for_an_outsider(shop, asked, charlie, other):
    client = Client()
    client.force_login(charlie.user)
    # Naming acme: not a member.
    assert _get(client, asked.pk, shop.pk).status_code == 403
    # As other: acme's conversation does not exist there.
    response = _get(client, asked.pk, other.pk)
    assert response.status_code == 404
    assert "退货" not in response.content.decode()
    # Other's API token, the same.
    token = factories.api_token(other)
    assert _get(Client(), asked.pk, token=token).status_code == 404
    # Nobody logged in.
    assert _get(Client(), asked.pk, shop.pk).status_code in (401, 403)
    # Acme's own token works.
    assert _get(Client(), asked.pk, token=factories.api_token(shop)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("auth, queries", [("session", 3 + 3), ("token", 1 + 3)])
def test_suggestions_query_count(shop, bob, asked, django_assert_num_queries, auth, queries):
    """Auth (session + user + membership, or the token) + conversation + last visitor message +
    the FAQ rows; the engine is cached per process (the warm-up request loads it)."""
    client = Client()
    token = None
    if auth == "session":
        client.force_login(bob.user)
    else:
        token = factories.api_token(shop)
    _get(client, asked.pk, shop.pk if auth == "session" else None, token)
    with django_assert_num_queries(queries):
        response = _get(client, asked.pk, shop.pk if auth == "session" else None, token)
    assert response.status_code == 200 and response.json()
