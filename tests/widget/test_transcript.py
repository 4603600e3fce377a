"""The transcript by e-mail (POST /widget/api/transcript): only the visitor's own conversation,
never a private note, to the address given or the one we have, at most three an hour, clear
field errors; another merchant's token or origin gets nothing."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.cache import cache

from conversations.tokens import visitor_token_issue
from tests import factories
from tests.widget.test_offline import ORIGIN, post


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def chat(acme, bob, email=""):
    visitor = factories.visitor(acme)
    if email:
        visitor.email = email
        visitor.save(update_fields=["email"])
    first = factories.visitor_message(visitor, "我的订单什么时候到？<script>x</script>")
    factories.agent_message(bob, first.conversation_id, "内部备注：这个客户是 VIP", private=True)
    factories.agent_message(bob, first.conversation_id, "今天下午发货")
    return visitor


def token(merchant, visitor):
    return visitor_token_issue(merchant_id=merchant.pk, visitor_id=visitor.pk)


def test_the_visitor_gets_their_own_transcript_without_private_notes(client, acme, bob):
    visitor = chat(acme, bob)
    other_visitor = chat(acme, bob)  # another chat of the same shop: never in this mail
    factories.visitor_message(other_visitor, "别人的问题")
    response = post(
        client, "transcript", acme, {"token": token(acme, visitor), "email": "v@example.com"}
    )
    assert response.status_code == 200, response.content
    assert "v@example.com" in response.json()["detail"]
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["v@example.com"]
    assert "我的订单什么时候到？<script>x</script>" in sent.body
    assert "今天下午发货" in sent.body
    assert "VIP" not in sent.body and "别人的问题" not in sent.body
    html = sent.alternatives[0][0]
    assert "VIP" not in html and "<script>x" not in html  # escaped in the HTML part
    assert "&lt;script&gt;x" in html


def test_the_address_we_have_is_used_and_one_is_required(client, acme, bob):
    known = chat(acme, bob, email="known@example.com")
    response = post(client, "transcript", acme, {"token": token(acme, known)})
    assert response.status_code == 200
    assert mail.outbox[-1].to == ["known@example.com"]
    anonymous = chat(acme, bob)
    response = post(client, "transcript", acme, {"token": token(acme, anonymous), "email": ""})
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    response = post(
        client, "transcript", acme, {"token": token(acme, anonymous), "email": "not-an-email"}
    )
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    assert len(mail.outbox) == 1


def test_bad_input_and_a_visitor_without_a_chat(client, acme, bob):
    for body in ["not json", [1], {"email": "a@example.com"}, {"token": "forged"}]:
        response = post(client, "transcript", acme, body)
        assert response.status_code == 400, body
    fresh = factories.visitor(acme)
    response = post(client, "transcript", acme, {"token": token(acme, fresh), "email": "a@b.cn"})
    assert response.status_code == 404
    assert not mail.outbox


def test_three_an_hour(client, acme, bob):
    visitor = chat(acme, bob)
    body = {"token": token(acme, visitor), "email": "v@example.com"}
    codes = [post(client, "transcript", acme, body).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert len(mail.outbox) == 3


def test_tenant_isolation(client, acme, bob, other, charlie):
    visitor = chat(acme, bob)
    # acme's visitor token on the other merchant's key: refused, nothing of acme's mailed.
    other.allowed_origins = ORIGIN
    other.save(update_fields=["allowed_origins"])
    response = post(
        client, "transcript", other, {"token": token(acme, visitor), "email": "x@example.com"}
    )
    assert response.status_code == 403
    # A foreign origin on acme's key: refused before anything is read.
    response = post(
        client,
        "transcript",
        acme,
        {"token": token(acme, visitor), "email": "x@example.com"},
        origin="https://evil.example",
    )
    assert response.status_code == 403
    assert not mail.outbox
